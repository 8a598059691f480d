/**
 * One-time links with which a person registers a passkey. Only the SHA-256 of the token is
 * stored, so a copy of the database cannot be used to redeem an invitation. An invitation for an
 * email address creates the person at once (or finds them) and names them: consent and palm
 * enrolment need not wait for the passkey, and the passkey, once registered, is theirs.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { audit } from '../audit/audit.js';
import type { Database } from '../db/database.js';
import { errorKind, invalidRequest } from '../errors.js';
import { PersonExistsError, createPerson, findPersonByEmail, normaliseEmail, type Role } from './people.js';

export const SETUP_INVITATION_TTL_SECONDS = 24 * 60 * 60;

export interface IssuedInvitation {
  id: string;
  token: string;
  email: string | null;
  role: Role;
  expiresAt: Date;
  /** The person the invitation adds a passkey to (null without an email). */
  personId: string | null;
  /** Whether that person was created by this invitation. */
  personCreated: boolean;
  /** How many passkeys that person has already (0 for a new one). */
  passkeys: number;
}

/**
 * An invitation that would add a passkey to an account that already signs in, not asked for as
 * such: whoever holds the link would get into that account (a usage error: exit status 2).
 */
export class InvitationRefusedError extends errorKind(invalidRequest(2)) {}

export function hashInvitationToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function invitationUrl(issuer: string, token: string): string {
  return `${issuer}/invite/${token}`;
}

/**
 * `actor` (an administrator's id, or 'cli') is audited as the invitation's creator, and as the
 * creator of the person it adds. The person is created with role user: an invitation with role
 * admin makes them an administrator only once they redeem it with a passkey (registration.ts).
 * For a person who already has a passkey, or is an administrator, the link lets its holder into
 * their account: it is refused unless `addPasskey` says that is what the administrator means.
 */
export async function createInvitation(
  db: Database,
  input: {
    email?: string | null | undefined;
    role: Role;
    ttlSeconds: number;
    createdById?: string | null | undefined;
    actor?: string;
    /** The administrator means to add a passkey to an account that already has one (or is an administrator). */
    addPasskey?: boolean | undefined;
  },
): Promise<IssuedInvitation> {
  const token = randomBytes(32).toString('base64url');
  const email = input.email ? normaliseEmail(input.email) : null;
  const person = email ? await findOrCreatePerson(db, email, input.actor) : null;
  const passkeys = person && !person.created ? await db.prisma.passkey.count({ where: { personId: person.id } }) : 0;
  if (person && !person.created && (passkeys > 0 || person.role === 'admin') && !input.addPasskey)
    throw new InvitationRefusedError(
      `${email} already has an account (${passkeys} passkey(s)${person.role === 'admin' ? ', administrator' : ''}); ` +
        'the link would let whoever holds it into that account; to add a passkey to it, say so ' +
        '(palmid invite --add-passkey, or "add a passkey to an existing account" in the admin console)',
    );
  const row = await db.prisma.invitation.create({
    data: {
      id: randomUUID(),
      tokenHash: hashInvitationToken(token),
      email,
      personId: person?.id ?? null,
      role: input.role,
      createdById: input.createdById ?? null,
      expiresAt: new Date(Date.now() + input.ttlSeconds * 1000),
    },
  });
  if (input.actor)
    await audit(db, {
      action: 'invitation.created',
      actor: input.actor,
      subject: row.id,
      detail: { role: input.role, ...(person ? { person: person.id } : {}) },
    });
  return {
    id: row.id,
    token,
    email: row.email,
    role: row.role as Role,
    expiresAt: row.expiresAt,
    personId: person?.id ?? null,
    personCreated: person?.created ?? false,
    passkeys,
  };
}

async function findOrCreatePerson(
  db: Database,
  email: string,
  actor: string | undefined,
): Promise<{ id: string; role: string; created: boolean }> {
  const existing = await findPersonByEmail(db, email);
  if (existing) return { id: existing.id, role: existing.role, created: false };
  try {
    const person = await createPerson(db, { email, role: 'user', via: 'invitation', ...(actor ? { actor } : {}) });
    return { id: person.id, role: person.role, created: true };
  } catch (err) {
    // Created meanwhile (two invitations at once): the invitation is for them.
    const raced = err instanceof PersonExistsError ? await findPersonByEmail(db, email) : null;
    if (raced) return { id: raced.id, role: raced.role, created: false };
    throw err;
  }
}

/** The invitation behind a token, if it can still be redeemed. */
export async function findRedeemableInvitation(db: Database, token: string) {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
  const row = await db.prisma.invitation.findUnique({ where: { tokenHash: hashInvitationToken(token) } });
  if (!row || row.usedAt || row.expiresAt.getTime() <= Date.now()) return null;
  return row;
}

/**
 * While no administrator exists, start-up issues a fresh setup link (and voids earlier unused
 * ones, so only the link printed last works).
 */
export async function issueSetupInvitation(db: Database): Promise<IssuedInvitation> {
  await db.prisma.invitation.updateMany({
    where: { role: 'admin', createdById: null, usedAt: null },
    data: { expiresAt: new Date() },
  });
  return createInvitation(db, { role: 'admin', ttlSeconds: SETUP_INVITATION_TTL_SECONDS });
}
