import { errors, type Configuration } from 'oidc-provider';
import { FramePoolFullError, type FramePool } from '../biometrics/framePool.js';

type CibaFeature = NonNullable<NonNullable<Configuration['features']>['ciba']>;

/** RFC 6749's `temporarily_unavailable`, as oidc-provider renders errors: status 503, shown to the client. */
export class TemporarilyUnavailable extends errors.OIDCProviderError {
  constructor(description: string) {
    super(503, 'temporarily_unavailable');
    this.expose = true; // oidc-provider hides 5xx errors as server_error otherwise
    this.error_description = description;
  }
}

/**
 * A reader's capture envelope takes a turn in the frame pool before it is opened: when the pool
 * is full the backchannel authentication request is answered 503 temporarily_unavailable with
 * Retry-After, and the envelope stays unused (its jti unrecorded), so the reader may send it again.
 */
export function admitCaptures(feature: CibaFeature, frames: FramePool): CibaFeature {
  const processLoginHintToken = feature.processLoginHintToken;
  if (!processLoginHintToken) return feature;
  return {
    ...feature,
    async processLoginHintToken(ctx, token) {
      try {
        return await frames.run(async () => processLoginHintToken(ctx, token));
      } catch (err) {
        if (!(err instanceof FramePoolFullError)) throw err;
        ctx.set('retry-after', String(err.retryAfterSeconds));
        throw new TemporarilyUnavailable(err.message);
      }
    },
  };
}
