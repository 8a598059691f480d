/**
 * One-time links with which a person registers a passkey. Only the SHA-256 of the token is
 * stored, so a copy of the database cannot be used to redeem an invitation.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { audit } from '../audit/audit.js';
import type { Database } from '../db/database.js';
import { normaliseEmail, type Role } from './people.js';

export const SETUP_INVITATION_TTL_SECONDS = 24 * 60 * 60;

export interface IssuedInvitation {
  id: string;
  token: string;
  email: string | null;
  role: Role;
  expiresAt: Date;
}

export function hashInvitationToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function invitationUrl(issuer: string, token: string): string {
  return `${issuer}/invite/${token}`;
}

/** `actor` (an administrator's id, or 'cli') is audited as the invitation's creator. */
export async function createInvitation(
  db: Database,
  input: {
    email?: string | null | undefined;
    role: Role;
    ttlSeconds: number;
    createdById?: string | null | undefined;
    actor?: string;
  },
): Promise<IssuedInvitation> {
  const token = randomBytes(32).toString('base64url');
  const row = await db.prisma.invitation.create({
    data: {
      id: randomUUID(),
      tokenHash: hashInvitationToken(token),
      email: input.email ? normaliseEmail(input.email) : null,
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
      detail: { role: input.role },
    });
  return { id: row.id, token, email: row.email, role: row.role as Role, expiresAt: row.expiresAt };
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
