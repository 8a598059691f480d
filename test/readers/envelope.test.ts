import { CompactEncrypt, CompactSign, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ENVELOPE_TYPE,
  EnvelopeError,
  MAX_ENVELOPE_WINDOW_SECONDS,
  openEnvelope,
  sealEnvelope,
} from '../../src/readers/envelope.js';

const ISSUER = 'http://localhost:3000';
const READER = 'rdr_1';

/** openEnvelope's checks on what the reader signed: the payload's shape and the acceptance window. */
describe('capture envelope claims', () => {
  let readerPrivate: JWK;
  let readerPublic: JWK;
  let capturePrivate: JWK;
  let capturePublic: JWK;
  const image = new Uint8Array([1, 2, 3]);

  beforeAll(async () => {
    const reader = await generateKeyPair('ES256', { extractable: true });
    readerPrivate = { ...(await exportJWK(reader.privateKey)), kid: 'r1' };
    readerPublic = { ...(await exportJWK(reader.publicKey)), kid: 'r1' };
    const capture = await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
    capturePrivate = { ...(await exportJWK(capture.privateKey)), kid: 'c1' };
    capturePublic = { ...(await exportJWK(capture.publicKey)), kid: 'c1' };
  });

  const open = (token: string, now?: number) =>
    openEnvelope(token, {
      captureKeys: [capturePrivate],
      readerId: READER,
      readerKeys: [readerPublic],
      issuer: ISSUER,
      ...(now === undefined ? {} : { now }),
    });

  /** A properly signed and encrypted envelope around any payload text. */
  async function sealRaw(payload: string): Promise<string> {
    const jws = await new CompactSign(Buffer.from(payload))
      .setProtectedHeader({ alg: 'ES256', typ: ENVELOPE_TYPE, kid: 'r1' })
      .sign(await importJWK(readerPrivate, 'ES256'));
    return new CompactEncrypt(Buffer.from(jws))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'JWT', kid: 'c1' })
      .encrypt(await importJWK(capturePublic, 'ECDH-ES'));
  }
  const seal = (iat: number, lifetimeSeconds: number) =>
    sealEnvelope({
      readerId: READER,
      issuer: ISSUER,
      readerKey: readerPrivate,
      captureKey: capturePublic,
      images: [image],
      kind: 'roi',
      now: iat,
      lifetimeSeconds,
    });
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (e: unknown) => (e instanceof EnvelopeError ? e.failure : `unexpected ${String(e)}`),
    );

  it('refuses a signed payload that is JSON but not an object (null, array, number, string) as malformed', async () => {
    for (const payload of ['null', '[]', '42', '"text"', 'true']) {
      expect(await failure(open(await sealRaw(payload))), payload).toBe('malformed');
    }
  });

  it('accepts one envelope for at most 60 s of the provider’s clock, clock skew included', async () => {
    const t = 1_900_000_000;
    // The most a reader can get: iat as far ahead as the skew allows, exp as late as the lifetime allows.
    const widest = await seal(t + 5, 55);
    expect(await failure(open(widest, t - 1))).toBe('expired'); // not valid yet
    expect(await failure(open(widest, t))).toBe('accepted');
    expect(await failure(open(widest, t + MAX_ENVELOPE_WINDOW_SECONDS - 1))).toBe('accepted');
    expect(await failure(open(widest, t + MAX_ENVELOPE_WINDOW_SECONDS))).toBe('expired');
    // Anything wider is refused: a longer lifetime, or an iat further ahead.
    expect(await failure(open(await seal(t, 56), t))).toBe('lifetime_too_long');
    expect(await failure(open(await seal(t + 6, 30), t))).toBe('expired');
    // The window the old checks allowed (iat 15 s ahead, 60 s of lifetime: 75 s) is gone.
    expect(await failure(open(await seal(t + 15, 60), t + 10))).not.toBe('accepted');
    // An ordinary envelope (30 s) is accepted through its lifetime.
    const usual = await seal(t, 30);
    expect(await failure(open(usual, t + 29))).toBe('accepted');
    expect(await failure(open(usual, t + 30))).toBe('expired');
  });
});
