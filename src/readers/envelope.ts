/**
 * The capture envelope a reader sends as CIBA `login_hint_token`: a JWS signed by the reader's
 * key (ES256) over the captures and their context, encrypted (JWE, ECDH-ES + A256GCM) to the
 * provider's capture key. Only the provider can read the images; only the reader can have sent
 * them; `jti` and a short acceptance window stop replays.
 */
import * as jose from 'jose';
import {
  compactDecrypt,
  compactVerify,
  decodeProtectedHeader,
  importJWK,
  type JWK,
  type ProtectedHeaderParameters,
} from 'jose';
import { CAMERA_FRAME_LIMITS, CHALLENGES, isChallenge } from '../palm/index.js';
import {
  base64Bytes,
  type CaptureClaims,
  checkImageBudget,
  ENVELOPE_FRAME_BUDGET,
  ENVELOPE_IMAGE_BUDGET,
  ENVELOPE_TYPE,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_ENVELOPE_BYTES,
  MAX_ENVELOPE_LIFETIME_SECONDS,
  MAX_IMAGES,
  READER_FRAME_WIDTH,
  readerCrypto,
} from './readerCrypto.js';
import { PalmidError, invalidRequest } from '../errors.js';

export {
  type CaptureClaims,
  ENVELOPE_FRAME_BUDGET,
  ENVELOPE_IMAGE_BUDGET,
  ENVELOPE_TYPE,
  MAX_BACKCHANNEL_BODY_BYTES,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_ENVELOPE_BYTES,
  MAX_ENVELOPE_LIFETIME_SECONDS,
  MAX_ENVELOPE_WINDOW_SECONDS,
  MAX_IMAGES,
} from './readerCrypto.js';

/**
 * Reader side, on Node's jose: the same code the kiosk page runs (src/readers/readerCrypto.ts).
 * `sealEnvelope` signs the captures with the reader's private key and encrypts them to the capture key.
 */
export const { clientAssertion, clientAuthentication, sealEnvelope } = readerCrypto(jose);

/**
 * The frames a reader puts in an envelope (rendered into the kiosk page, used by the CLI reader):
 * within the envelope's image budget (each frame, and all of them) and within what the provider
 * decodes from a camera.
 */
export const READER_FRAME_LIMITS = {
  maxBytes: Math.min(ENVELOPE_FRAME_BUDGET, CAMERA_FRAME_LIMITS.maxBytes),
  maxTotalBytes: ENVELOPE_IMAGE_BUDGET,
  maxImages: MAX_IMAGES,
  maxWidth: Math.min(READER_FRAME_WIDTH, CAMERA_FRAME_LIMITS.maxSide),
  maxSide: CAMERA_FRAME_LIMITS.maxSide,
  maxPixels: CAMERA_FRAME_LIMITS.maxPixels,
} as const;

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

export class EnvelopeError extends PalmidError {
  constructor(
    readonly failure: EnvelopeFailure,
    message: string,
  ) {
    super(message, invalidRequest());
  }
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
  let header: ProtectedHeaderParameters;
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
  let signedHeader: ProtectedHeaderParameters;
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
  try {
    checkImageBudget(claims.images.map(base64Bytes));
  } catch (err) {
    throw new EnvelopeError('too_large', (err as Error).message);
  }
  if (claims.kind !== 'roi' && claims.kind !== 'hand') throw new EnvelopeError('malformed', 'kind must be roi or hand');
  if (claims.pad !== undefined) {
    if (claims.pad === null || typeof claims.pad !== 'object' || Array.isArray(claims.pad))
      throw new EnvelopeError('malformed', 'pad must be an object');
    if (claims.pad.challenge !== undefined && !isChallenge(claims.pad.challenge))
      throw new EnvelopeError('malformed', `pad.challenge must be one of ${CHALLENGES.join(', ')}`);
  }
  return claims;
}

function orderByKid(keys: JWK[], kid: unknown): JWK[] {
  return [...keys].sort((a, b) => Number(b.kid === kid) - Number(a.kid === kid));
}
