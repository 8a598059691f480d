import * as jose from 'jose';
import type { JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { openEnvelope } from '../../src/readers/envelope.js';
// The kiosk page's own code, run here on Node's WebCrypto with the jose package (the page gets
// jose's browser build from /static/jose/index.js).
import { readerCrypto } from '../../views/static/reader-crypto.js';

const { clientAssertion, sealEnvelope } = readerCrypto(jose);

/** The browser reader's JWS and JWE must be what the provider (jose) accepts. */
describe("the kiosk's envelope and client assertion (jose on WebCrypto)", () => {
  async function keys() {
    const reader = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const readerPublic = { ...(await jose.exportJWK(reader.publicKey)), kid: 'kiosk-1', alg: 'ES256' };
    const capture = await jose.generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
    const capturePrivate = {
      ...(await jose.exportJWK(capture.privateKey)),
      kid: 'cap-1',
      alg: 'ECDH-ES',
      use: 'enc',
    } as JWK;
    const capturePublic = {
      ...(await jose.exportJWK(capture.publicKey)),
      kid: 'cap-1',
      alg: 'ECDH-ES',
      use: 'enc',
    } as JWK;
    return { reader, readerPublic, capturePrivate, capturePublic };
  }

  it('seals an envelope that openEnvelope decrypts and verifies, images intact', async () => {
    const k = await keys();
    const image = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256);
    const token = await sealEnvelope({
      readerId: 'rdr_1',
      issuer: 'http://localhost:3000',
      privateKey: k.reader.privateKey,
      kid: 'kiosk-1',
      captureKey: k.capturePublic,
      images: [image],
      kind: 'hand',
    });
    expect(token.split('.')).toHaveLength(5);
    expect(token.split('.')[1]).toBe(''); // direct key agreement: no encrypted key
    expect(jose.decodeProtectedHeader(token)).toMatchObject({
      alg: 'ECDH-ES',
      enc: 'A256GCM',
      cty: 'JWT',
      kid: 'cap-1',
      epk: { kty: 'EC', crv: 'P-256' },
    });
    const claims = await openEnvelope(token, {
      captureKeys: [k.capturePrivate],
      readerId: 'rdr_1',
      readerKeys: [k.readerPublic],
      issuer: 'http://localhost:3000',
    });
    expect(claims).toMatchObject({ iss: 'rdr_1', aud: 'http://localhost:3000', kind: 'hand' });
    expect(Buffer.from(claims.images[0]!, 'base64')).toEqual(Buffer.from(image));
    expect(claims.exp - claims.iat).toBe(30);
    const { plaintext } = await jose.compactDecrypt(token, await jose.importJWK(k.capturePrivate, 'ECDH-ES'));
    const inner = await jose.compactVerify(new TextDecoder().decode(plaintext), k.reader.publicKey);
    expect(inner.protectedHeader).toEqual({ alg: 'ES256', typ: 'palm-capture+jwt', kid: 'kiosk-1' });

    // Another reader's key, or another capture key, is refused.
    const other = await keys();
    await expect(
      openEnvelope(token, {
        captureKeys: [k.capturePrivate],
        readerId: 'rdr_1',
        readerKeys: [other.readerPublic],
        issuer: 'http://localhost:3000',
      }),
    ).rejects.toMatchObject({ failure: 'bad_signature' });
    await expect(
      openEnvelope(token, {
        captureKeys: [other.capturePrivate],
        readerId: 'rdr_1',
        readerKeys: [k.readerPublic],
        issuer: 'http://localhost:3000',
      }),
    ).rejects.toMatchObject({ failure: 'undecryptable' });
  });

  it('signs a private_key_jwt client assertion jose verifies', async () => {
    const k = await keys();
    const assertion = await clientAssertion({
      clientId: 'rdr_1',
      audience: 'http://localhost:3000',
      privateKey: k.reader.privateKey,
      kid: 'kiosk-1',
    });
    const { payload, protectedHeader } = await jose.jwtVerify(assertion, k.reader.publicKey, {
      issuer: 'rdr_1',
      audience: 'http://localhost:3000',
      subject: 'rdr_1',
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'kiosk-1', typ: 'JWT' });
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
  });
});
