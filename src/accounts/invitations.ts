import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { PrismaClient } from '../db/database.js';
import type { Role } from './people.js';

/**
 * One-time links with which a person registers a passkey. Only the SHA-256 of the token is
 * stored, so a copy of the database cannot be used to redeem an invitation.
 */
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

export async function createInvitation(
  prisma: PrismaClient,
  input: { email?: string | null | undefined; role: Role; ttlSeconds: number; createdById?: string | null | undefined },
): Promise<IssuedInvitation> {
  const token = randomBytes(32).toString('base64url');
  const row = await prisma.invitation.create({
    data: {
      id: randomUUID(),
      tokenHash: hashInvitationToken(token),
      email: input.email ? input.email.trim().toLowerCase() : null,
      role: input.role,
      createdById: input.createdById ?? null,
      expiresAt: new Date(Date.now() + input.ttlSeconds * 1000),
    },
  });
  return { id: row.id, token, email: row.email, role: row.role as Role, expiresAt: row.expiresAt };
}

/** The invitation behind a token, if it can still be redeemed. */
export async function findRedeemableInvitation(prisma: PrismaClient, token: string) {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
  const row = await prisma.invitation.findUnique({ where: { tokenHash: hashInvitationToken(token) } });
  if (!row || row.usedAt || row.expiresAt.getTime() <= Date.now()) return null;
  return row;
}

/**
 * While no administrator exists, start-up issues a fresh setup link (and voids earlier unused
 * ones, so only the link printed last works).
 */
export async function issueSetupInvitation(prisma: PrismaClient): Promise<IssuedInvitation> {
  await prisma.invitation.updateMany({
    where: { role: 'admin', createdById: null, usedAt: null },
    data: { expiresAt: new Date() },
  });
  return createInvitation(prisma, { role: 'admin', ttlSeconds: SETUP_INVITATION_TTL_SECONDS });
}
