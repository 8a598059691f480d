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
 *   403 {error: consent_required}
 *   503 {error: temporarily_unavailable, retry_after} the frame pool is full; nothing was read
 *   400 / 413 {error: invalid_request}              malformed or oversized
 */
import type { Context } from 'koa';
import { BiometricError, type BiometricContext } from '../biometrics/context.js';
import { enrolPalm } from '../biometrics/enrolment.js';
import { FramePoolFullError, type FramePool } from '../biometrics/framePool.js';
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

export interface PalmEnrolmentDeps {
  bio: BiometricContext;
  frames: FramePool;
  bodyLimitBytes: number;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The request's hand and frames, decoded within `limitBytes` (each frame and all together). */
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
  const frames: Buffer[] = [];
  let total = 0;
  for (const text of texts as string[]) {
    const bytes = Buffer.from(text, 'base64');
    frames.push(bytes);
    total += bytes.length;
    if (total > limitBytes) {
      for (const f of frames) f.fill(0);
      throw new HttpError(413, 'invalid_request', `the pictures are larger than ${limitBytes} bytes in all`);
    }
  }
  // The text cannot be zeroed (strings): dropped with the request, left to the garbage collector.
  body.frames = undefined;
  return { hand, frames };
}

/** Enrols the request's palm for the person at the tenant and answers the page (see above). */
export async function answerPalmEnrolment(
  ctx: Context,
  deps: PalmEnrolmentDeps,
  target: { personId: string; tenantId: string },
): Promise<{ hand: 'left' | 'right' } | undefined> {
  ctx.set('cache-control', 'no-store');
  if (deps.frames.full) {
    busy(ctx, deps.frames.retryAfterSeconds);
    return undefined;
  }
  const { hand, frames } = await readEnrolmentFrames(ctx, palmEnrolmentLimit(deps.bodyLimitBytes));
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
    return { hand: result.hand };
  } catch (err) {
    if (err instanceof FramePoolFullError) {
      busy(ctx, err.retryAfterSeconds);
      return undefined;
    }
    if (!(err instanceof BiometricError)) throw err;
    switch (err.reason) {
      case 'capture_rejected':
        ctx.status = 422;
        ctx.body = {
          error: 'capture_rejected',
          capture: err.detail.capture,
          reason: err.detail.imageReason,
          error_description: err.message,
        };
        return undefined;
      case 'duplicate_enrolment':
        // Whose palm it is stays unsaid: the station's staff and the person learn only that it is taken.
        ctx.status = 409;
        ctx.body = {
          error: 'duplicate_enrolment',
          error_description: 'This palm is already enrolled to another person.',
        };
        return undefined;
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
  ctx.status = 503;
  ctx.set('retry-after', String(retryAfterSeconds));
  ctx.body = {
    error: 'temporarily_unavailable',
    error_description: 'The server is busy: try again in a moment.',
    retry_after: retryAfterSeconds,
  };
}
