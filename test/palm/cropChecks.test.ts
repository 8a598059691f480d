import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PalmImageError, decodeImage, prepareImage, prepareSample, type GreyImage } from '../../src/palm/index.js';
import {
  ALL_FAULTS,
  PALM_LAYOUT,
  REFUSED_FAULTS,
  coverCrop,
  cropFault,
  encodePng,
  prng,
  fingersCrop,
  layoutCells,
  measureCrop,
  motionBlurCrop,
  synthRoi,
  toGrey,
  turnCrop,
} from '../../src/palm/devtools/index.js';
import { realDataDir } from './helpers.js';

// A seed apart from PALM_LAYOUT's (11) and from the one the limits were chosen on.
const good: GreyImage[] = [];
for (let id = 0; id < 15; id++) for (let s = 0; s < 2; s++) good.push(toGrey(synthRoi(id, s, { seed: 4242 })));
// Every check, the ones enrolment and sign-in do not refuse on included (measured, not refused).
const faultOf = (img: GreyImage) => cropFault(measureCrop(img), ALL_FAULTS)?.fault ?? null;
const rate = (imgs: GreyImage[], fault: string) => imgs.filter((i) => faultOf(i) === fault).length / imgs.length;
const toPng = (g: GreyImage) =>
  encodePng({ width: g.width, height: g.height, channels: 1, data: Uint8Array.from(g.data, (v) => Math.round(v)) });

describe('failed-crop checks', () => {
  it('PALM_LAYOUT is the mean layout of the synthetic palms it names (seed 11, 40 x 4)', () => {
    const sum = new Float64Array(PALM_LAYOUT.length);
    for (let id = 0; id < 40; id++)
      for (let s = 0; s < 4; s++) {
        const c = layoutCells(toGrey(synthRoi(id, s, { seed: 11 })));
        for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + c[i]!;
      }
    const norm = Math.hypot(...sum);
    for (let i = 0; i < sum.length; i++) expect(sum[i]! / norm).toBeCloseTo(PALM_LAYOUT[i]!, 3);
  });

  it('pass good synthetic crops (nearly all: some drawn with strong shading read as covered)', () => {
    expect(good.filter((g) => faultOf(g) !== null).length).toBeLessThanOrEqual(4);
  });

  it('refuse fingers in view, with that reason', () => {
    const r = prng(1);
    const faulty = good.map((g, i) => fingersCrop(g, good[(i + 7) % good.length]!, r));
    expect(rate(faulty, 'fingers_in_view')).toBeGreaterThanOrEqual(0.9);
  });

  it('refuse a sleeve or the background over 25-50 % of the crop as a partial palm', () => {
    const r = prng(2);
    const sleeves = good.map((g, i) => coverCrop(g, 0.25 + (0.25 * i) / good.length, 'sleeve', r));
    const beyond = good.map((g, i) => coverCrop(g, 0.25 + (0.25 * i) / good.length, 'background', r));
    expect(rate(sleeves, 'partial_palm')).toBeGreaterThanOrEqual(0.7);
    expect(rate(beyond, 'partial_palm')).toBeGreaterThanOrEqual(0.7);
    // whatever the reason, covered crops are refused (at least 95 %: a cover measured under
    // CROP_LIMITS.minCoverFraction, e.g. where its edge falls on dark palm lines, is let pass)
    const passed = [...sleeves, ...beyond].filter((g) => faultOf(g) === null).length;
    expect(passed).toBeLessThanOrEqual(Math.floor(0.05 * (sleeves.length + beyond.length)));
  });

  it('refuse by default only fingers and covers: turned and motion-blurred crops are measured, not refused', () => {
    expect([...REFUSED_FAULTS].sort()).toEqual(['fingers_in_view', 'partial_palm']);
    const turned = good.map((g, i) => turnCrop(g, (i % 2 ? 1 : -1) * 45));
    expect(turned.some((g) => faultOf(g) === 'rotated')).toBe(true);
    for (const g of turned) expect(cropFault(measureCrop(g))?.fault ?? null).not.toBe('rotated');
    const r = prng(5);
    const blurred = good.map((g) => motionBlurCrop(g, 21, r() * 180, r));
    for (const g of blurred) expect(cropFault(measureCrop(g))?.fault ?? null).not.toBe('motion_blur');
  });

  it('refuse palms turned by 30-60 degrees either way as rotated, and measure the turn', () => {
    const turned = good.map((g, i) => turnCrop(g, (i % 2 ? 1 : -1) * (30 + (i % 4) * 10)));
    expect(rate(turned, 'rotated')).toBeGreaterThanOrEqual(0.5);
    const m = measureCrop(turnCrop(good[0]!, 40));
    expect(Math.abs(m.turnDeg - 40)).toBeLessThanOrEqual(10);
  });

  it('sit in the pipeline: a failed crop is a PalmImageError with its reason, unless the gate is off', async () => {
    const bytes = toPng(fingersCrop(good[2]!, good[9]!, prng(5)));
    const refused = await prepareSample(bytes, { kind: 'roi' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PalmImageError);
    expect((refused as PalmImageError).reason).toBe('fingers_in_view');
    expect((refused as PalmImageError).message).toMatch(/fingers/);
    await expect(prepareSample(bytes, { kind: 'roi', cropChecks: false })).resolves.toBeDefined();
    await expect(prepareSample(toPng(good[2]!), { kind: 'roi' })).resolves.toBeDefined();
  });

  const tongji = path.join(realDataDir, 'tongji-roi');
  it.skipIf(!existsSync(tongji))('pass the good contactless dev crops, refuse their failed copies', async () => {
    const files = readdirSync(tongji)
      .filter((f) => f.endsWith('.bmp'))
      .sort()
      .filter((_, i) => i % 5 === 0);
    const rois: GreyImage[] = [];
    for (const f of files) {
      const s = await prepareImage(await decodeImage(readFileSync(path.join(tongji, f))), {
        kind: 'roi',
        cropChecks: false,
      });
      rois.push(s.roi.roi);
    }
    expect(rois.filter((g) => faultOf(g) !== null).length).toBeLessThanOrEqual(1);
    const r = prng(6);
    expect(
      rate(
        rois.map((g, i) => fingersCrop(g, rois[(i + 3) % rois.length]!, r)),
        'fingers_in_view',
      ),
    ).toBeGreaterThan(0.9);
    const covered = rois.map((g) => coverCrop(g, 0.35, 'sleeve', r));
    expect(covered.filter((g) => faultOf(g) !== null).length / covered.length).toBeGreaterThan(0.9);
    // the motion-blur limit was chosen on this set: a 21 px blur is refused as such on most crops
    const blurred = rois.map((g, i) => motionBlurCrop(g, 21, (i * 53) % 180, r));
    expect(rate(blurred, 'motion_blur')).toBeGreaterThanOrEqual(0.5);
  });
});
