// What a palm reader signs and encrypts: the private_key_jwt client assertion (JWS ES256) and the
// capture envelope (JWS ES256 inside a compact JWE, ECDH-ES + A256GCM, to the provider's capture
// key), built with jose on WebCrypto (browsers, Node ≥ 20, Deno). The reference for device makers;
// the server side is src/readers/envelope.ts (jose too).
//
// jose is passed in, so the same code runs in the page (jose's browser build, served by palmid at
// /static/jose/index.js) and in Node (the `jose` package):
//   import * as jose from '/static/jose/index.js';
//   const { clientAssertion, sealEnvelope } = readerCrypto(jose);

export const ENVELOPE_TYPE = 'palm-capture+jwt';

/** Standard base64 (the envelope's images), from bytes. */
export function base64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** @param {typeof import('jose')} jose */
export function readerCrypto(jose) {
  /** private_key_jwt (RFC 7523): a fresh, one-minute assertion for each request. */
  function clientAssertion({ clientId, audience, privateKey, kid }) {
    return new jose.SignJWT({})
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(audience)
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(privateKey);
  }

  /**
   * The capture envelope (see src/readers/envelope.ts): the captures signed by the reader's key,
   * encrypted to the provider's capture key (a public JWK from /jwks), valid `lifetimeSeconds`
   * (at most 60), each jti once.
   */
  async function sealEnvelope({ readerId, issuer, privateKey, kid, captureKey, images, kind, lifetimeSeconds = 30 }) {
    const iat = Math.floor(Date.now() / 1000);
    const claims = {
      iss: readerId,
      aud: issuer,
      jti: crypto.randomUUID(),
      iat,
      exp: iat + lifetimeSeconds,
      images: images.map(base64),
      kind,
    };
    const payload = new TextEncoder().encode(JSON.stringify(claims));
    claims.images.length = 0;
    const jws = await new jose.CompactSign(payload)
      .setProtectedHeader({ alg: 'ES256', typ: ENVELOPE_TYPE, kid })
      .sign(privateKey);
    payload.fill(0);
    const { kty, crv, x, y } = captureKey;
    const recipient = await jose.importJWK({ kty, crv, x, y }, 'ECDH-ES');
    return new jose.CompactEncrypt(new TextEncoder().encode(jws))
      .setProtectedHeader({
        alg: 'ECDH-ES',
        enc: 'A256GCM',
        cty: 'JWT',
        ...(captureKey.kid ? { kid: captureKey.kid } : {}),
      })
      .encrypt(recipient);
  }

  return { clientAssertion, sealEnvelope };
}
