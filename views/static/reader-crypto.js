// What a palm reader signs and encrypts, with WebCrypto only (browsers, Node ≥ 20, Deno): the
// compact JWS of the client assertion and of the capture, and the compact JWE (ECDH-ES + A256GCM)
// that carries the capture to the provider. The reference for device makers; the server side is
// src/readers/envelope.ts (jose).

const subtle = globalThis.crypto.subtle;
const encoder = new TextEncoder();

export const ENVELOPE_TYPE = 'palm-capture+jwt';

export function base64url(bytes) {
  return base64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function base64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function decodeBase64url(text) {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

const jsonPart = (value) => base64url(encoder.encode(JSON.stringify(value)));

/** Compact JWS, ES256. WebCrypto's ECDSA signature is already JOSE's r || s form. */
export async function signJws(header, payload, privateKey) {
  const input = `${jsonPart({ ...header, alg: 'ES256' })}.${jsonPart(payload)}`;
  const signature = new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, encoder.encode(input)));
  return `${input}.${base64url(signature)}`;
}

/** private_key_jwt (RFC 7523): a fresh, one-minute assertion for each request. */
export function clientAssertion({ clientId, audience, privateKey, kid }) {
  const now = Math.floor(Date.now() / 1000);
  return signJws({ typ: 'JWT', kid }, { iss: clientId, sub: clientId, aud: audience, jti: crypto.randomUUID(), iat: now, exp: now + 60 }, privateKey);
}

/**
 * Compact JWE with direct key agreement (RFC 7518 §4.6): an ephemeral P-256 key agrees a secret
 * with the recipient's key, Concat KDF (SHA-256) turns it into the A256GCM content key.
 */
export async function encryptJwe(plaintext, recipientJwk) {
  const recipient = await subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: recipientJwk.x, y: recipientJwk.y }, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  const ephemeral = await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
  const shared = new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: recipient }, ephemeral.privateKey, 256));
  const epk = await subtle.exportKey('jwk', ephemeral.publicKey);
  const enc = 'A256GCM';
  const cek = await concatKdf(shared, enc, 256);
  shared.fill(0);
  const header = jsonPart({ alg: 'ECDH-ES', enc, cty: 'JWT', ...(recipientJwk.kid ? { kid: recipientJwk.kid } : {}), epk: { kty: 'EC', crv: 'P-256', x: epk.x, y: epk.y } });
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await subtle.importKey('raw', cek, 'AES-GCM', false, ['encrypt']);
  cek.fill(0);
  const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: encoder.encode(header), tagLength: 128 }, key, plaintext));
  const ciphertext = sealed.subarray(0, sealed.length - 16);
  const tag = sealed.subarray(sealed.length - 16);
  return `${header}..${base64url(iv)}.${base64url(ciphertext)}.${base64url(tag)}`;
}

/** NIST SP 800-56A Concat KDF as JWA uses it: AlgorithmID = enc, empty PartyU/VInfo, one round for 256 bits. */
async function concatKdf(shared, algorithm, bits) {
  const alg = encoder.encode(algorithm);
  const input = new Uint8Array(4 + shared.length + 4 + alg.length + 4 + 4 + 4);
  const view = new DataView(input.buffer);
  let at = 0;
  view.setUint32(at, 1);
  at += 4;
  input.set(shared, at);
  at += shared.length;
  view.setUint32(at, alg.length);
  at += 4;
  input.set(alg, at);
  at += alg.length;
  view.setUint32(at, 0); // PartyUInfo
  at += 4;
  view.setUint32(at, 0); // PartyVInfo
  at += 4;
  view.setUint32(at, bits); // SuppPubInfo: key length in bits
  const digest = new Uint8Array(await subtle.digest('SHA-256', input));
  input.fill(0);
  return digest;
}

/**
 * The capture envelope (see src/readers/envelope.ts): the captures signed by the reader's key,
 * encrypted to the provider's capture key, valid `lifetimeSeconds` (at most 60), each jti once.
 */
export async function sealEnvelope({ readerId, issuer, privateKey, kid, captureKey, images, kind, lifetimeSeconds = 30 }) {
  const iat = Math.floor(Date.now() / 1000);
  const claims = { iss: readerId, aud: issuer, jti: crypto.randomUUID(), iat, exp: iat + lifetimeSeconds, images: images.map(base64), kind };
  const jws = await signJws({ typ: ENVELOPE_TYPE, kid }, claims, privateKey);
  claims.images.length = 0;
  return encryptJwe(encoder.encode(jws), captureKey);
}
