import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  bestMatch,
  compare,
  compareProbe,
  decodeImage,
  extractProbe,
  Probe,
  PROBE_VARIANTS,
  prepareImage,
  probesFromSamples,
  templatesFromSamples,
  type PreparedSample,
} from '../../src/palm/index.js';
import { encodePng, reposeSquare, synthRoi } from '../../src/palm/devtools/index.js';

const TONGJI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/tongji-roi');
const tongji = async (palm: number, s: number) =>
  prepareImage(
    await decodeImage(
      fs.readFileSync(path.join(TONGJI, `${String(palm).padStart(3, '0')}_${String(s).padStart(2, '0')}.bmp`)),
    ),
    { kind: 'roi' },
  );

describe('probes: a capture with small turns and zooms', () => {
  const roiOf = (id: number, sample: number) => prepareImage(synthRoi(id, sample, { seed: 41 }), { kind: 'roi' });

  it('reposes a square about its centre (no change leaves it alone, a turn and its inverse come back inside)', async () => {
    const img = (await roiOf(1, 1)).roi.roi;
    expect(Array.from(reposeSquare(img, { turnDeg: 0, zoom: 1 }).data)).toEqual(Array.from(img.data));
    const moved = reposeSquare(img, { turnDeg: 3, zoom: 1.05 });
    const back = reposeSquare(moved, { turnDeg: -3, zoom: 1 / 1.05 });
    let diffBack = 0;
    let diffMoved = 0;
    let count = 0;
    // the central square (the corners are filled from the clamped edges)
    for (let y = 24; y < 104; y++)
      for (let x = 24; x < 104; x++) {
        diffBack += Math.abs(back.data[y * 128 + x]! - img.data[y * 128 + x]!);
        diffMoved += Math.abs(moved.data[y * 128 + x]! - img.data[y * 128 + x]!);
        count++;
      }
    expect(diffBack / count).toBeLessThan(diffMoved / count / 2);
  });

  // Synthetic palms hardly mind a change of scale (their lines are broad), real ones do: the zoom
  // case uses a real palm when the dev set is there.
  const synthetic = async (id: number, sample: number) => roiOf(id, sample);
  it.each([
    ['turned by 4 degrees', { turnDeg: 4, zoom: 1 }, synthetic, true],
    ['8 % further from the camera (real palm)', { turnDeg: 0, zoom: 0.92 }, tongji, fs.existsSync(TONGJI)],
  ] as const)(
    'recovers the score of a capture %s, without lifting a stranger to a genuine score',
    async (_, pose, load, run) => {
      if (!run) return;
      const [ref] = await templatesFromSamples([await load(1, 1)]);
      // A second visit of palm 1 in a different pose under the reader.
      const visit: PreparedSample = await load(1, 2);
      const moved = { ...visit, roi: { ...visit.roi, roi: reposeSquare(visit.roi.roi, pose) } };
      const [asEnrolled, inPose, stranger] = await probesFromSamples([visit, moved, await load(2, 2)]);
      expect(inPose!.madeVariants).toHaveLength(PROBE_VARIANTS.length);

      const plain = compare(inPose!.template, ref!);
      const asProbe = compareProbe(inPose!, ref!);
      // The pose costs the plain comparison a good part of the genuine score; the probe gets it back.
      expect(plain).toBeLessThan(compareProbe(asEnrolled!, ref!) - 0.05);
      expect(asProbe).toBeGreaterThan(plain + 0.05);
      // A stranger stays far below a genuine palm.
      expect(compareProbe(stranger!, ref!)).toBeLessThan(asProbe - 0.15);
    },
  );
});

describe('bestMatch: variants only when the capture as taken is not enough', () => {
  const roi = (id: number, sample: number) => synthRoi(id, sample, { seed: 43 });

  it('decides as if every variant were tried, and makes them only for captures that need them', async () => {
    const references = await templatesFromSamples(
      await Promise.all([1, 2, 3].map((id) => prepareImage(roi(id, 1), { kind: 'roi' }))),
    );
    const png = (id: number, sample: number) => encodePng(roi(id, sample));
    const threshold = 0.35;

    const { probe: genuine } = await extractProbe(png(2, 2), { kind: 'roi' });
    const g = await bestMatch(genuine, references, threshold);
    expect(g.index).toBe(1);
    expect(g.score).toBeGreaterThanOrEqual(threshold);
    expect(genuine.madeVariants).toBeNull(); // decided on the capture as taken

    const { probe: stranger } = await extractProbe(png(9, 2), { kind: 'roi' });
    const s = await bestMatch(stranger, references, threshold);
    expect(stranger.madeVariants).toHaveLength(PROBE_VARIANTS.length);
    // The same best score as comparing every variant against every reference.
    expect(s.score).toBe(Math.max(...references.map((r) => compareProbe(stranger, r))));
    expect(s.score).toBeLessThan(threshold);
    expect(() => compareProbe(new Probe(genuine.template, async () => []), references[0]!)).toThrow(/not made/);
  });
});
