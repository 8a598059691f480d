import { CompactEncrypt, CompactSign, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ENVELOPE_FRAME_BUDGET,
  ENVELOPE_IMAGE_BUDGET,
  ENVELOPE_TYPE,
  EnvelopeError,
  MAX_BACKCHANNEL_BODY_BYTES,
  MAX_ENVELOPE_BYTES,
  MAX_ENVELOPE_WINDOW_SECONDS,
  MAX_IMAGES,
  openEnvelope,
  READER_FRAME_LIMITS,
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

  /** A payload as a reader signs it, with `extra` claims over the usual ones. */
  const claims = (extra: Record<string, unknown>) => {
    const iat = Math.floor(Date.now() / 1000);
    return JSON.stringify({
      iss: READER,
      aud: ISSUER,
      jti: 'jti-12345678',
      iat,
      exp: iat + 30,
      images: ['AQID'],
      kind: 'hand',
      ...extra,
    });
  };

  it('reads pad.challenge: one of the challenges, or the envelope is malformed', async () => {
    for (const challenge of ['close', 'tilt', 'spread'])
      expect(await failure(open(await sealRaw(claims({ pad: { challenge } })))), challenge).toBe('accepted');
    expect(await failure(open(await sealRaw(claims({ pad: { sensor: 'ir' } }))))).toBe('accepted');
    for (const pad of [{ challenge: 'jump' }, { challenge: 3 }, { challenge: null }, 'close', ['close'], null])
      expect(await failure(open(await sealRaw(claims({ pad })))), JSON.stringify(pad)).toBe('malformed');
    const opened = await open(
      await sealEnvelope({
        readerId: READER,
        issuer: ISSUER,
        readerKey: readerPrivate,
        captureKey: capturePublic,
        images: [image, image],
        kind: 'hand',
        pad: { challenge: 'close' },
      }),
    );
    expect(opened.pad).toEqual({ challenge: 'close' });
  });

  it('holds a PAD sequence (5 frames of 32 KB) and refuses images over the frame or envelope budget', async () => {
    // Explicit bounds: the body limit follows from the image budget and the encodings' growth.
    expect(MAX_IMAGES).toBe(5);
    expect(ENVELOPE_IMAGE_BUDGET).toBeGreaterThanOrEqual(MAX_IMAGES * 30 * 1024);
    expect(MAX_BACKCHANNEL_BODY_BYTES).toBeLessThan(400 * 1024);
    expect(READER_FRAME_LIMITS).toMatchObject({
      maxBytes: ENVELOPE_FRAME_BUDGET,
      maxTotalBytes: ENVELOPE_IMAGE_BUDGET,
    });
    const frame = (n: number) => new Uint8Array(n).map((_, i) => (i * 2654435761) >>> 24); // incompressible enough
    const full = Array.from({ length: MAX_IMAGES }, () => frame(ENVELOPE_IMAGE_BUDGET / MAX_IMAGES));
    const token = await sealEnvelope({
      readerId: READER,
      issuer: ISSUER,
      readerKey: readerPrivate,
      captureKey: capturePublic,
      images: full,
      kind: 'hand',
    });
    expect(token.length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
    expect((await open(token)).images).toHaveLength(MAX_IMAGES);
    const b64 = (n: number) => Buffer.from(frame(n)).toString('base64');
    // a reader that ignores the budget: refused by the provider, whatever it signed
    expect(await failure(open(await sealRaw(claims({ images: [b64(ENVELOPE_FRAME_BUDGET + 1)] }))))).toBe('too_large');
    expect(await failure(open(await sealRaw(claims({ images: [b64(ENVELOPE_FRAME_BUDGET)] }))))).toBe('accepted');
    const over = Array.from({ length: MAX_IMAGES }, () => b64(Math.ceil((ENVELOPE_IMAGE_BUDGET + 1) / MAX_IMAGES)));
    expect(await failure(open(await sealRaw(claims({ images: over }))))).toBe('too_large');
    // and the reader side refuses to seal it
    await expect(
      sealEnvelope({
        readerId: READER,
        issuer: ISSUER,
        readerKey: readerPrivate,
        captureKey: capturePublic,
        images: [frame(ENVELOPE_FRAME_BUDGET + 1)],
        kind: 'hand',
      }),
    ).rejects.toThrow(/at most/);
  });
});
