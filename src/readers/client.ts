import { importJWK, type JWK } from 'jose';
import * as oidc from 'openid-client';
import sharp from 'sharp';
import { decodeImage } from '../palm/index.js';
import { clientAuthentication, READER_FRAME_LIMITS, sealEnvelope } from './envelope.js';

/**
 * Fits captures into an envelope the way a reader would: small enough ones go as they are;
 * palm crops are re-encoded losslessly (grey PNG), whole-hand photos scaled down to JPEG at most
 * READER_FRAME_LIMITS.maxWidth wide (the ROI is scale-normalised, so nothing is lost that the
 * engine uses). Each image within the frame budget, and all of them within the envelope's.
 */
export async function fitForEnvelope(images: Uint8Array[], kind: 'roi' | 'hand'): Promise<Uint8Array[]> {
  const budget = Math.min(
    READER_FRAME_LIMITS.maxBytes,
    Math.floor(READER_FRAME_LIMITS.maxTotalBytes / Math.max(1, images.length)),
  );
  const widest = READER_FRAME_LIMITS.maxWidth;
  return Promise.all(
    images.map(async (bytes) => {
      if (bytes.length <= budget) return bytes;
      const raster = await decodeImage(bytes);
      const input = () =>
        sharp(Buffer.from(raster.data), {
          raw: { width: raster.width, height: raster.height, channels: raster.channels as 1 | 3 | 4 },
        });
      if (kind === 'roi') {
        const png = await input().png({ compressionLevel: 9 }).toBuffer();
        if (png.length <= budget) return png;
      }
      for (const [scale, quality] of [
        [1, 80],
        [1, 70],
        [0.8, 70],
        [0.7, 70],
        [0.625, 65],
      ] as const) {
        const jpeg = await input()
          .resize({ width: Math.min(Math.round(widest * scale), raster.width) })
          .jpeg({ quality, mozjpeg: true })
          .toBuffer();
        if (jpeg.length <= budget) return jpeg;
      }
      throw new Error('a capture is too large for an envelope even scaled down; send fewer images');
    }),
  );
}

/**
 * What a reader does to sign a person in: discover the provider, fetch its capture key, seal
 * the captures in an envelope, start CIBA with it, and collect the tokens. `palmid reader signin`
 * uses it; so can a device maker's own reader software (it needs only openid-client and jose).
 */
export interface ReaderKeyFile {
  client_id: string;
  tenant?: string;
  key: JWK;
}

export interface ReaderSignInResult {
  ok: boolean;
  error?: string;
  error_description?: string;
  sub?: string;
  email?: string;
  acr?: string;
  amr?: string[];
  ms: number;
}

/** A reader's view of the provider: discovery and the capture key, fetched once and reused. */
export interface ReaderSession {
  config: oidc.Configuration;
  captureKey: JWK;
  issuer: string;
  reader: ReaderKeyFile;
}

export async function connectReader(issuer: string, reader: ReaderKeyFile): Promise<ReaderSession> {
  const issuerUrl = new URL(issuer);
  const insecure = issuerUrl.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined;
  const readerKey = (await importJWK(reader.key, 'ES256')) as CryptoKey;
  // private_key_jwt with the assertion every palmid reader signs (src/readers/readerCrypto.ts).
  const clientAuth: oidc.ClientAuth = async (as, client, body) => {
    const params = { clientId: client.client_id, audience: as.issuer, readerKey, kid: reader.key.kid };
    for (const [name, value] of Object.entries(await clientAuthentication(params))) body.set(name, value);
  };
  const config = await oidc.discovery(
    issuerUrl,
    reader.client_id,
    { token_endpoint_auth_signing_alg: 'ES256' },
    clientAuth,
    insecure,
  );
  const jwks = (await (await fetch(config.serverMetadata().jwks_uri!)).json()) as { keys: JWK[] };
  const captureKey = jwks.keys.find((k) => k.use === 'enc' && k.alg === 'ECDH-ES');
  if (!captureKey) throw new Error('the provider publishes no capture key');
  return { config, captureKey, issuer: config.serverMetadata().issuer, reader };
}

export async function readerSignIn(input: {
  issuer: string;
  reader: ReaderKeyFile;
  images: Uint8Array[];
  kind?: 'roi' | 'hand';
  pin?: string;
  acr?: string;
  scope?: string;
  bindingMessage?: string;
  /**
   * The challenge the reader asked the hand to follow after the ready frame (images[0]), for
   * presentation attack detection: the provider checks the frames that follow show it.
   */
  challenge?: 'spread' | 'close' | 'tilt';
  /** Reuse a connection made by connectReader (readers keep one; `ms` then excludes discovery). */
  session?: ReaderSession;
}): Promise<ReaderSignInResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  let session = input.session;
  if (!session) {
    try {
      session = await connectReader(input.issuer, input.reader);
    } catch (err) {
      return { ok: false, error: 'discovery_failed', error_description: (err as Error).message, ms: ms() };
    }
  }
  const { config } = session;
  const envelope = await sealEnvelope({
    readerId: input.reader.client_id,
    issuer: session.issuer,
    readerKey: input.reader.key,
    captureKey: session.captureKey,
    images: await fitForEnvelope(input.images, input.kind ?? 'roi'),
    kind: input.kind ?? 'roi',
    ...(input.challenge ? { pad: { challenge: input.challenge } } : {}),
  });
  try {
    const started = await oidc.initiateBackchannelAuthentication(config, {
      scope: input.scope ?? 'openid email',
      login_hint_token: envelope,
      ...(input.acr ? { acr_values: input.acr } : {}),
      ...(input.pin ? { user_code: input.pin } : {}),
      ...(input.bindingMessage ? { binding_message: input.bindingMessage } : {}),
    });
    // palmid completes the request before it answers, so the first token request is made at
    // once; polling at the announced interval is the fallback for a provider that does not.
    let tokens: Awaited<ReturnType<typeof oidc.genericGrantRequest>>;
    try {
      tokens = await oidc.genericGrantRequest(config, 'urn:openid:params:grant-type:ciba', {
        auth_req_id: started.auth_req_id,
      });
    } catch (err) {
      if ((err as { error?: string }).error !== 'authorization_pending') throw err;
      tokens = await oidc.pollBackchannelAuthenticationGrant(config, started);
    }
    const claims = tokens.claims()!;
    let email = claims.email as string | undefined;
    // The email comes from userinfo when the email scope was asked for (it is not in the ID token).
    const scopes = (input.scope ?? 'openid email').split(' ');
    if (!email && scopes.includes('email') && tokens.access_token) {
      email = (await oidc.fetchUserInfo(config, tokens.access_token, claims.sub).catch(() => undefined))?.email as
        | string
        | undefined;
    }
    return {
      ok: true,
      sub: claims.sub,
      ...(email ? { email } : {}),
      acr: claims.acr as string,
      amr: claims.amr as string[],
      ms: ms(),
    };
  } catch (err) {
    const e = err as {
      error?: string;
      error_description?: string;
      message: string;
      cause?: { error?: string; error_description?: string };
    };
    return {
      ok: false,
      error: e.error ?? e.cause?.error ?? 'request_failed',
      error_description: e.error_description ?? e.cause?.error_description ?? e.message,
      ms: ms(),
    };
  }
}
