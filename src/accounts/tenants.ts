/**
 * Tenants (operators) and the consent people give them. Identification at a tenant's readers
 * only ever searches people with an active consent to that tenant's current notice.
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import { errorKind, invalidRequest } from '../errors.js';

export class TenantError extends errorKind(invalidRequest(1)) {}

export const MAX_RETENTION_DAYS = 1095; // 3 years: BIPA / CUBI upper bound without use

export function defaultNotice(name: string, retentionDays: number): string {
  return (
    `${name} uses palmid to recognise your palm at its readers. Purpose: to sign you in at ${name}'s ` +
    `doors, gates and checkouts. What is kept: a protected mathematical template of your palm, never an ` +
    `image, readable only with ${name}'s key. Retention: deleted after ${retentionDays} days without use, ` +
    `or at once when you withdraw consent or ask for deletion. Who receives what: ${name}'s services receive ` +
    `a signed token saying who you are, never biometric data. Your data is never sold.`
  );
}

export async function addTenant(
  db: Database,
  input: { id: string; name: string; retentionDays?: number; targetFmr?: number; notice?: string },
) {
  if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(input.id))
    throw new TenantError('a tenant id is 2–63 lowercase letters, digits or dashes');
  const retentionDays = input.retentionDays ?? MAX_RETENTION_DAYS;
  if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > MAX_RETENTION_DAYS) {
    throw new TenantError(`retention must be between 1 and ${MAX_RETENTION_DAYS} days`);
  }
  const targetFmr = input.targetFmr ?? 1e-5;
  if (!(targetFmr > 0 && targetFmr <= 1e-2)) throw new TenantError('the target false match rate must be in (0, 0.01]');
  if (await findTenant(db, input.id)) throw new TenantError(`tenant ${input.id} already exists`);
  const tenant = await db.prisma.tenant.create({
    data: {
      id: input.id,
      name: input.name,
      retentionDays,
      targetFmr,
      notices: { create: { version: 1, text: input.notice ?? defaultNotice(input.name, retentionDays) } },
    },
  });
  await audit(db, { action: 'tenant.added', subject: tenant.id, detail: { retentionDays, targetFmr } });
  return tenant;
}

export async function findTenant(db: Database, id: string) {
  return db.prisma.tenant.findUnique({ where: { id } });
}

/** Every tenant, oldest first, with how many palm references it holds. */
export async function listTenants(db: Database) {
  const tenants = await db.prisma.tenant.findMany({
    orderBy: { createdAt: 'asc' },
    include: { _count: { select: { references: true } } },
  });
  return tenants.map(({ _count, ...tenant }) => ({ ...tenant, references: _count.references }));
}

/** What selects a tenant's template protection (the tenant row's columns of the same names). */
export interface TenantKeying {
  id: string;
  keyVersion: number;
  transformSplit: number | null;
  /**
   * 'projection' (keyed bit code) or 'transform' (references stored before it, until re-keyed):
   * src/biometrics/protection.ts.
   */
  templateProtection: string;
}

export type IdentifyingTenant = TenantKeying & { targetFmr: number };

/**
 * What identification needs of a tenant. Plain SQL on the hot path: a Prisma model query costs
 * several times the CPU of the statement itself.
 */
export async function identifyingTenant(db: Database, tenantId: string): Promise<IdentifyingTenant | undefined> {
  const [tenant] = await db.query<IdentifyingTenant>(
    `SELECT id, key_version AS "keyVersion", transform_split AS "transformSplit",
            template_protection AS "templateProtection", target_fmr AS "targetFmr"
       FROM tenant WHERE id = $1`,
    [tenantId],
    'tenant_for_identification',
  );
  return tenant;
}

/**
 * The tenant moves to its new key version and scheme inside the re-keying transaction
 * (src/biometrics/lifecycle.ts), together with its references; `from` guards against a
 * concurrent re-key.
 */
export async function setTenantKeying(
  tx: Prisma.TransactionClient,
  tenantId: string,
  from: { keyVersion: number },
  to: { keyVersion: number; templateProtection: string },
): Promise<void> {
  await tx.tenant.update({
    where: { id: tenantId, keyVersion: from.keyVersion },
    data: { keyVersion: to.keyVersion, templateProtection: to.templateProtection },
  });
}

export async function currentNotice(db: Database, tenantId: string) {
  const notice = await db.prisma.biometricNotice.findFirst({ where: { tenantId }, orderBy: { version: 'desc' } });
  if (!notice) throw new TenantError(`unknown tenant ${tenantId}`);
  return notice;
}

/** How a consent was given: recorded by an operator (default), at a tenant's enrolment station, or by the person themselves. */
export type ConsentMethod = 'operator' | 'station' | 'self';

export interface ConsentProvenance {
  method: ConsentMethod;
  /** The staff member who recorded it at a station. */
  recordedById?: string | undefined;
  /** The station's name, as its staff typed it. */
  station?: string | undefined;
}

/** Records explicit consent to the tenant's notice version the person was shown. */
export async function recordConsent(
  db: Database,
  personId: string,
  tenantId: string,
  noticeVersion: number,
  provenance: ConsentProvenance = { method: 'operator' },
) {
  const notice = await currentNotice(db, tenantId);
  if (notice.version !== noticeVersion)
    throw new TenantError(`the notice changed (now version ${notice.version}); show it again`);
  const station = provenance.station?.trim().slice(0, 100) || null;
  const consent = await db.prisma.$transaction(async (tx) => {
    await tx.consent.updateMany({
      where: { personId, tenantId, withdrawnAt: null },
      data: { withdrawnAt: new Date() },
    });
    return tx.consent.create({
      data: {
        id: randomUUID(),
        personId,
        tenantId,
        noticeVersion,
        method: provenance.method,
        recordedById: provenance.recordedById ?? null,
        station,
      },
    });
  });
  await audit(db, {
    action: 'consent.granted',
    actor: personId,
    subject: tenantId,
    detail: {
      noticeVersion,
      method: provenance.method,
      ...(provenance.recordedById ? { recordedBy: provenance.recordedById } : {}),
      ...(station ? { station } : {}),
    },
  });
  return consent;
}

/** The person's active consent to the tenant, if any (the notice version says whether it is the current one). */
export async function findActiveConsent(db: Database, personId: string, tenantId: string) {
  return db.prisma.consent.findFirst({
    where: { personId, tenantId, withdrawnAt: null },
    orderBy: { grantedAt: 'desc' },
  });
}

export async function hasActiveConsent(db: Database, personId: string, tenantId: string): Promise<boolean> {
  return (await db.prisma.consent.count({ where: { personId, tenantId, withdrawnAt: null } })) > 0;
}

/**
 * Withdrawing consent ends palm use at that tenant: its references are deleted too, in the same
 * transaction as the withdrawal. That one statement on palm_reference (src/biometrics/references.ts)
 * stays here because accounts sits below biometrics; callers erase the references first with their
 * key destroyed (src/biometrics/lifecycle.ts, erasePalmDataAt), so it only catches a late enrolment.
 */
export async function withdrawConsent(db: Database, personId: string, tenantId: string) {
  await db.prisma.$transaction([
    db.prisma.consent.updateMany({
      where: { personId, tenantId, withdrawnAt: null },
      data: { withdrawnAt: new Date() },
    }),
    db.prisma.palmReference.deleteMany({ where: { personId, tenantId } }),
  ]);
  await audit(db, { action: 'consent.withdrawn', actor: personId, subject: tenantId });
}
