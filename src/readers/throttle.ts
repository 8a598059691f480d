import type { Database, PrismaClient } from '../db/database.js';

/**
 * Attempt throttling (NIST SP 800-63B-4 §3.2.3 and biometrics §3.2.3): after 5 consecutive
 * failures (palm or PIN) at least 30 s between attempts, and a hard stop after 50 until an
 * administrator or the person's passkey sign-in resets it. Kept per person and per reader.
 */
export const FREE_ATTEMPTS = 5;
export const BACKOFF_SECONDS = 30;
export const HARD_LIMIT = 50;

export type ThrottleVerdict =
  | { allowed: true; /** failures so far (0: nothing to reset after a success) */ failures: number }
  | { allowed: false; reason: 'backoff'; retryAfterSeconds: number } | { allowed: false; reason: 'locked' };

export const personSubject = (id: string) => `person:${id}`;
export const readerSubject = (id: string) => `reader:${id}`;

/** Asked on every sign-in, so plain SQL (a Prisma model query costs ~1 ms of CPU). */
export async function checkThrottle(db: Pick<Database, 'query'>, subject: string, now = Date.now()): Promise<ThrottleVerdict> {
  const [row] = await db.query<{ failures: number; lastFailureAt: Date | null }>(
    `SELECT failures, last_failure_at AS "lastFailureAt" FROM attempt_throttle WHERE subject = $1`,
    [subject],
    'throttle_check',
  );
  if (!row || row.failures < FREE_ATTEMPTS) return { allowed: true, failures: row?.failures ?? 0 };
  if (row.failures >= HARD_LIMIT) return { allowed: false, reason: 'locked' };
  const wait = (row.lastFailureAt?.getTime() ?? 0) + BACKOFF_SECONDS * 1000 - now;
  return wait > 0 ? { allowed: false, reason: 'backoff', retryAfterSeconds: Math.ceil(wait / 1000) } : { allowed: true, failures: row.failures };
}

export async function recordFailure(prisma: PrismaClient, subject: string, now = new Date()): Promise<void> {
  await prisma.attemptThrottle.upsert({
    where: { subject },
    create: { subject, failures: 1, lastFailureAt: now },
    update: { failures: { increment: 1 }, lastFailureAt: now },
  });
}

/** A success (or an administrator, or the person's passkey sign-in) clears the count. */
export async function resetThrottle(prisma: PrismaClient, subject: string): Promise<void> {
  await prisma.attemptThrottle.deleteMany({ where: { subject } });
}
