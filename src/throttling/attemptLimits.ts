/**
 * Limits on failed sign-in attempts, kept in the database so that every instance shares them.
 * NIST SP 800-63B-4 §3.2.3 counts consecutive failures per authenticator (5 free, then at least
 * 30 s apart, hard stop at 50); a count that anyone can feed, though, is a lock that anyone can
 * set on someone else. So there are two kinds:
 * - a source (an address, a relying party, a reader) has a token bucket of failed attempts: it is
 *   slowed when it fails faster than the bucket refills, and never locked;
 * - a target has NIST's consecutive count: a person's PIN (only reachable through an
 *   authenticated reader, after that person's palm matched), or a person named by `login_hint`
 *   counted per address (so a stranger's failures only slow the stranger).
 * Each attempt is reserved by one statement before it is evaluated, so concurrent attempts
 * cannot all pass one check; a success gives the reservation back or clears the count.
 */
import { createHash } from 'node:crypto';
import type { Database } from '../db/database.js';
import { addressPrefix } from './sourceAddress.js';

export interface RatePolicy {
  /** Failed attempts a source may make in a row. */
  burst: number;
  /** Then one more each time this passes. */
  refillMs: number;
}

export interface ConsecutivePolicy {
  free: number;
  backoffMs: number;
  hardLimit: number;
  /** A count untouched this long is forgotten; without it, only a reset clears it. */
  forgetAfterMs?: number;
}

/** NIST SP 800-63B-4: 5 consecutive failures, then >= 30 s between attempts, hard stop at 50. */
export const NIST_CONSECUTIVE: ConsecutivePolicy = { free: 5, backoffMs: 30_000, hardLimit: 50 };

export const LIMITS = {
  /** A person's PIN at readers: NIST as it is (the reader is authenticated, the palm matched). */
  pin: NIST_CONSECUTIVE,
  /** A person named by login_hint, from one address: NIST, forgotten a day after the last failure. */
  hintedPalm: { ...NIST_CONSECUTIVE, forgetAfterMs: 86_400_000 },
  /** One address at the anonymous browser login: 20 failures, then one every 30 s (120 an hour). */
  browserAddress: { burst: 20, refillMs: 30_000 },
  /** One relying party's browser logins, all addresses together: 100, then one every 10 s. */
  browserClient: { burst: 100, refillMs: 10_000 },
  /** One reader: 50 failures (a queue of strangers at a busy gate), then one every 6 s. */
  reader: { burst: 50, refillMs: 6_000 },
} satisfies Record<string, RatePolicy | ConsecutivePolicy>;

/** A capture the engine cannot use costs a source this share of an attempt: reading it is work. */
export const UNUSABLE_CAPTURE_COST = 0.25;

export const personSubject = (personId: string) => `person:${personId}`;
export const readerSubject = (readerId: string) => `reader:${readerId}`;
export const clientSubject = (clientId: string) => `client:${clientId}`;
export const addressSubject = (address: string) => `address:${addressPrefix(address)}`;
/** A person named by login_hint, from one address; the email is hashed so the table names nobody. */
const hintedPalmPrefix = (email: string) =>
  `palm-hint:${createHash('sha256').update(email).digest('base64url').slice(0, 22)}:`;
export const hintedPalmSubject = (email: string, address: string) =>
  `${hintedPalmPrefix(email)}${addressPrefix(address)}`;

export type LimitVerdict = { allowed: true } | { allowed: false; locked: boolean; retryAfterSeconds?: number };

const iso = (ms: number) => new Date(ms).toISOString();
const waitSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** Takes `cost` attempts from a source's bucket, if it holds them. */
export async function takeFromSource(
  db: Database,
  subject: string,
  policy: RatePolicy,
  cost = 1,
  now = Date.now(),
): Promise<LimitVerdict> {
  const costMs = cost * policy.refillMs;
  const capacityMs = policy.burst * policy.refillMs;
  const taken = await db.query(
    `INSERT INTO attempt_rate AS r (key, refilled_at)
     VALUES ($1, $2::timestamptz + $3::float8 * interval '1 millisecond')
     ON CONFLICT (key) DO UPDATE
        SET refilled_at = GREATEST(r.refilled_at, $2::timestamptz) + $3::float8 * interval '1 millisecond'
      WHERE GREATEST(r.refilled_at, $2::timestamptz) + $3::float8 * interval '1 millisecond'
            <= $2::timestamptz + $4::float8 * interval '1 millisecond'
     RETURNING key`,
    [subject, iso(now), costMs, capacityMs],
    'attempt_rate_take',
  );
  if (taken.length) return { allowed: true };
  const [row] = await db.query<{ refilledAt: Date }>(
    `SELECT refilled_at AS "refilledAt" FROM attempt_rate WHERE key = $1`,
    [subject],
  );
  const refilledAt = row ? new Date(row.refilledAt).getTime() : now;
  return {
    allowed: false,
    locked: false,
    retryAfterSeconds: waitSeconds(Math.max(refilledAt, now) + costMs - (now + capacityMs)),
  };
}

/** Gives back what an attempt did not use (all of it after a success). */
export async function giveBackToSource(db: Database, subject: string, policy: RatePolicy, cost = 1): Promise<void> {
  await db.query(
    `UPDATE attempt_rate SET refilled_at = refilled_at - $2::float8 * interval '1 millisecond' WHERE key = $1`,
    [subject, cost * policy.refillMs],
    'attempt_rate_give_back',
  );
}

/** Counts an attempt at a target before it is evaluated, if the target's count allows one now. */
export async function reserveAttempt(
  db: Database,
  subject: string,
  policy: ConsecutivePolicy,
  now = Date.now(),
): Promise<LimitVerdict> {
  const expiresAt = policy.forgetAfterMs ? iso(now + policy.forgetAfterMs) : null;
  const reserved = await db.query(
    `INSERT INTO attempt_throttle AS t (subject, failures, last_failure_at, expires_at)
     VALUES ($1, 1, $2::timestamptz, $3::timestamptz)
     ON CONFLICT (subject) DO UPDATE
        SET failures = CASE WHEN t.expires_at <= $2::timestamptz THEN 1 ELSE t.failures + 1 END,
            last_failure_at = $2::timestamptz, expires_at = $3::timestamptz
      WHERE t.expires_at <= $2::timestamptz OR t.failures < $4::int
         OR (t.failures < $5::int AND t.last_failure_at <= $2::timestamptz - $6::float8 * interval '1 millisecond')
     RETURNING failures`,
    [subject, iso(now), expiresAt, policy.free, policy.hardLimit, policy.backoffMs],
    'attempt_throttle_reserve',
  );
  return reserved.length ? { allowed: true } : targetState(db, subject, policy, now);
}

/** Whether a target's count allows an attempt now, without counting one. */
export async function targetState(
  db: Database,
  subject: string,
  policy: ConsecutivePolicy,
  now = Date.now(),
): Promise<LimitVerdict> {
  const [row] = await db.query<{ failures: number; lastFailureAt: Date | null; expiresAt: Date | null }>(
    `SELECT failures, last_failure_at AS "lastFailureAt", expires_at AS "expiresAt"
       FROM attempt_throttle WHERE subject = $1`,
    [subject],
    'attempt_throttle_state',
  );
  if (!row || row.failures < policy.free || (row.expiresAt && new Date(row.expiresAt).getTime() <= now))
    return { allowed: true };
  if (row.failures >= policy.hardLimit) return { allowed: false, locked: true };
  const wait = (row.lastFailureAt ? new Date(row.lastFailureAt).getTime() : 0) + policy.backoffMs - now;
  return wait > 0 ? { allowed: false, locked: false, retryAfterSeconds: waitSeconds(wait) } : { allowed: true };
}

/** A success (or an administrator, or the person's passkey sign-in) clears the count. */
export async function resetThrottle(db: Database, subject: string): Promise<void> {
  await clearFailures(db, subject);
  await db.query(`DELETE FROM attempt_rate WHERE key = $1`, [subject]);
}

/** A target's consecutive count cleared (its attempt succeeded); its source buckets are left as they are. */
export async function clearFailures(db: Database, subject: string): Promise<void> {
  await db.query(`DELETE FROM attempt_throttle WHERE subject = $1`, [subject], 'attempt_throttle_clear');
}

/** Clears the counts of browser 1:1 misses against a person, from every address (an administrator's unlock). */
export async function resetHintedPalmCounts(db: Database, email: string): Promise<void> {
  await db.query(`DELETE FROM attempt_throttle WHERE starts_with(subject, $1)`, [hintedPalmPrefix(email)]);
}

/** Full buckets and forgotten counts are the same as no row: the maintenance job deletes them. */
export async function purgeExpiredAttempts(db: Database, now = Date.now()): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `WITH buckets AS (DELETE FROM attempt_rate WHERE refilled_at <= $1::timestamptz RETURNING 1),
          counts AS (DELETE FROM attempt_throttle WHERE expires_at <= $1::timestamptz RETURNING 1)
     SELECT (SELECT count(*) FROM buckets)::int + (SELECT count(*) FROM counts)::int AS n`,
    [iso(now)],
  );
  return row?.n ?? 0;
}
