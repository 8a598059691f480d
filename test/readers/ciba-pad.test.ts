/**
 * Liveness (PAD) in reader sign-ins: one frame is marked unchecked (amr palm only), a sequence that
 * PAD accepts adds the PAD amr; a reader client registered with palmid_require_pad refuses a
 * single frame before any palm is read, and refuses a still moved rigidly in front of the camera.
 * Whole-hand COEP dev photos (skipped when absent). The "live" sequence is PAD's verdict forced:
 * the dev set has no live video (test/palm/pad.test.ts covers the decision itself).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AMR_PAD } from '../../src/acr.js';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { attackSequence } from '../../src/palm/devtools/pad-attacks.js';
import { handModelEntries } from '../../src/palm/hand/detector.js';
import type { RasterImage } from '../../src/palm/image.js';
import { readerSignIn, type ReaderKeyFile } from '../../src/readers/client.js';
import { addReader } from '../../src/readers/registry.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const pad = vi.hoisted(() => ({ forceLive: false }));
vi.mock('../../src/palm/pad/index.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/palm/pad/index.js')>();
  return {
    ...real,
    checkLiveness: (frames: RasterImage[], opts?: Parameters<typeof real.checkLiveness>[1]) =>
      pad.forceLive
        ? Promise.resolve({ verdict: 'live', reasons: [], frames: frames.length, framesWithHand: frames.length })
        : real.checkLiveness(frames, opts),
  };
});

const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const ready = fs.existsSync(COEP) && handModelEntries() !== null;
const photo = (s: number) => fs.readFileSync(path.join(COEP, `030_0${s}.jpg`));

describe.skipIf(!ready).each(databaseKinds)('PAD marking of reader sign-ins ($name)', (kind) => {
  let server: TestServer;
  let gate: ReaderKeyFile;
  let strictGate: ReaderKeyFile;
  let anaId: string;
  const signIn = (reader: ReaderKeyFile, images: Uint8Array[]) =>
    readerSignIn({ issuer: server.issuer, reader, images, kind: 'hand' });

  beforeAll(async () => {
    server = await startTestServer(kind);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    const ana = await createPerson(server.db, { email: 'ana@example.org', role: 'user' });
    anaId = ana.id;
    await recordConsent(server.db, ana.id, 'office', 1);
    await enrolPalm(new BiometricContext(server.db, server.master), {
      personId: ana.id,
      tenantId: 'office',
      hand: 'right',
      captures: [1, 2, 3].map(photo),
      kind: 'hand',
    });
    gate = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Gate' });
    strictGate = await addReader(server.db, server.provider(), {
      tenantId: 'office',
      name: 'Strict gate',
      requirePad: true,
    });
  }, 180_000);
  afterAll(async () => server?.stop());

  it('marks a one-frame sign-in as not checked: amr palm only', async () => {
    pad.forceLive = false;
    const result = await signIn(gate, [photo(4)]);
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, sub: anaId, acr: 'urn:palmid:acr:palm' });
    expect(result.amr).toEqual(['palm']);
  }, 60_000);

  it('adds the PAD amr when the sequence passes PAD', async () => {
    pad.forceLive = true;
    try {
      const result = await signIn(gate, [photo(4), photo(2)]);
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true, sub: anaId, acr: 'urn:palmid:acr:palm' });
      expect(result.amr).toEqual(['palm', AMR_PAD]);
      const strict = await signIn(strictGate, [photo(4), photo(2)]);
      expect(strict, JSON.stringify(strict)).toMatchObject({ ok: true, amr: ['palm', AMR_PAD] });
    } finally {
      pad.forceLive = false;
    }
  }, 60_000);

  it('a client that requires PAD refuses a one-frame sign-in before reading it', async () => {
    const result = await signIn(strictGate, [photo(4)]);
    expect(result.ok).toBe(false);
    expect(result.error).toBe('access_denied');
    expect(result.error_description).toMatch(/liveness/);
  }, 60_000);

  it('a client that requires PAD refuses a still moved rigidly in front of the camera', async () => {
    const { data, info } = await sharp(photo(4)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const still: RasterImage = { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data) };
    // two frames: the envelope's image budget (READER_FRAME_LIMITS) holds two whole-hand frames at most
    const frames = await attackSequence('rigid', [still], 2, 'ciba');
    const jpegs = await Promise.all(
      frames.map(
        async (f) =>
          new Uint8Array(
            await sharp(Buffer.from(f.data), { raw: { width: f.width, height: f.height, channels: 3 } })
              .resize(400)
              .jpeg({ quality: 60 })
              .toBuffer(),
          ),
      ),
    );
    const refused = await signIn(strictGate, jpegs);
    expect(refused.ok).toBe(false);
    expect(refused.error_description).toMatch(/liveness not shown \(planar_motion/);
    // the same frames at a reader whose client does not need PAD: signed in, marked unchecked
    const marked = await signIn(gate, jpegs);
    expect(marked, JSON.stringify(marked)).toMatchObject({ ok: true, sub: anaId, amr: ['palm'] });
  }, 120_000);
});
