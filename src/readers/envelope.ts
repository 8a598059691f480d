import { randomUUID } from 'node:crypto';
import {
  CompactEncrypt,
  CompactSign,
  compactDecrypt,
  compactVerify,
  decodeProtectedHeader,
  importJWK,
  type JWK,
} from 'jose';

/**
 * The capture envelope a reader sends as CIBA `login_hint_token`: a JWS signed by the reader's
 * key (ES256) over the captures and their context, encrypted (JWE, ECDH-ES + A256GCM) to the
 * provider's capture key. Only the provider can read the images; only the reader can have sent
 * them; `jti` and a short acceptance window stop replays.
 */
export const ENVELOPE_TYPE = 'palm-capture+jwt';
/**
 * The whole time, on the provider's clock, during which one envelope is accepted: from `iat`
 * minus the clock skew allowed to readers (a reader's clock a little ahead) until `exp`.
 */
export const MAX_ENVELOPE_WINDOW_SECONDS = 60;
/** How far ahead of the provider's clock a reader's `iat` may be (readers keep time by NTP). */
export const MAX_CLOCK_SKEW_SECONDS = 5;
/** `exp - iat` at most: what the window leaves once the skew is allowed for. */
export const MAX_ENVELOPE_LIFETIME_SECONDS = MAX_ENVELOPE_WINDOW_SECONDS - MAX_CLOCK_SKEW_SECONDS;
export const MAX_ENVELOPE_BYTES = 8 * 1024 * 1024;
const MAX_IMAGES = 5;

export interface CaptureClaims {
  /** The reader (its client_id). */
  iss: string;
  /** The provider's issuer URL. */
  aud: string;
  jti: string;
  iat: number;
  exp: number;
  /** Base64 images (PNG, JPEG or BMP). */
  images: string[];
  kind: 'roi' | 'hand';
  /** Optional presentation-attack signals from the reader's own sensors. */
  pad?: Record<string, unknown>;
}

export type EnvelopeFailure =
  | 'not_encrypted'
  | 'undecryptable'
  | 'bad_signature'
  | 'malformed'
  | 'wrong_reader'
  | 'wrong_audience'
  | 'expired'
  | 'lifetime_too_long'
  | 'too_large';

export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
  constructor(
    readonly failure: EnvelopeFailure,
    message: string,
  ) {
    super(message);
  }
}

/** Reader side: sign the captures with the reader's private key, encrypt to the capture key. */
export async function sealEnvelope(input: {
  readerId: string;
  issuer: string;
  readerKey: JWK;
  captureKey: JWK;
  images: Uint8Array[];
  kind: 'roi' | 'hand';
  lifetimeSeconds?: number;
  now?: number;
  pad?: Record<string, unknown>;
}): Promise<string> {
  const iat = input.now ?? Math.floor(Date.now() / 1000);
  const claims: CaptureClaims = {
    iss: input.readerId,
    aud: input.issuer,
    jti: randomUUID(),
    iat,
    exp: iat + (input.lifetimeSeconds ?? 30),
    images: input.images.map((i) => Buffer.from(i).toString('base64')),
    kind: input.kind,
    ...(input.pad ? { pad: input.pad } : {}),
  };
  const jws = await new CompactSign(Buffer.from(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'ES256', typ: ENVELOPE_TYPE, kid: input.readerKey.kid })
    .sign(await importJWK(input.readerKey, 'ES256'));
  return new CompactEncrypt(Buffer.from(jws))
    .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'JWT', kid: input.captureKey.kid })
    .encrypt(await importJWK(input.captureKey, 'ECDH-ES'));
}

// Imported keys, per JWK object: the provider's key set and the cached client records hand out
// the same objects until a rotation or a client change, and importing costs a key parse each time.
const imported = new WeakMap<JWK, Promise<CryptoKey | Uint8Array>>();
function importOnce(jwk: JWK, alg: string): Promise<CryptoKey | Uint8Array> {
  let key = imported.get(jwk);
  if (!key) {
    key = importJWK(jwk, alg);
    key.catch(() => imported.delete(jwk));
    imported.set(jwk, key);
  }
  return key;
}

/** Provider side: decrypt, verify the reader's signature and check the claims. */
export async function openEnvelope(
  token: string,
  input: { captureKeys: JWK[]; readerId: string; readerKeys: JWK[]; issuer: string; now?: number },
): Promise<CaptureClaims> {
  if (token.length > MAX_ENVELOPE_BYTES) throw new EnvelopeError('too_large', 'the capture envelope is too large');
  if (token.split('.').length !== 5)
    throw new EnvelopeError('not_encrypted', 'the capture envelope must be a JWE encrypted to the capture key');
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new EnvelopeError('malformed', 'the capture envelope is not a JWE');
  }
  if (header.alg !== 'ECDH-ES' || header.enc !== 'A256GCM')
    throw new EnvelopeError('not_encrypted', 'the capture envelope must use ECDH-ES with A256GCM');

  let jws: string | undefined;
  for (const key of orderByKid(input.captureKeys, header.kid)) {
    try {
      jws = Buffer.from((await compactDecrypt(token, await importOnce(key, 'ECDH-ES'))).plaintext).toString();
      break;
    } catch {
      // try the next (e.g. a capture key retired by a rotation)
    }
  }
  if (!jws) throw new EnvelopeError('undecryptable', 'the capture envelope was not encrypted to this provider');

  let payload: Uint8Array | undefined;
  let signedHeader;
  try {
    signedHeader = decodeProtectedHeader(jws);
  } catch {
    throw new EnvelopeError('malformed', 'the capture envelope does not contain a signed capture');
  }
  if (signedHeader.alg !== 'ES256' || signedHeader.typ !== ENVELOPE_TYPE)
    throw new EnvelopeError('malformed', 'the signed capture has the wrong type or algorithm');
  for (const key of orderByKid(input.readerKeys, signedHeader.kid)) {
    try {
      payload = (await compactVerify(jws, await importOnce(key, 'ES256'))).payload;
      break;
    } catch {
      // next key
    }
  }
  if (!payload) throw new EnvelopeError('bad_signature', "the capture is not signed by this reader's key");

  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload).toString());
  } catch {
    throw new EnvelopeError('malformed', 'the signed capture is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new EnvelopeError('malformed', 'the signed capture is not a JSON object');
  const claims = parsed as CaptureClaims;
  const now = input.now ?? Math.floor(Date.now() / 1000);
  if (typeof claims.jti !== 'string' || claims.jti.length < 8 || claims.jti.length > 128)
    throw new EnvelopeError('malformed', 'jti missing');
  if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp))
    throw new EnvelopeError('malformed', 'iat and exp are required');
  if (claims.iss !== input.readerId) throw new EnvelopeError('wrong_reader', 'the capture was made for another reader');
  if (claims.aud !== input.issuer)
    throw new EnvelopeError('wrong_audience', 'the capture is addressed to another provider');
  if (claims.exp - claims.iat > MAX_ENVELOPE_LIFETIME_SECONDS)
    throw new EnvelopeError('lifetime_too_long', `an envelope may live at most ${MAX_ENVELOPE_LIFETIME_SECONDS} s`);
  if (claims.exp <= now || claims.iat > now + MAX_CLOCK_SKEW_SECONDS)
    throw new EnvelopeError('expired', 'the capture envelope has expired or is not valid yet');
  if (
    !Array.isArray(claims.images) ||
    claims.images.length === 0 ||
    claims.images.length > MAX_IMAGES ||
    !claims.images.every((i) => typeof i === 'string')
  ) {
    throw new EnvelopeError('malformed', `an envelope carries 1 to ${MAX_IMAGES} images`);
  }
  if (claims.kind !== 'roi' && claims.kind !== 'hand') throw new EnvelopeError('malformed', 'kind must be roi or hand');
  return claims;
}

function orderByKid(keys: JWK[], kid: unknown): JWK[] {
  return [...keys].sort((a, b) => Number(b.kid === kid) - Number(a.kid === kid));
}
