/**
 * The body of CIBA's backchannel authentication request, read before oidc-provider sees it: a
 * reader's envelope carries a presentation attack detection sequence (up to MAX_IMAGES frames),
 * larger than oidc-provider's own body limit (56 KB, lib/shared/selective_body.js). Only this
 * endpoint, only form bodies, and within an explicit limit (MAX_BACKCHANNEL_BODY_BYTES, derived
 * from the envelope's image budget); every other request keeps oidc-provider's parser and limit.
 *
 * The text is handed over as `req.body` (a string): selective_body then parses it as it would
 * have parsed the stream. oidc-provider prints a one-time warning ("already parsed request body
 * detected") the first time it happens; it is expected here, and it has no other effect.
 */
import coBody from 'co-body';
import type { Context, Next } from 'koa';
import { HttpError } from './errors.js';
import { MAX_BACKCHANNEL_BODY_BYTES } from '../readers/readerCrypto.js';

/** The request is the backchannel authentication endpoint's (path as the provider routes it). */
export function backchannelBody(opts: { path: () => string; limitBytes?: number }) {
  const limit = opts.limitBytes ?? MAX_BACKCHANNEL_BODY_BYTES;
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST' || !opts.path() || ctx.path !== opts.path()) return next();
    // Not a form: oidc-provider answers it (invalid_request) without reading a large body.
    if (!ctx.is('application/x-www-form-urlencoded')) return next();
    const length = ctx.request.length;
    if (length !== undefined && length > limit)
      throw new HttpError(
        413,
        'invalid_request',
        `the backchannel authentication request is larger than ${limit} bytes`,
      );
    let text: string;
    try {
      text = await coBody.text(ctx.req, { limit, encoding: 'utf8' });
    } catch (err) {
      if ((err as { status?: number }).status === 413)
        throw new HttpError(
          413,
          'invalid_request',
          `the backchannel authentication request is larger than ${limit} bytes`,
        );
      throw new HttpError(400, 'invalid_request', 'malformed request body');
    }
    (ctx.req as { body?: string }).body = text;
    ctx.state.backchannelBodyRead = true;
    await next();
  };
}

/** Whether backchannelBody read this request's body (it applied its own limit). */
export const backchannelBodyRead = (ctx: Context): boolean => ctx.state.backchannelBodyRead === true;
