/**
 * "Sign in with your palm" at the login page: the page posts camera frames, one per request,
 * to POST /interaction/:uid/palm. Answers (JSON):
 *   200 {redirectTo}                       recognised: the authorization request resumes
 *   422 {error: capture_rejected, reason}  guidance for the next frame (nothing was compared)
 *   401 {error: not_recognised}            compared, nobody matched
 *   429 {error: too_many_attempts}         back-off (Retry-After) or lock-out, or the sign-in's
 *                                          frame budget is spent
 *   503 {error: temporarily_unavailable}  the server is reading as many frames as it may; retry
 *                                          after Retry-After seconds (nothing was read or counted)
 * The frame is read into memory, used for this request only and zeroed; it is never logged.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { BiometricContext } from '../../biometrics/context.js';
import { FramePoolFullError, type FramePool } from '../../biometrics/framePool.js';
import { palmLogin } from '../../oidc/palmLogin.js';
import { ACR_PALM, palmAmr } from '../../acr.js';
import { readImageBody } from '../body.js';
import { HttpError } from '../errors.js';
import { currentInteraction, palmOffer } from './interactions.js';

/**
 * Frames one sign-in (interaction) may send, usable or not: each costs an image analysis, and
 * an unusable frame costs its address only a share of an attempt (UNUSABLE_CAPTURE_COST).
 * The page sends at most 5 per try; 60 is a dozen tries. Counted per process (interactions
 * are short-lived; the map forgets the oldest beyond 10,000).
 */
export const FRAMES_PER_SIGN_IN = 60;
const framesSeen = new Map<string, number>();
function spendFrame(uid: string): boolean {
  const used = (framesSeen.get(uid) ?? 0) + 1;
  framesSeen.delete(uid);
  framesSeen.set(uid, used); // most recent last
  if (framesSeen.size > 10_000) framesSeen.delete(framesSeen.keys().next().value!);
  return used <= FRAMES_PER_SIGN_IN;
}
/** A frame turned away unread (the pool filled while it was uploaded) is not counted. */
function refundFrame(uid: string): void {
  const used = framesSeen.get(uid);
  if (used) framesSeen.set(uid, used - 1);
}
export interface PalmLoginDeps {
  provider: () => Provider;
  bio: BiometricContext;
  /** Admission of frame reading (503 with Retry-After when full). */
  frames: FramePool;
  bodyLimitBytes: number;
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
    if (offer === 'needs_pad')
      throw new HttpError(
        403,
        'access_denied',
        'This application accepts palm sign-ins only with a liveness check, which this page does not do yet: ' +
          'sign in with a passkey.',
      );
    if (!spendFrame(interaction.uid)) {
      ctx.status = 429;
      ctx.body = {
        error: 'too_many_attempts',
        error_description: 'Too many pictures for this sign-in: go back to the application and start again.',
      };
      return;
    }
    const capture = await readImageBody(ctx, deps.bodyLimitBytes);
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
        }),
      );
    } catch (err) {
      if (!(err instanceof FramePoolFullError)) throw err;
      refundFrame(interaction.uid);
      return busy(ctx, err.retryAfterSeconds);
    } finally {
      capture.fill(0);
    }
    ctx.set('cache-control', 'no-store');
    switch (outcome.kind) {
      case 'signed_in': {
        const redirectTo = await provider.interactionResult(
          ctx.req,
          ctx.res,
          // One frame: liveness not checked, so the amr says palm only (src/acr.ts).
          {
            login: {
              accountId: outcome.personId,
              acr: ACR_PALM,
              amr: palmAmr({ pin: false, pad: false }),
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
