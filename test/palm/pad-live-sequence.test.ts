/**
 * The SYNTHETIC "live hand following a challenge" generator (src/palm/devtools/live-sequence.ts):
 * its warps are pure and deterministic and leave the palm alone, and PAD reads its sequences as
 * fingers closing (the challenge's direction, joint angles changed), where a still moved rigidly
 * shows nothing of the kind. Real COEP photos and the hand models (skipped when absent).
 *
 * Whether the synthetic sequences pass PAD's thresholds is measured, not asserted: `npm run
 * bench:pad` reports the BPCER with the challenge (README, presentation attack detection).
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { closeHand, liveSequence } from '../../src/palm/devtools/live-sequence.js';
import { attackSequence } from '../../src/palm/devtools/pad-attacks.js';
import { detectHand, getHandModels, handModelEntries } from '../../src/palm/hand/detector.js';
import type { RasterImage } from '../../src/palm/image.js';
import { checkLiveness, handPasses, PAD } from '../../src/palm/pad/index.js';
import { realDataDir } from './helpers.js';

const COEP = path.join(realDataDir, 'coep-hands');
const ready = fs.existsSync(COEP) && handModelEntries() !== null;

async function photo(name: string): Promise<RasterImage> {
  const { data, info } = await sharp(fs.readFileSync(path.join(COEP, name)))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data) };
}

describe.skipIf(!ready)('synthetic live sequences (close)', () => {
  it('warps deterministically, changes nothing at share 0, and leaves the palm and wrist alone', async () => {
    const img = await photo('009_01.jpg');
    const pass = (await detectHand(img, (await getHandModels())!))!;
    const same = (a: RasterImage, b: RasterImage) => Buffer.from(a.data).equals(Buffer.from(b.data));
    expect(same(closeHand(img, pass.points, 0), img)).toBe(true);
    const closed = closeHand(img, pass.points, 0.85);
    expect(same(closeHand(img, pass.points, 0.85), closed)).toBe(true);
    // the wrist landmark's neighbourhood (the palm's far end) is untouched; the fingertips moved
    const at = (im: RasterImage, p: { x: number; y: number }) => {
      const o = (Math.round(p.y) * im.width + Math.round(p.x)) * im.channels;
      return [...im.data.subarray(o - 9 * im.channels, o + 9 * im.channels)];
    };
    const palm = [0, 0, 5, 17].map((i) => pass.points[i]!); // the palm's centre, wrist counted twice
    const centre = { x: palm.reduce((a, p) => a + p.x, 0) / 4, y: palm.reduce((a, p) => a + p.y, 0) / 4 };
    expect(at(closed, pass.points[0]!)).toEqual(at(img, pass.points[0]!));
    expect(at(closed, centre)).toEqual(at(img, centre));
    expect(at(closed, pass.points[20]!)).not.toEqual(at(img, pass.points[20]!)); // the little fingertip moved
    let moved = 0;
    for (let i = 0; i < closed.data.length; i++) if (closed.data[i] !== img.data[i]) moved++;
    expect(moved / closed.data.length).toBeGreaterThan(0.01);
  }, 120_000);

  it('is seeded: the same key gives the same frames, another key other frames', async () => {
    const img = await photo('011_01.jpg');
    const a = (await liveSequence(img, 'k1'))!;
    const b = (await liveSequence(img, 'k1'))!;
    const c = (await liveSequence(img, 'k2'))!;
    expect(a).toHaveLength(3);
    expect(a.map((f) => Buffer.from(f.data).equals(Buffer.from(b[a.indexOf(f)]!.data)))).toEqual([true, true, true]);
    expect(Buffer.from(a[1]!.data).equals(Buffer.from(c[1]!.data))).toBe(false);
  }, 60_000);

  it('PAD reads the fingers closing (asked close); a rigid still shows no motion and is not live', async () => {
    const people = ['012', '015', '018'];
    for (const id of people) {
      const img = await photo(`${id}_01.jpg`);
      const seq = (await liveSequence(img, `test:${id}`, { frames: 3 }))!;
      const passes = (await handPasses(seq))!;
      const asked = await checkLiveness(seq, { challenge: 'close', passes });
      // the fingers closed: joint angles changed, in the direction asked, more than a still's landmark noise
      expect(asked.framesWithHand, id).toBe(3);
      expect(asked.track!.articulation, id).toBeGreaterThan(PAD.minArticulation);
      expect(asked.track!.challenge!.change, id).toBeGreaterThan(1);
      // asked the opposite ('spread'), the same sequence did not follow it
      const opposite = await checkLiveness(seq, { challenge: 'spread', passes });
      expect(opposite.reasons, id).toContain('challenge_not_followed');

      const still = await attackSequence('rigid', [img], 3, `test:${id}`);
      const refused = await checkLiveness(still, { challenge: 'close' });
      expect(refused.verdict, id).toBe('not_live');
      expect(refused.reasons, id).toContain('challenge_not_followed');
      expect(refused.track!.challenge!.change, id).toBeLessThan(asked.track!.challenge!.change);
    }
  }, 180_000);
});
