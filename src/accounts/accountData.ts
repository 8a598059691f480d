/**
 * What the account page shows a person about themselves, and "download my data": one JSON
 * document of everything palmid holds about them. Palm templates are described, never included:
 * they are protected (a keyed, irreversible code and an encrypted fine template) and useless to
 * the person.
 */
import type { Database } from '../db/database.js';
import { isLocale, type Locale } from '../i18n/locales.js';
import { PROFILE_COLUMNS } from './people.js';

export const EXPORT_FORMAT = 'palmid-account-export';
export const EXPORT_VERSION = 1;

/** Why the export lists palms without their templates (kept in English: it is data, not a page). */
export const PALM_TEMPLATE_EXPLANATION =
  'palmid never stores an image of your palm. For each enrolled palm it keeps a protected template: ' +
  "a code computed with the tenant's secret key that cannot be turned back into your palm, and a " +
  'fine template encrypted under a data key of your own. Neither means anything outside this ' +
  'installation, so they are not included here. Deleting your palms (or your account) erases them ' +
  'and destroys the key that could open them.';

/** The language the person chose for palmid's pages (profile), if any. */
export async function personLocale(db: Database, personId: string): Promise<Locale | undefined> {
  const person = await db.prisma.person.findUnique({ where: { id: personId }, select: { locale: true } });
  return isLocale(person?.locale) ? person.locale : undefined;
}

/**
 * The person's palms and active consent at one tenant. Routes check before an erasure: each one
 * rotates a key bucket (biometrics/dataKeys.ts), work a request for nothing must not cause.
 */
export async function palmStandingAt(db: Database, personId: string, tenantId: string) {
  const [palms, consents] = await Promise.all([
    db.prisma.palmReference.count({ where: { personId, tenantId } }),
    db.prisma.consent.count({ where: { personId, tenantId, withdrawnAt: null } }),
  ]);
  return { palms, consented: consents > 0 };
}

export interface AccountApp {
  clientId: string;
  name: string;
  scopes: string[];
  grantedAt: Date | null;
}

/** The relying parties that hold a grant of the person (oidc-provider's Grant payloads), by client. */
export async function listAccountApps(db: Database, personId: string): Promise<AccountApp[]> {
  const grants = await db.prisma.oidcPayload.findMany({
    where: { type: 'Grant', payload: { path: ['accountId'], equals: personId } },
    select: { payload: true },
  });
  const byClient = new Map<string, { scopes: Set<string>; grantedAt: Date | null }>();
  for (const { payload } of grants) {
    const p = payload as { clientId?: unknown; openid?: { scope?: unknown }; iat?: unknown };
    if (typeof p.clientId !== 'string') continue;
    const entry = byClient.get(p.clientId) ?? { scopes: new Set<string>(), grantedAt: null };
    for (const s of typeof p.openid?.scope === 'string' ? p.openid.scope.split(' ') : []) if (s) entry.scopes.add(s);
    const at = typeof p.iat === 'number' ? new Date(p.iat * 1000) : null;
    if (at && (!entry.grantedAt || at < entry.grantedAt)) entry.grantedAt = at;
    byClient.set(p.clientId, entry);
  }
  if (!byClient.size) return [];
  const clients = await db.prisma.oidcClient.findMany({
    where: { clientId: { in: [...byClient.keys()] } },
    select: { clientId: true, name: true },
  });
  const names = new Map(clients.map((c) => [c.clientId, c.name]));
  return [...byClient]
    .map(([clientId, g]) => ({
      clientId,
      name: names.get(clientId) ?? clientId,
      scopes: [...g.scopes].sort(),
      grantedAt: g.grantedAt,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Everything the account page shows, per section. Nothing biometric, no PIN hash, no card token. */
export async function accountOverview(db: Database, personId: string) {
  const person = await db.prisma.person.findUnique({
    where: { id: personId },
    select: {
      ...PROFILE_COLUMNS,
      locale: true,
      pinHash: true,
      passkeys: {
        select: { id: true, name: true, createdAt: true, lastUsedAt: true, deviceType: true, backedUp: true },
        orderBy: { createdAt: 'asc' },
      },
      palms: {
        select: { tenantId: true, hand: true, createdAt: true, lastUsedAt: true },
        orderBy: [{ tenantId: 'asc' }, { hand: 'asc' }],
      },
      consents: {
        select: {
          tenantId: true,
          noticeVersion: true,
          grantedAt: true,
          withdrawnAt: true,
          method: true,
          station: true,
        },
        orderBy: { grantedAt: 'asc' },
      },
      cards: {
        select: { id: true, brand: true, last4: true, expMonth: true, expYear: true, createdAt: true },
        orderBy: { createdAt: 'asc' },
      },
      loyalty: { select: { tenantId: true, number: true, createdAt: true }, orderBy: { tenantId: 'asc' } },
      memberships: { select: { tenantId: true, role: true } },
    },
  });
  if (!person) return null;
  const tenants = await db.prisma.tenant.findMany({ select: { id: true, name: true }, orderBy: { createdAt: 'asc' } });
  // The notice texts the person accepted (each consent names its version).
  const notices = person.consents.length
    ? await db.prisma.biometricNotice.findMany({
        where: { OR: person.consents.map((c) => ({ tenantId: c.tenantId, version: c.noticeVersion })) },
        select: { tenantId: true, version: true, text: true },
      })
    : [];
  const noticeText = (tenantId: string, version: number) =>
    notices.find((n) => n.tenantId === tenantId && n.version === version)?.text ?? '';
  const consents = person.consents.map((c) => ({
    tenantId: c.tenantId,
    noticeVersion: c.noticeVersion,
    noticeText: noticeText(c.tenantId, c.noticeVersion),
    grantedAt: c.grantedAt,
    withdrawnAt: c.withdrawnAt,
    method: c.method,
    station: c.station,
  }));
  const palms = person.palms.map((p) => ({
    tenantId: p.tenantId,
    hand: p.hand,
    enrolledAt: p.createdAt,
    lastUsedAt: p.lastUsedAt,
  }));
  return {
    profile: {
      id: person.id,
      email: person.email,
      name: person.name,
      phone: person.phone,
      role: person.role,
      locale: person.locale,
      createdAt: person.createdAt,
    },
    pinSet: person.pinHash !== null,
    passkeys: person.passkeys,
    // One entry per tenant: its palms, its active consent and earlier ones.
    tenants: tenants.map((t) => ({
      id: t.id,
      name: t.name,
      palms: palms.filter((p) => p.tenantId === t.id),
      consent: consents.find((c) => c.tenantId === t.id && !c.withdrawnAt) ?? null,
      consents: consents.filter((c) => c.tenantId === t.id),
    })),
    palms,
    consents,
    cards: person.cards,
    loyalty: person.loyalty.map((l) => ({
      tenantId: l.tenantId,
      tenantName: tenants.find((t) => t.id === l.tenantId)?.name ?? l.tenantId,
      number: l.number,
      createdAt: l.createdAt,
    })),
    memberships: person.memberships,
    apps: await listAccountApps(db, personId),
  };
}

export type AccountOverview = NonNullable<Awaited<ReturnType<typeof accountOverview>>>;

/**
 * "Download my data": the overview plus the security events about the person (as actor or
 * subject), as one JSON-ready object. Passkeys without public keys (they identify the
 * authenticator to palmid only), cards without the vault token.
 */
export async function exportAccount(db: Database, personId: string, now = new Date()) {
  const overview = await accountOverview(db, personId);
  if (!overview) return null;
  const events = await db.prisma.auditEvent.findMany({
    where: { OR: [{ actor: personId }, { subject: personId }] },
    orderBy: { at: 'asc' },
    select: { at: true, action: true, actor: true, subject: true, detail: true },
  });
  const tenantName = (id: string) => overview.tenants.find((t) => t.id === id)?.name ?? id;
  // What the person did to someone else (a staff member at a station, an administrator) is about
  // that other person: the export says when and what, not whom or their details (a card's last
  // four digits...).
  const aboutOthers = new Set(
    (
      await db.prisma.person.findMany({
        where: {
          id: { in: [...new Set(events.flatMap((e) => (e.subject && e.subject !== personId ? [e.subject] : [])))] },
        },
        select: { id: true },
      })
    ).map((p) => p.id),
  );
  const namesAnother = (detail: unknown) => {
    const named = (detail as { person?: unknown } | null)?.person;
    return typeof named === 'string' && named !== personId;
  };
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: now.toISOString(),
    profile: { ...overview.profile, pinSet: overview.pinSet },
    passkeys: overview.passkeys.map((p) => ({
      id: p.id,
      name: p.name,
      createdAt: p.createdAt,
      lastUsedAt: p.lastUsedAt,
      deviceType: p.deviceType,
      backedUp: p.backedUp,
    })),
    palms: overview.palms.map((p) => ({ ...p, tenantName: tenantName(p.tenantId) })),
    palmTemplates: PALM_TEMPLATE_EXPLANATION,
    consents: overview.consents.map((c) => ({ ...c, tenantName: tenantName(c.tenantId) })),
    cards: overview.cards.map((c) => ({
      brand: c.brand,
      last4: c.last4,
      expMonth: c.expMonth,
      expYear: c.expYear,
      linkedAt: c.createdAt,
    })),
    loyaltyNumbers: overview.loyalty,
    tenantRoles: overview.memberships,
    apps: overview.apps,
    auditEvents: events.map((e) =>
      (e.subject && aboutOthers.has(e.subject)) || namesAnother(e.detail) ? { ...e, subject: null, detail: null } : e,
    ),
  };
}
