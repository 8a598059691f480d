/**
 * One sign-in attempt, the same at a reader and at the browser login: reserve it with every
 * source (and, 1:1, with its target), read the capture, compare, record the outcome, audit it.
 * A source pays for every failed attempt and a share of every unusable capture, and gets back
 * what a match did not use; failures are audited here (their number is bounded by the sources'
 * limits), a completed sign-in by `auditSignIn` once the caller has finished it.
 */
import { audit } from '../audit/audit.js';
import type { Database } from '../db/database.js';
import { type RecognitionOutcome, recordOutcome } from './recognitionStats.js';
import {
  LIMITS,
  UNUSABLE_CAPTURE_COST,
  clearFailures,
  giveBackToSource,
  personSubject,
  reserveAttempt,
  takeFromSource,
  targetState,
  type ConsecutivePolicy,
  type LimitVerdict,
  type RatePolicy,
} from '../throttling/attemptLimits.js';

export interface Comparison {
  mode: 'identify' | 'verify';
  match: boolean;
  /** The person concerned: the match (1:N) or the named person (1:1), when there is one. */
  personId: string | null;
  score: number;
  /** The decision threshold the score was held against (absent when nothing was compared). */
  threshold?: number;
}

export type Capture<P, R> = { usable: true; probe: P } | { usable: false; rejection: R };

export interface PalmAttempt<P, R> {
  channel: 'reader' | 'browser';
  /** The reader or the relying party. */
  actor: string;
  tenantId: string;
  /** Who pays for failures: the reader; or the address and the relying party. */
  sources: { subject: string; policy: RatePolicy }[];
  /** A 1:1 attempt's own count (the named person, from this source). */
  target?: { subject: string; policy: ConsecutivePolicy };
  /**
   * A capture refused before anything is reserved: what the bytes and the header alone give away
   * (a size lie, a truncated or oversized file) costs nothing to refuse, so nobody is charged and
   * nothing is written for it; counting it would cost more than refusing it.
   */
  precheck?(): R | null;
  read(): Promise<Capture<P, R>>;
  compare(probe: P): Promise<Comparison>;
}

/** Refused before comparing: a source is spending too fast, or the target (or the person) is in back-off or locked. */
export type Throttled = {
  kind: 'throttled';
  by: 'source' | 'target' | 'person';
  locked: boolean;
  retryAfterSeconds?: number;
};

export type PalmAttemptOutcome<R> =
  | { kind: 'matched'; personId: string; score: number; mode: Comparison['mode'] }
  | { kind: 'not_matched'; personId: string | null; score: number }
  | { kind: 'unusable'; rejection: R }
  | Throttled;

const throttled = (by: Throttled['by'], verdict: Exclude<LimitVerdict, { allowed: true }>): Throttled => ({
  kind: 'throttled',
  by,
  locked: verdict.locked,
  ...(verdict.retryAfterSeconds ? { retryAfterSeconds: verdict.retryAfterSeconds } : {}),
});

export async function attemptPalmSignIn<P, R>(
  db: Database,
  attempt: PalmAttempt<P, R>,
): Promise<PalmAttemptOutcome<R>> {
  const refused = attempt.precheck?.();
  if (refused) return { kind: 'unusable', rejection: refused };
  const taken: PalmAttempt<P, R>['sources'] = [];
  const giveBack = (cost: number) => Promise.all(taken.map((s) => giveBackToSource(db, s.subject, s.policy, cost)));
  for (const source of attempt.sources) {
    const verdict = await takeFromSource(db, source.subject, source.policy);
    if (!verdict.allowed) {
      // Not evaluated: the sources already charged get their attempt back. Not audited either:
      // a flood would otherwise write one audit row per refused request.
      await giveBack(1);
      return throttled('source', verdict);
    }
    taken.push(source);
  }

  // Counted for the operator's recognition health (recognitionStats.ts) from here on: what
  // reached the engine. Refusals before it (a source's limit, a precheck) are abuse, not drift.
  const count = (outcome: RecognitionOutcome, comparison?: Comparison) =>
    recordOutcome(db, {
      tenantId: attempt.tenantId,
      source: attempt.actor,
      channel: attempt.channel,
      outcome,
      margin:
        comparison?.threshold !== undefined && comparison.score > 0
          ? comparison.score - comparison.threshold
          : undefined,
    });

  // From here an error keeps the reservation: an attempt that crashed counts as failed.
  const capture = await attempt.read();
  if (!capture.usable) {
    await giveBack(1 - UNUSABLE_CAPTURE_COST);
    await count(`unusable:${rejectionReason(capture.rejection)}`);
    return { kind: 'unusable', rejection: capture.rejection };
  }
  const detail = { channel: attempt.channel, tenant: attempt.tenantId };
  if (attempt.target) {
    const verdict = await reserveAttempt(db, attempt.target.subject, attempt.target.policy);
    if (!verdict.allowed) {
      // The sources keep this attempt: refusals cost a source as much as failures.
      await audit(db, {
        action: 'signin.throttled',
        actor: attempt.actor,
        subject: attempt.tenantId,
        detail: { ...detail, limit: 'named_person' },
      });
      await count('throttled');
      return throttled('target', verdict);
    }
  }

  const result = await attempt.compare(capture.probe);
  const scored = { ...detail, mode: result.mode, score: Math.round(result.score * 1000) / 1000 };
  if (!result.match || !result.personId) {
    await audit(db, {
      action: 'signin.palm_unknown',
      actor: attempt.actor,
      subject: result.personId ?? attempt.tenantId,
      detail: scored,
    });
    await count('not_matched', result);
    return { kind: 'not_matched', personId: result.personId, score: result.score };
  }
  await giveBack(1);
  if (attempt.target) await clearFailures(db, attempt.target.subject);
  // A person whose PIN is locked (guessed at readers, after their palm matched) is locked for palm sign-in too.
  const person = await targetState(db, personSubject(result.personId), LIMITS.pin);
  if (!person.allowed) {
    await audit(db, {
      action: 'signin.throttled',
      actor: attempt.actor,
      subject: result.personId,
      detail: { ...detail, limit: 'person' },
    });
    await count('throttled');
    return throttled('person', person);
  }
  await count('matched', result);
  return { kind: 'matched', personId: result.personId, score: result.score, mode: result.mode };
}

/** A rejection's reason code: the engine's (`{reason}`), its kind, or the code itself. */
function rejectionReason(rejection: unknown): string {
  if (typeof rejection === 'string') return rejection;
  if (rejection && typeof rejection === 'object') {
    const { reason, kind } = rejection as { reason?: unknown; kind?: unknown };
    if (typeof reason === 'string') return reason;
    if (typeof kind === 'string') return kind;
  }
  return 'other';
}

/**
 * A secret checked against a person (the PIN at a reader): counted before it is checked, so no
 * more than the policy allows are ever evaluated, however many arrive at once.
 */
export async function attemptSecret(
  db: Database,
  attempt: { subject: string; policy: ConsecutivePolicy; actor: string; personId: string },
  check: () => Promise<boolean>,
): Promise<{ kind: 'accepted' } | { kind: 'wrong' } | Throttled> {
  const verdict = await reserveAttempt(db, attempt.subject, attempt.policy);
  if (!verdict.allowed) {
    await audit(db, {
      action: 'signin.throttled',
      actor: attempt.actor,
      subject: attempt.personId,
      detail: { limit: 'person' },
    });
    return throttled('person', verdict);
  }
  if (!(await check())) {
    await audit(db, { action: 'signin.pin_wrong', actor: attempt.actor, subject: attempt.personId });
    return { kind: 'wrong' };
  }
  await clearFailures(db, attempt.subject);
  return { kind: 'accepted' };
}

/** The audit entry of a completed palm sign-in. */
export async function auditSignIn(
  db: Database,
  signIn: {
    actor: string;
    personId: string;
    tenantId: string;
    channel: 'reader' | 'browser';
    mode: Comparison['mode'];
    score: number;
    pin?: boolean;
  },
): Promise<void> {
  await audit(db, {
    action: 'signin.palm',
    actor: signIn.actor,
    subject: signIn.personId,
    detail: {
      channel: signIn.channel,
      tenant: signIn.tenantId,
      mode: signIn.mode,
      score: Math.round(signIn.score * 1000) / 1000,
      ...(signIn.pin === undefined ? {} : { pin: signIn.pin }),
    },
  });
}
