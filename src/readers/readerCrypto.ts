/**
 * What a palm reader signs and encrypts, in one place for every reader: the private_key_jwt client
 * assertion (JWS ES256) and the capture envelope (JWS ES256 inside a compact JWE, ECDH-ES + A256GCM,
 * to the provider's capture key), with the envelope's type and budget. The CLI reader
 * (src/readers/client.ts) and the tests use it through src/readers/envelope.ts; the kiosk page
 * gets this module compiled, at /static/reader-crypto.js (src/http/routes/static.ts). The provider
 * side, openEnvelope, is in src/readers/envelope.ts.
 *
 * It needs nothing but WebCrypto and jose, which is passed in, so the same code runs in Node (the
 * `jose` package) and in a browser (jose's browser build, served at /static/jose/index.js):
 *   import * as jose from '/static/jose/index.js';
 *   const { clientAssertion, sealEnvelope } = readerCrypto(jose);
 */
import type * as Jose from 'jose';

/** The JWS `typ` of a signed capture. */
export const ENVELOPE_TYPE = 'palm-capture+jwt';
/**
 * How many images one envelope may carry: a presentation attack detection sequence, the ready
 * frame (images[0]) and up to 4 frames of the hand following the challenge (`pad.challenge`).
 */
export const MAX_IMAGES = 5;
/** One image of an envelope at most (raw bytes): a 640 px wide JPEG of a hand weighs 20 to 30 KB. */
export const ENVELOPE_FRAME_BUDGET = 40 * 1024;
/** All the images of one envelope (raw bytes): MAX_IMAGES frames of 32 KB. */
export const ENVELOPE_IMAGE_BUDGET = 160 * 1024;
/**
 * What the encodings make of the images' bytes: base64 in the JSON claims, base64url of the JWS
 * payload, base64url of the JWE ciphertext, each 4/3 (a form-encoded JWE adds nothing: its
 * characters are all unreserved).
 */
const ENCODING_GROWTH = (4 / 3) ** 3;
/** The longest `token.length` the provider reads: the images grown by the encodings, and 8 KB for the rest. */
export const MAX_ENVELOPE_BYTES = Math.ceil(ENVELOPE_IMAGE_BUDGET * ENCODING_GROWTH) + 8 * 1024;
/**
 * The backchannel authentication request's body at most (about 395 KB): one envelope and 8 KB for
 * the other form parameters (client assertion, scope, binding message, PIN). Other endpoints keep
 * oidc-provider's own limit.
 */
export const MAX_BACKCHANNEL_BODY_BYTES = MAX_ENVELOPE_BYTES + 8 * 1024;
/**
 * The whole time, on the provider's clock, during which one envelope is accepted: from `iat`
 * minus the clock skew allowed to readers (a reader's clock a little ahead) until `exp`.
 */
export const MAX_ENVELOPE_WINDOW_SECONDS = 60;
/** How far ahead of the provider's clock a reader's `iat` may be (readers keep time by NTP). */
export const MAX_CLOCK_SKEW_SECONDS = 5;
/** `exp - iat` at most: what the window leaves once the skew is allowed for. */
export const MAX_ENVELOPE_LIFETIME_SECONDS = MAX_ENVELOPE_WINDOW_SECONDS - MAX_CLOCK_SKEW_SECONDS;
/** `exp - iat` when the reader does not say. */
export const DEFAULT_ENVELOPE_LIFETIME_SECONDS = 30;
/** The widest frame a reader sends: the engine normalises the palm's scale, so wider adds bytes, not detail. */
export const READER_FRAME_WIDTH = 640;
/** The `client_assertion_type` of private_key_jwt (RFC 7523). */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What a reader signs: the captures and their context. */
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
  /**
   * Presentation attack detection: `challenge` is what the reader asked the hand to do after the
   * ready frame (images[0]): 'close' (bring the fingers together) or 'tilt' (turn the hand), or
   * 'spread'; the provider checks that the frames that follow show it (src/palm/pad). A value
   * outside these makes the envelope malformed. Other members: signals from the reader's own
   * sensors (not read by the provider). For a client that requires PAD (palmid_require_pad) the
   * challenge is mandatory, and only images[0] is identified: the reader puts the ready frame
   * first, and PAD checks that the frames after it show that same hand moving.
   */
  pad?: { challenge?: 'spread' | 'close' | 'tilt'; [signal: string]: unknown };
}

/** The parts of jose a reader uses (the `jose` package, or its browser build). */
export type JoseApi = Pick<typeof Jose, 'SignJWT' | 'CompactSign' | 'CompactEncrypt' | 'importJWK'>;

/** The reader's private key: a WebCrypto key (`kid` given apart), or a private JWK (its own `kid`). */
export type ReaderKey = CryptoKey | Jose.JWK;

export interface ClientAssertionInput {
  clientId: string;
  /** The provider's issuer URL. */
  audience: string;
  readerKey: ReaderKey;
  kid?: string;
}

export interface SealInput {
  /** The reader's client_id. */
  readerId: string;
  /** The provider's issuer URL. */
  issuer: string;
  readerKey: ReaderKey;
  kid?: string;
  /** The provider's capture key: a public JWK from its /jwks (use `enc`, alg `ECDH-ES`). */
  captureKey: Jose.JWK;
  images: Uint8Array[];
  kind: 'roi' | 'hand';
  lifetimeSeconds?: number;
  /** `iat`, seconds since the epoch (default: now). */
  now?: number;
  pad?: CaptureClaims['pad'];
}

/** Standard base64 (the envelope's images), from bytes, without Node's Buffer. */
export function base64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000) as unknown as number[]);
  return btoa(binary);
}

/** Throws when images break the envelope's budget (count, each, in all): the provider would refuse them. */
export function checkImageBudget(sizes: number[]): void {
  if (sizes.length === 0 || sizes.length > MAX_IMAGES)
    throw new RangeError(`an envelope carries 1 to ${MAX_IMAGES} images`);
  if (sizes.some((n) => n > ENVELOPE_FRAME_BUDGET))
    throw new RangeError(`an envelope image may weigh at most ${ENVELOPE_FRAME_BUDGET} bytes`);
  if (sizes.reduce((a, b) => a + b, 0) > ENVELOPE_IMAGE_BUDGET)
    throw new RangeError(`an envelope's images may weigh at most ${ENVELOPE_IMAGE_BUDGET} bytes in all`);
}

/** The bytes a standard base64 string decodes to (its length and padding only). */
export function base64Bytes(text: string): number {
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.floor((text.length * 3) / 4) - pad;
}

function isJwk(key: ReaderKey): key is Jose.JWK {
  return typeof (key as Jose.JWK).kty === 'string';
}

export function readerCrypto(jose: JoseApi) {
  const signingKey = async (key: ReaderKey, kid: string | undefined) =>
    isJwk(key) ? { key: await jose.importJWK(key, 'ES256'), kid: kid ?? key.kid } : { key, kid };

  /** private_key_jwt (RFC 7523): a fresh, one-minute assertion for each request. */
  async function clientAssertion(input: ClientAssertionInput): Promise<string> {
    const { key, kid } = await signingKey(input.readerKey, input.kid);
    return new jose.SignJWT({})
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...(kid ? { kid } : {}) })
      .setIssuer(input.clientId)
      .setSubject(input.clientId)
      .setAudience(input.audience)
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(key);
  }

  /** The form parameters that authenticate a reader's request: its client_id and a fresh assertion. */
  async function clientAuthentication(input: ClientAssertionInput): Promise<Record<string, string>> {
    return {
      client_id: input.clientId,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: await clientAssertion(input),
    };
  }

  /**
   * The capture envelope: the captures signed by the reader's key, encrypted to the provider's
   * capture key, valid `lifetimeSeconds` (the provider accepts at most
   * MAX_ENVELOPE_LIFETIME_SECONDS), each jti once.
   */
  async function sealEnvelope(input: SealInput): Promise<string> {
    checkImageBudget(input.images.map((i) => i.length));
    const iat = input.now ?? Math.floor(Date.now() / 1000);
    const claims: CaptureClaims = {
      iss: input.readerId,
      aud: input.issuer,
      jti: crypto.randomUUID(),
      iat,
      exp: iat + (input.lifetimeSeconds ?? DEFAULT_ENVELOPE_LIFETIME_SECONDS),
      images: input.images.map(base64),
      kind: input.kind,
      ...(input.pad ? { pad: input.pad } : {}),
    };
    const payload = new TextEncoder().encode(JSON.stringify(claims));
    // Copies of the images are not left lying around longer than needed.
    claims.images.length = 0;
    const { key, kid } = await signingKey(input.readerKey, input.kid);
    const jws = await new jose.CompactSign(payload)
      .setProtectedHeader({ alg: 'ES256', typ: ENVELOPE_TYPE, ...(kid ? { kid } : {}) })
      .sign(key);
    payload.fill(0);
    // Only the public point is imported: the JWK's other members (use, key_ops, a stray `d`) play no part.
    const { kty, crv, x, y } = input.captureKey;
    const recipient = await jose.importJWK({ kty, crv, x, y }, 'ECDH-ES');
    return new jose.CompactEncrypt(new TextEncoder().encode(jws))
      .setProtectedHeader({
        alg: 'ECDH-ES',
        enc: 'A256GCM',
        cty: 'JWT',
        ...(input.captureKey.kid ? { kid: input.captureKey.kid } : {}),
      })
      .encrypt(recipient);
  }

  return { clientAssertion, clientAuthentication, sealEnvelope };
}
