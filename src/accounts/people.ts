/**
 * People: who signs in. A person is an email address (unique), an optional display name and
 * phone number, and a role; passkeys and palms are optional, so a person can be added by an
 * administrator (`palmid person add`, `person import`, an invitation for an email) before, or
 * without ever, registering a passkey.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { CardVault } from '../../adapters/card-vault.js';
import { deletePayloadsOfAccount } from '../../adapters/oidc-adapter.js';
import { audit, auditEvents } from '../audit/audit.js';
import type { Database } from '../db/database.js';
import { errorKind, invalidRequest } from '../errors.js';
import { personSubject, resetHintedPalmCounts, resetThrottle } from '../throttling/attemptLimits.js';

export type Role = 'admin' | 'user';

export interface PersonRecord {
  id: string;
  email: string;
  name: string | null;
  phone: string | null;
  role: string;
  webauthnId: string;
  createdAt: Date;
}

export class PersonExistsError extends errorKind(invalidRequest(1)) {}
/** An email address, name or phone number that cannot be stored (a usage error: exit status 2). */
export class PersonInputError extends errorKind(invalidRequest(2)) {}
/** A removal that could not finish as asked (the person changed meanwhile). */
export class PersonRemovalError extends errorKind(invalidRequest(1)) {}

/**
 * The form an email address is stored and compared in: trimmed and lower-cased as a whole. The
 * local part is case-sensitive in theory (RFC 5321) but not at any provider people use, and one
 * person typing Ana@ and ana@ must stay one person.
 */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * What an address must look like: the HTML form rule (WHATWG `input type=email`, what the
 * invitation page's browser checks too: ASCII, a dot-less domain allowed) within RFC 5321's
 * 254 characters and 64 for the local part. Ownership is not checked.
 */
const emailSchema = z
  .string()
  .trim()
  .min(1, 'the email address is missing')
  .max(254, 'an email address has at most 254 characters')
  .pipe(z.email({ pattern: z.regexes.html5Email, error: 'not a valid email address' }))
  .refine((e) => e.indexOf('@') <= 64, 'the part before @ has at most 64 characters')
  .transform(normaliseEmail);

/** A display name: trimmed, up to 100 characters (as the invitation page takes it), no control characters. */
const nameSchema = z
  .string()
  .trim()
  .max(100, 'a name has at most 100 characters')
  .refine((n) => !/\p{Cc}/u.test(n), 'a name cannot contain control characters')
  .transform((n) => n || null);

/**
 * A phone number in E.164 (+, country code, at most 15 digits). Spaces, dots, dashes and
 * brackets people write between the digits are dropped first; a national number without its
 * country code is refused, since palmid cannot know which country it belongs to.
 */
const phoneSchema = z
  .string()
  .transform((p) => p.replace(/[\s.()-]/g, ''))
  .pipe(
    z.union([
      z.literal('').transform(() => null),
      z.e164({ error: 'a phone number is + and the country code, then the number, e.g. +41 44 668 18 00' }),
    ]),
  );

const personInputSchema = z.object({
  email: emailSchema,
  name: nameSchema.nullish().transform((n) => n ?? null),
  phone: phoneSchema.nullish().transform((p) => p ?? null),
});

export interface PersonInput {
  email: string;
  name: string | null;
  phone: string | null;
}

/** Checks and normalises what identifies a person; the first problem as a PersonInputError. */
export function parsePersonInput(input: { email: unknown; name?: unknown; phone?: unknown }): PersonInput {
  const parsed = personInputSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = String(issue.path[0] ?? 'input');
  throw new PersonInputError(`${field}: ${issue.message}`);
}

/** A display name as typed (at registration too): trimmed, null when empty; a PersonInputError otherwise. */
export function parsePersonName(name: unknown): string | null {
  if (name === undefined || name === null) return null;
  const parsed = nameSchema.safeParse(name);
  if (parsed.success) return parsed.data;
  throw new PersonInputError(`name: ${parsed.error.issues[0]!.message}`);
}

/** A plausible address (see emailSchema). Ownership is not checked. */
export function isValidEmail(email: string): boolean {
  return emailSchema.safeParse(email).success;
}

/** Who a person is, as lists and the account page show them: never the PIN hash. */
export const PROFILE_COLUMNS = {
  id: true,
  email: true,
  name: true,
  phone: true,
  role: true,
  createdAt: true,
} as const;

/** Never the PIN hash. */
const PERSON_COLUMNS = { ...PROFILE_COLUMNS, webauthnId: true } as const;

/**
 * Adds a person, without passkey. `actor` (an administrator's id, or 'cli') is audited, with how
 * the person came (`via`); the audit trail holds the person's id, never their address.
 */
export async function createPerson(
  db: Database,
  input: {
    email: string;
    name?: string | null | undefined;
    phone?: string | null | undefined;
    role: Role;
    actor?: string;
    via?: 'cli' | 'import' | 'invitation' | 'station';
  },
): Promise<PersonRecord> {
  const { email, name, phone } = parsePersonInput(input);
  if (await db.prisma.person.findUnique({ where: { email } }))
    throw new PersonExistsError(`${email} already has an account`);
  let person: PersonRecord;
  try {
    person = await db.prisma.person.create({
      data: {
        id: randomUUID(),
        email,
        name,
        phone,
        role: input.role,
        // WebAuthn user handle: random, so the authenticator learns nothing about the person.
        webauthnId: randomBytes(32).toString('base64url'),
      },
      select: PERSON_COLUMNS,
    });
  } catch (err) {
    // Created by someone else between the check and here: the unique index decides.
    if ((err as { code?: unknown }).code === 'P2002') throw new PersonExistsError(`${email} already has an account`);
    throw err;
  }
  if (input.actor)
    await audit(db, {
      action: 'person.added',
      actor: input.actor,
      subject: person.id,
      detail: { via: input.via ?? 'cli', role: input.role },
    });
  return person;
}

/**
 * Adds several people at once, in one transaction with their audit events (an import batch):
 * all of them, or none when an address is taken (PersonExistsError; the caller then goes one by one).
 */
export async function createPeople(
  db: Database,
  inputs: Array<{ email: string; name?: string | null; phone?: string | null }>,
  options: { actor: string; via: 'import' },
): Promise<PersonRecord[]> {
  if (!inputs.length) return [];
  const data = inputs.map((input) => ({
    id: randomUUID(),
    ...parsePersonInput(input),
    role: 'user',
    webauthnId: randomBytes(32).toString('base64url'),
  }));
  try {
    const [people] = await db.prisma.$transaction([
      db.prisma.person.createManyAndReturn({ data, select: PERSON_COLUMNS }),
      ...auditEvents(
        db,
        data.map((p) => ({
          action: 'person.added',
          actor: options.actor,
          subject: p.id,
          detail: { via: options.via, role: p.role },
        })),
      ),
    ]);
    return people;
  } catch (err) {
    if ((err as { code?: unknown }).code === 'P2002')
      throw new PersonExistsError('one of these addresses already has an account');
    throw err;
  }
}

/** The ids of those of these (normalised) addresses that have a person. */
export async function findPeopleByEmail(db: Database, emails: string[]): Promise<Map<string, string>> {
  const people = await db.prisma.person.findMany({
    where: { email: { in: emails.map(normaliseEmail) } },
    select: { id: true, email: true },
  });
  return new Map(people.map((p) => [p.email, p.id]));
}

export async function findPersonById(db: Database, id: string): Promise<PersonRecord | null> {
  return db.prisma.person.findUnique({ where: { id }, select: PERSON_COLUMNS });
}

/** The person with this email address (compared as normalised), if any. */
export async function findPersonByEmail(db: Database, email: string): Promise<PersonRecord | null> {
  return db.prisma.person.findUnique({ where: { email: normaliseEmail(email) }, select: PERSON_COLUMNS });
}

/** The person an administrator names: by email address (it has an @) or by id. */
export async function findPerson(db: Database, ref: string): Promise<PersonRecord | null> {
  return ref.includes('@') ? findPersonByEmail(db, ref) : findPersonById(db, ref.trim());
}

/** What the provider's `findAccount` needs: every token and userinfo request asks, so plain SQL. */
export async function findAccount(
  db: Database,
  id: string,
): Promise<{ id: string; email: string; name: string | null } | undefined> {
  const [person] = await db.query<{ id: string; email: string; name: string | null }>(
    `SELECT id, email, name FROM person WHERE id = $1`,
    [id],
    'person_for_account',
  );
  return person;
}

export interface PersonSummary {
  id: string;
  email: string;
  name: string | null;
  phone: string | null;
  role: string;
  createdAt: Date;
  passkeys: number;
  /** Enrolled palms (at `tenant` when the list is filtered by one). */
  palms: number;
}

/**
 * Everyone, oldest first, with how many passkeys and palms each has (the admin console, `palmid
 * person list`). With `tenant`: the people with an active consent to that tenant, their palms there.
 */
export async function listPeople(db: Database, filter: { tenant?: string } = {}): Promise<PersonSummary[]> {
  const people = await db.prisma.person.findMany({
    where: filter.tenant ? { consents: { some: { tenantId: filter.tenant, withdrawnAt: null } } } : {},
    orderBy: [{ createdAt: 'asc' }, { email: 'asc' }],
    select: {
      ...PROFILE_COLUMNS,
      _count: {
        select: { passkeys: true, palms: filter.tenant ? { where: { tenantId: filter.tenant } } : true },
      },
    },
  });
  return people.map(({ _count, ...person }) => ({ ...person, passkeys: _count.passkeys, palms: _count.palms }));
}

/**
 * Everything an administrator may see of a person: profile, passkeys, palms per tenant, consents,
 * cards and loyalty numbers by count or tenant. Nothing biometric (no template, code or quality),
 * no PIN hash, no card token.
 */
export async function describePerson(db: Database, personId: string) {
  const person = await db.prisma.person.findUnique({
    where: { id: personId },
    select: {
      ...PERSON_COLUMNS,
      pinHash: true,
      passkeys: { select: { createdAt: true, lastUsedAt: true }, orderBy: { createdAt: 'asc' } },
      palms: {
        select: { tenantId: true, hand: true, createdAt: true, lastUsedAt: true },
        orderBy: [{ tenantId: 'asc' }, { hand: 'asc' }],
      },
      consents: {
        select: { tenantId: true, noticeVersion: true, grantedAt: true, withdrawnAt: true },
        orderBy: { grantedAt: 'asc' },
      },
      loyalty: { select: { tenantId: true }, orderBy: { tenantId: 'asc' } },
      invitedAs: { where: { usedAt: null, expiresAt: { gt: new Date() } }, select: { expiresAt: true } },
      _count: { select: { cards: true } },
    },
  });
  if (!person) return null;
  return {
    id: person.id,
    email: person.email,
    name: person.name,
    phone: person.phone,
    role: person.role,
    createdAt: person.createdAt,
    pin: person.pinHash !== null,
    passkeys: person.passkeys.map((p) => ({ createdAt: p.createdAt, lastUsedAt: p.lastUsedAt })),
    palms: person.palms.map((p) => ({
      tenant: p.tenantId,
      hand: p.hand,
      enrolledAt: p.createdAt,
      lastUsedAt: p.lastUsedAt,
    })),
    consents: person.consents.map((c) => ({
      tenant: c.tenantId,
      noticeVersion: c.noticeVersion,
      grantedAt: c.grantedAt,
      withdrawnAt: c.withdrawnAt,
    })),
    cards: person._count.cards,
    loyaltyTenants: person.loyalty.map((l) => l.tenantId),
    pendingInvitations: person.invitedAs.length,
  };
}

/**
 * Ends every session, grant and token of the person (they name the person only inside their
 * payload). A removal does this before erasing the palm data, so that no enrolment can start from
 * a session of theirs meanwhile.
 */
export async function revokeAccess(db: Database, personId: string): Promise<void> {
  await deletePayloadsOfAccount(db, personId);
}

/**
 * Removes a person and everything that refers to them: passkeys, consents, cards (and their
 * vault entries), loyalty numbers, invitations to their address, attempt counts, and every
 * session, grant and token issued to them. Callers revoke their access (revokeAccess) and erase
 * the palm data first, with its key destroyed (src/biometrics/lifecycle.ts, erasePalmData):
 * accounts sits below biometrics. The person's row is locked before the check for a data key: an
 * enrolment writing one (its foreign key needs that row) then waits, and fails once the person is
 * gone; one that committed before is seen, and stops the removal, so nothing of it goes without
 * its key destroyed. Running the removal again erases it.
 */
export async function deletePerson(
  db: Database,
  personId: string,
  options: { vault: CardVault; actor: string },
): Promise<{ passkeys: number; consents: number; cards: number; invitations: number }> {
  const person = await db.prisma.person.findUnique({
    where: { id: personId },
    select: {
      email: true,
      cards: { select: { vault: true, vaultToken: true } },
      _count: { select: { passkeys: true, consents: true } },
    },
  });
  if (!person) throw new PersonRemovalError(`no person with id ${personId}`);
  await revokeAccess(db, personId);
  // The vault is outside this transaction: a removal that fails after this point leaves card rows
  // whose numbers are already gone, and running it again finishes the job.
  for (const card of person.cards) if (card.vault === options.vault.name) await options.vault.remove(card.vaultToken);
  const invitations = await db.prisma.$transaction(async (tx) => {
    const locked = await tx.$queryRawUnsafe<unknown[]>(`SELECT 1 FROM person WHERE id = $1 FOR UPDATE`, personId);
    if (!locked.length) throw new PersonRemovalError(`no person with id ${personId}`);
    if (await tx.personDataKey.findUnique({ where: { personId }, select: { personId: true } }))
      throw new PersonRemovalError('palm data was enrolled while the person was being removed; run the removal again');
    // Invitations to the address too (they hold it): an unused one made before invitations named
    // their person would otherwise bring the person back.
    const { count } = await tx.invitation.deleteMany({ where: { OR: [{ personId }, { email: person.email }] } });
    await tx.person.delete({ where: { id: personId } });
    return count;
  });
  // Anything issued between the revocation above and the removal: refused without the person, and gone.
  await revokeAccess(db, personId);
  // Failure counts name the person (by id, or by a hash of the address): a new person with the
  // same address starts with none.
  await resetThrottle(db, personSubject(personId));
  await resetHintedPalmCounts(db, person.email);
  const removed = {
    passkeys: person._count.passkeys,
    consents: person._count.consents,
    cards: person.cards.length,
    invitations,
  };
  await audit(db, { action: 'person.removed', actor: options.actor, subject: personId, detail: removed });
  return removed;
}

export async function countAdministrators(db: Database): Promise<number> {
  return db.prisma.person.count({ where: { role: 'admin' } });
}

/** The argon2id hash of the person's step-up PIN (src/readers/pin.ts), or null when none is set. */
/** How many passkeys the person has (0: palm-only, or not yet registered). */
export async function countPasskeys(db: Database, personId: string): Promise<number> {
  return db.prisma.passkey.count({ where: { personId } });
}

export async function findPinHash(db: Database, personId: string): Promise<string | null> {
  const person = await db.prisma.person.findUnique({ where: { id: personId }, select: { pinHash: true } });
  return person?.pinHash ?? null;
}

export async function setPinHash(db: Database, personId: string, pinHash: string): Promise<void> {
  await db.prisma.person.update({ where: { id: personId }, data: { pinHash } });
}
