/**
 * Pending WebAuthn ceremonies. A challenge is stored server-side and can be taken exactly once:
 * `take` deletes it, so a replayed response finds nothing to verify against.
 */
import { randomBytes } from 'node:crypto';
import type { Database } from '../db/database.js';
import { Prisma } from '../generated/prisma/client.js';

export const CHALLENGE_TTL_MS = 5 * 60 * 1000;

export async function storeChallenge(
  db: Database,
  input: { id?: string; purpose: string; challenge: string; invitationId?: string; data?: Record<string, unknown> },
): Promise<string> {
  const id = input.id ?? randomBytes(16).toString('base64url');
  const row = {
    purpose: input.purpose,
    challenge: input.challenge,
    invitationId: input.invitationId ?? null,
    data: (input.data ?? Prisma.DbNull) as Prisma.InputJsonValue,
    expiresAt: new Date(Date.now() + CHALLENGE_TTL_MS),
  };
  await db.prisma.webauthnChallenge.upsert({ where: { id }, create: { id, ...row }, update: row });
  return id;
}

export async function takeChallenge(db: Database, id: string, purpose: string) {
  const row = await db.prisma.webauthnChallenge.findUnique({ where: { id } });
  if (!row) return null;
  const { count } = await db.prisma.webauthnChallenge.deleteMany({ where: { id, challenge: row.challenge } });
  if (count !== 1 || row.purpose !== purpose || row.expiresAt.getTime() <= Date.now()) return null;
  return row;
}

export async function purgeExpiredChallenges(db: Database): Promise<number> {
  const { count } = await db.prisma.webauthnChallenge.deleteMany({ where: { expiresAt: { lt: new Date() } } });
  return count;
}
