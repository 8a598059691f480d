/**
 * Enrolment of one palm from the browser: the one implementation behind the station's
 * POST /enrol/palm and self-enrolment's POST /account/enrol/palm. The page (views/static/palm-enrol.js)
 * sends application/json {hand: 'left'|'right', frames: [base64 JPEG, ...]} with ENROL_FRAMES
 * good frames of that hand; the body is read within the body limit before anything is decoded,
 * the frames decoded within it again, enrolled in a turn of the frame pool and zeroed at once.
 * Frames are never stored or logged. Answers (JSON, `error` a code the page words itself):
 *   200 {enrolled: {hand, replaced, samples}}
 *   422 {error: capture_rejected, capture, reason}   which picture, and why (guidance)
 *   409 {error: duplicate_enrolment}                 the palm is another person's (never whose)
 *   403 {error: consent_required}                    no active consent to the tenant's current notice
 *   429 {error: too_many_attempts, retry_after}      the enrolment budget is spent (ENROL_ATTEMPTS)
 *   503 {error: temporarily_unavailable, retry_after} the frame pool is full; nothing was read
 *   400 / 413 {error: invalid_request}              malformed or oversized
 */
import type { Context } from 'koa';
import { BiometricError, type BiometricContext } from '../biometrics/context.js';
import { enrolPalm } from '../biometrics/enrolment.js';
import { FramePoolFullError, type FramePool } from '../biometrics/framePool.js';
import { currentNotice, findActiveConsent } from '../accounts/tenants.js';
import { audit } from '../audit/audit.js';
import type { Database } from '../db/database.js';
import { type RatePolicy, giveBackToSource, takeFromSource } from '../throttling/attemptLimits.js';
import { readBody } from './body.js';
import { HttpError } from './errors.js';

/** Good frames per hand the page sends: each is a capture of enrolPalm, fused into one reference. */
export const ENROL_FRAMES = 3;

/**
 * The body limit of an enrolment request: each frame may take what one request may (the body
 * limit), so that the reference is built from pictures as sharp as a sign-in's. The app applies
 * it instead of the general limit to these requests only (isPalmEnrolment, src/http/app.ts).
 */
export function palmEnrolmentLimit(bodyLimitBytes: number): number {
  return ENROL_FRAMES * bodyLimitBytes;
}

/** The two enrolment endpoints: the station's and self-enrolment's. */
export function isPalmEnrolment(ctx: Context): boolean {
  return ctx.method === 'POST' && (ctx.path === '/enrol/palm' || ctx.path === '/account/enrol/palm');
}

/**
 * Enrolment attempts. Each costs three extractions and a 1:N search, and its answer (enrolled or
 * duplicate) says whether that palm is already enrolled at the tenant: without a bound, enrolment
 * would be an identification oracle for photos of strangers' palms. Both hands with the page's
 * retries fit well within the person's budget; a staff member's covers a busy desk.
 */
export const ENROL_ATTEMPTS = {
  /** One person being enrolled at one tenant: 10, then one every 10 minutes. */
  person: { burst: 10, refillMs: 600_000 },
  /** One staff member enrolling others: 40, then one every 30 s (120 an hour). */
  staff: { burst: 40, refillMs: 30_000 },
} satisfies Record<string, RatePolicy>;

/** A "duplicate" answer says that palm is someone's here: it costs this many attempts in all. */
export const DUPLICATE_COST = 5;

/** The budgets' keys in attempt_rate (ENROL_ATTEMPTS). */
export const personBudget = (personId: string, tenantId: string) => `enrol-person:${tenantId}:${personId}`;
export const staffBudget = (staffId: string) => `enrol-staff:${staffId}`;

/** Whether the person's active consent at the tenant is to its current notice. */
export async function consentsToCurrentNotice(db: Database, personId: string, tenantId: string): Promise<boolean> {
  const [consent, notice] = await Promise.all([findActiveConsent(db, personId, tenantId), currentNotice(db, tenantId)]);
  return consent !== null && consent.noticeVersion === notice.version;
}

export interface PalmEnrolmentDeps {
  bio: BiometricContext;
  frames: FramePool;
  bodyLimitBytes: number;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The request's hand and frames, decoded within `limitBytes` in all and its share of it each. */
export async function readEnrolmentFrames(
  ctx: Context,
  limitBytes: number,
): Promise<{ hand: 'left' | 'right'; frames: Buffer[] }> {
  if (ctx.is('application/json') !== 'application/json')
    throw new HttpError(415, 'invalid_request', 'send the frames as application/json');
  const body = await readBody(ctx, limitBytes);
  const hand = body.hand;
  if (hand !== 'left' && hand !== 'right') throw new HttpError(400, 'invalid_request', 'hand: left or right');
  const texts = body.frames;
  if (
    !Array.isArray(texts) ||
    texts.length !== ENROL_FRAMES ||
    !texts.every((f) => typeof f === 'string' && BASE64.test(f))
  )
    throw new HttpError(400, 'invalid_request', `frames: ${ENROL_FRAMES} pictures, each as base64 (JPEG or PNG)`);
  const frameLimit = Math.floor(limitBytes / ENROL_FRAMES);
  const frames: Buffer[] = [];
  for (const text of texts as string[]) {
    // Checked on the text's length, before decoding: base64 carries 3 bytes in 4 characters.
    if (Math.floor((text.length * 3) / 4) > frameLimit) {
      for (const f of frames) f.fill(0);
      throw new HttpError(413, 'invalid_request', `each picture may take at most ${frameLimit} bytes`);
    }
    frames.push(Buffer.from(text, 'base64'));
  }
  // The text cannot be zeroed (strings): dropped with the request, left to the garbage collector.
  body.frames = undefined;
  return { hand, frames };
}

export type EnrolmentOutcome = { outcome: 'enrolled' | 'duplicate'; hand: 'left' | 'right' };

/**
 * Enrols the request's palm for the person at the tenant and answers the page (see above).
 * `staffId` is the staff member enrolling someone else (the station), charged too. The outcome,
 * when the palm was enrolled or refused as a duplicate, is for the caller's audit.
 */
export async function answerPalmEnrolment(
  ctx: Context,
  deps: PalmEnrolmentDeps,
  target: { personId: string; tenantId: string; staffId?: string | undefined },
): Promise<EnrolmentOutcome | undefined> {
  ctx.set('cache-control', 'no-store');
  const db = deps.bio.db;
  if (!(await consentsToCurrentNotice(db, target.personId, target.tenantId))) {
    ctx.status = 403;
    ctx.body = { error: 'consent_required', error_description: "Accept the tenant's current notice first." };
    return undefined;
  }
  if (deps.frames.full) {
    busy(ctx, deps.frames.retryAfterSeconds);
    return undefined;
  }
  const { hand, frames } = await readEnrolmentFrames(ctx, palmEnrolmentLimit(deps.bodyLimitBytes));
  const budgets: Array<[string, RatePolicy]> = [
    [personBudget(target.personId, target.tenantId), ENROL_ATTEMPTS.person],
  ];
  if (target.staffId && target.staffId !== target.personId)
    budgets.push([staffBudget(target.staffId), ENROL_ATTEMPTS.staff]);
  const taken: Array<[string, RatePolicy]> = [];
  for (const [subject, policy] of budgets) {
    const verdict = await takeFromSource(db, subject, policy);
    if (!verdict.allowed) {
      for (const f of frames) f.fill(0);
      for (const [s, p] of taken) await giveBackToSource(db, s, p);
      await audit(db, {
        action: 'palm.enrol_throttled',
        actor: target.staffId ?? target.personId,
        subject: target.personId,
        detail: { tenant: target.tenantId, budget: subject.startsWith('enrol-staff:') ? 'staff' : 'person' },
      });
      const retryAfter = verdict.retryAfterSeconds ?? 60;
      tryLater(ctx, 429, 'too_many_attempts', 'Too many enrolment attempts: try again later.', retryAfter);
      return undefined;
    }
    taken.push([subject, policy]);
  }
  try {
    const result = await deps.frames.run(() =>
      enrolPalm(deps.bio, {
        personId: target.personId,
        tenantId: target.tenantId,
        hand,
        captures: frames,
        kind: 'hand',
        minCaptures: ENROL_FRAMES,
      }),
    );
    ctx.body = { enrolled: { hand: result.hand, replaced: result.replaced, samples: result.samples } };
    return { outcome: 'enrolled', hand: result.hand };
  } catch (err) {
    if (err instanceof FramePoolFullError) {
      for (const [s, p] of taken) await giveBackToSource(db, s, p);
      busy(ctx, err.retryAfterSeconds);
      return undefined;
    }
    if (!(err instanceof BiometricError)) throw err;
    switch (err.reason) {
      case 'capture_rejected':
        // Nothing was searched: the person's budget is given back (the page retries with better pictures).
        await giveBackToSource(db, personBudget(target.personId, target.tenantId), ENROL_ATTEMPTS.person);
        ctx.status = 422;
        ctx.body = {
          error: 'capture_rejected',
          capture: err.detail.capture,
          reason: err.detail.imageReason,
          error_description: err.message,
        };
        return undefined;
      case 'duplicate_enrolment':
        // The answer an oracle would want: it costs more (as far as the budgets still hold it).
        for (const [subject, policy] of taken)
          for (let i = 1; i < DUPLICATE_COST; i++) if (!(await takeFromSource(db, subject, policy)).allowed) break;
        // Whose palm it is stays unsaid: the station's staff and the person learn only that it is taken.
        ctx.status = 409;
        ctx.body = {
          error: 'duplicate_enrolment',
          error_description: 'This palm is already enrolled to another person.',
        };
        return { outcome: 'duplicate', hand };
      case 'consent_required':
        ctx.status = 403;
        ctx.body = { error: 'consent_required', error_description: err.message };
        return undefined;
      default:
        throw new HttpError(400, 'invalid_request', err.message);
    }
  } finally {
    for (const f of frames) f.fill(0);
  }
}

function busy(ctx: Context, retryAfterSeconds: number): void {
  tryLater(ctx, 503, 'temporarily_unavailable', 'The server is busy: try again in a moment.', retryAfterSeconds);
}

/** A refusal for now: the status, a Retry-After header and the same wait in the body (for the page). */
function tryLater(ctx: Context, status: number, error: string, description: string, retryAfterSeconds: number): void {
  ctx.status = status;
  ctx.set('retry-after', String(retryAfterSeconds));
  ctx.body = { error, error_description: description, retry_after: retryAfterSeconds };
}
