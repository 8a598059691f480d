/**
 * "Sign in with your palm" at the login page. The page posts to POST /interaction/:uid/palm either
 * one camera frame (raw image/jpeg or image/png body: liveness not checked), or one try as
 * application/json {challenge_token, frames: [base64, ...]}: the ready frame (identified) then the
 * frames taken while the hand followed the challenge that GET /interaction/:uid/palm/challenge
 * handed out ({challenge, token, expires_in}; src/oidc/palmChallenge.ts). A client that requires
 * PAD (palmid_require_pad) accepts only the second. Answers (JSON):
 *   200 {redirectTo}                       recognised: the authorization request resumes
 *   422 {error: capture_rejected, reason}  guidance for the next frame (nothing was compared);
 *                                          reason not_live: the sequence did not show liveness
 *                                          (one message whatever failed; why: the audit log only)
 *   401 {error: not_recognised}            compared, nobody matched
 *   429 {error: too_many_attempts}         back-off (Retry-After) or lock-out, or the sign-in's
 *                                          frame budget is spent
 *   503 {error: temporarily_unavailable}  the server is reading as many frames as it may; retry
 *                                          after Retry-After seconds (nothing was read or counted)
 *   400 {error: invalid_request}           among others: a challenge token that is not this
 *                                          interaction's, has expired or was altered
 * Frames are read into memory and used for this request only; they are never logged. The decoded
 * bytes and pixels are zeroed once read; a JSON try's base64 text (a JavaScript string, which
 * cannot be overwritten) is dropped with the request and left to the garbage collector.
 *
 * Each frame spends the sign-in's frame budget before it is decoded, and so does each challenge
 * handed out: a page cannot draw challenges for free until it gets the one it has a recording for.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { BiometricContext } from '../../biometrics/context.js';
import { FramePoolFullError, type FramePool } from '../../biometrics/framePool.js';
import { PalmChallenges } from '../../oidc/palmChallenge.js';
import { palmLogin } from '../../oidc/palmLogin.js';
import { ACR_PALM, palmAmr } from '../../acr.js';
import { readBody, readImageBody } from '../body.js';
import { HttpError } from '../errors.js';
import { currentInteraction, palmOffer } from './interactions.js';

/**
 * Frames one sign-in (interaction) may send, usable or not: each costs an image analysis, and
 * an unusable frame costs its address only a share of an attempt (UNUSABLE_CAPTURE_COST).
 * The page sends at most 5 per try, and each challenge it asks for costs one more; 60 is ten
 * tries. Counted per process (interactions are short-lived; the map forgets the oldest beyond 10,000).
 */
export const FRAMES_PER_SIGN_IN = 60;
const framesSeen = new Map<string, number>();
function spendFrames(uid: string, count: number): boolean {
  const used = (framesSeen.get(uid) ?? 0) + count;
  framesSeen.delete(uid);
  framesSeen.set(uid, used); // most recent last
  if (framesSeen.size > 10_000) framesSeen.delete(framesSeen.keys().next().value!);
  return used <= FRAMES_PER_SIGN_IN;
}
/** Frames turned away unread (the pool filled while they were uploaded) are not counted. */
function refundFrames(uid: string, count: number): void {
  const used = framesSeen.get(uid);
  if (used) framesSeen.set(uid, Math.max(0, used - count));
}

/** Frames one try may send: the ready frame and up to four taken while following the challenge. */
export const MAX_SEQUENCE_FRAMES = 5;

/** A JSON try's frames field: 1 to MAX_SEQUENCE_FRAMES strings (not decoded yet), or a 400. */
function sequenceTexts(body: Record<string, unknown>): string[] {
  const frames = body.frames;
  if (!Array.isArray(frames) || frames.length < 1 || frames.length > MAX_SEQUENCE_FRAMES)
    throw new HttpError(400, 'invalid_request', `frames: send 1 to ${MAX_SEQUENCE_FRAMES} pictures`);
  if (!frames.every((f) => typeof f === 'string'))
    throw new HttpError(400, 'invalid_request', 'frames: each picture as base64 (JPEG or PNG)');
  return frames as string[];
}

/** The frames of a JSON try, decoded from base64 within the body's limit (each one, and all together). */
function sequenceFrames(frames: string[], limitBytes: number): Buffer[] {
  const decoded: Buffer[] = [];
  let total = 0;
  for (const frame of frames) {
    // The body was already read within limitBytes; this bounds each frame and the sum again
    // after decoding, so no combination of fields can make the server hold more.
    if (!frame || !/^[A-Za-z0-9+/]+={0,2}$/.test(frame)) {
      for (const d of decoded) d.fill(0);
      throw new HttpError(400, 'invalid_request', 'frames: each picture as base64 (JPEG or PNG)');
    }
    const bytes = Buffer.from(frame, 'base64');
    total += bytes.length;
    decoded.push(bytes);
    if (bytes.length > limitBytes || total > limitBytes) {
      for (const d of decoded) d.fill(0);
      throw new HttpError(413, 'invalid_request', `the pictures are larger than ${limitBytes} bytes in all`);
    }
  }
  return decoded;
}
export interface PalmLoginDeps {
  provider: () => Provider;
  bio: BiometricContext;
  /** Admission of frame reading (503 with Retry-After when full). */
  frames: FramePool;
  bodyLimitBytes: number;
}

/** 429: the sign-in's frame budget is spent. */
function tooManyFrames(ctx: Context): void {
  ctx.status = 429;
  ctx.set('cache-control', 'no-store');
  ctx.body = {
    error: 'too_many_attempts',
    error_description: 'Too many pictures for this sign-in: go back to the application and start again.',
  };
}

/** 503 with Retry-After: the frame pool is full (RFC 9110 §15.6.4, §10.2.3). */
function busy(ctx: Context, retryAfterSeconds: number): void {
  ctx.status = 503;
  ctx.set('retry-after', String(retryAfterSeconds));
  ctx.set('cache-control', 'no-store');
  ctx.body = {
    error: 'temporarily_unavailable',
    error_description: 'Too many palm sign-ins at once: try again in a moment.',
    retry_after: retryAfterSeconds,
  };
}

export function palmLoginRoutes(deps: PalmLoginDeps): Router {
  const router = new Router();
  const challenges = new PalmChallenges(deps.bio.master);

  /** A random challenge for one try of this sign-in (the page asks before each try). */
  router.get('/interaction/:uid/palm/challenge', async (ctx) => {
    const provider = deps.provider();
    const interaction = await currentInteraction(ctx, provider);
    if (interaction.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'not a login interaction');
    const client = await provider.Client.find(String(interaction.params.client_id));
    if (palmOffer(client) === 'not_offered')
      throw new HttpError(403, 'invalid_request', 'palm sign-in is not offered for this application');
    ctx.set('cache-control', 'no-store');
    // One unit of the sign-in's budget: challenges cannot be drawn again and again for free until
    // the one a recording follows comes up (the tokens stay stateless otherwise).
    if (!spendFrames(interaction.uid, 1)) return tooManyFrames(ctx);
    ctx.body = challenges.issue(interaction.uid);
  });

  router.post('/interaction/:uid/palm', async (ctx) => {
    // No room in the pool: refused before any work, the frame would only wait in vain.
    if (deps.frames.full) return busy(ctx, deps.frames.retryAfterSeconds);
    const provider = deps.provider();
    const interaction = await currentInteraction(ctx, provider);
    if (interaction.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'not a login interaction');
    const clientId = String(interaction.params.client_id);
    const client = await provider.Client.find(clientId);
    const offer = palmOffer(client);
    if (offer === 'not_offered')
      throw new HttpError(403, 'invalid_request', 'palm sign-in is not offered for this application');
    const isSequence = ctx.is('application/json') === 'application/json';
    if (offer.requirePad && !isSequence)
      throw new HttpError(
        403,
        'access_denied',
        'This application accepts palm sign-ins only with a liveness check: follow the instruction on the ' +
          'sign-in page (this needs automatic hand guidance in the browser), or sign in with a passkey.',
      );
    // The try's size is known before anything is decoded: a JSON body is read within the body
    // limit, its frames checked against it again once decoded (sequenceFrames).
    let frames: Buffer[] = [];
    let challenge: ReturnType<PalmChallenges['verify']> = null;
    let texts: string[] | undefined;
    let body: Record<string, unknown> | undefined;
    const invalidChallenge = () =>
      new HttpError(
        400,
        'invalid_request',
        'The liveness challenge is not valid for this sign-in or has expired: start the palm capture again.',
      );
    if (isSequence) {
      body = await readBody(ctx, deps.bodyLimitBytes);
      // its shape only: the MAC is checked once the frames are paid for
      if (typeof body.challenge_token !== 'string') throw invalidChallenge();
      texts = sequenceTexts(body);
    }
    // Each frame of a try costs one of the sign-in's budget, as if sent alone: spent on the count
    // alone, before the token is checked or anything is decoded.
    const cost = texts ? texts.length : 1;
    if (!spendFrames(interaction.uid, cost)) return tooManyFrames(ctx);
    if (body && texts) {
      challenge = challenges.verify(body.challenge_token, interaction.uid);
      if (!challenge) throw invalidChallenge();
      frames = sequenceFrames(texts, deps.bodyLimitBytes);
      // the text cannot be zeroed (a string): dropped here, left to the garbage collector
      body.frames = undefined;
      texts = undefined;
    } else frames = [await readImageBody(ctx, deps.bodyLimitBytes)];
    const capture = frames[0]!;
    let outcome;
    try {
      // A turn in the frame pool, once the (size-limited) frame is here: a slow upload holds no turn.
      outcome = await deps.frames.run(() =>
        palmLogin(deps.bio, {
          tenantId: offer.tenantId,
          clientId,
          address: ctx.ip,
          loginHint: typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint : undefined,
          capture,
          requirePad: offer.requirePad,
          sequence: challenge ? { frames, challenge } : undefined,
        }),
      );
    } catch (err) {
      if (!(err instanceof FramePoolFullError)) throw err;
      refundFrames(interaction.uid, cost);
      return busy(ctx, err.retryAfterSeconds);
    } finally {
      for (const f of frames) f.fill(0);
    }
    ctx.set('cache-control', 'no-store');
    switch (outcome.kind) {
      case 'signed_in': {
        const redirectTo = await provider.interactionResult(
          ctx.req,
          ctx.res,
          // The PAD amr only when the try's sequence was shown live (src/acr.ts); one frame never is.
          {
            login: {
              accountId: outcome.personId,
              acr: ACR_PALM,
              amr: palmAmr({ pin: false, pad: outcome.pad }),
              remember: true,
            },
          },
          { mergeWithLastSubmission: false },
        );
        ctx.body = { redirectTo };
        return;
      }
      case 'retry':
        ctx.status = 422;
        ctx.body = {
          error: 'capture_rejected',
          reason: outcome.reason,
          error_description: outcome.message,
          ...(outcome.quality ? { quality: outcome.quality } : {}),
        };
        return;
      case 'unreadable':
        throw new HttpError(400, 'invalid_request', outcome.message);
      case 'unavailable':
        throw new HttpError(403, 'invalid_request', outcome.message);
      case 'not_recognised':
        ctx.status = 401;
        ctx.body = { error: 'not_recognised', error_description: 'Palm not recognised.' };
        return;
      case 'throttled':
        ctx.status = 429;
        if (outcome.retryAfterSeconds) ctx.set('retry-after', String(outcome.retryAfterSeconds));
        ctx.body = {
          error: 'too_many_attempts',
          error_description: outcome.locked
            ? 'Too many failed palm attempts: sign in with a passkey, or ask an administrator to unlock palm sign-in.'
            : `Too many failed palm attempts: try again in ${outcome.retryAfterSeconds} s, or sign in with a passkey.`,
          ...(outcome.retryAfterSeconds ? { retry_after: outcome.retryAfterSeconds } : {}),
        };
        return;
    }
  });

  return router;
}
