import { describe, expect, it } from 'vitest';
import { compare, prepareImage, templatesFromSamples } from '../../src/palm/index.js';
import { detectKind, drawLandmarks, encodePng, locateRoi, synthHand } from '../../src/palm/devtools/index.js';

// The valley path (the rig's locator): synthetic hands are drawings that the hand landmark
// model does not take for hands, so these tests run without it (landmarks: false).
describe('ROI from whole-hand images (valley path)', () => {
  const hands = [
    [1, 1],
    [1, 2],
    [2, 1],
  ].map(([id, s]) => synthHand(id!, s!, { seed: 31 }));

  it('finds the hand, five fingertips, the four valleys and a confident ROI at any rotation', async () => {
    for (const img of hands) {
      expect(detectKind(img)).toBe('hand');
      const r = await locateRoi(img, 'auto', 128, { landmarks: false });
      expect(r.kind).toBe('hand');
      expect(r.roi.width).toBe(128);
      expect(r.confidence).toBeGreaterThanOrEqual(0.9);
      expect(r.landmarks!.fingertips.length).toBe(5);
      expect(r.landmarks!.valleys.length).toBe(4);
      // the ROI square lies inside the image
      for (const p of r.landmarks!.square) {
        expect(p.x).toBeGreaterThanOrEqual(0);
        expect(p.y).toBeGreaterThanOrEqual(0);
        expect(p.x).toBeLessThan(img.width);
        expect(p.y).toBeLessThan(img.height);
      }
    }
  });

  it('cuts the same palm area from two photos of one hand (genuine beats impostor)', async () => {
    const prepared = await Promise.all(hands.map((h) => prepareImage(h, { kind: 'hand', landmarks: false })));
    const [a, b, c] = await templatesFromSamples(prepared);
    expect(compare(a!, b!)).toBeGreaterThan(compare(a!, c!) + 0.1);
    expect(compare(a!, b!)).toBeGreaterThan(compare(b!, c!) + 0.1);
  });

  it('still locates a palm when the fingers are held together, with low confidence and a request to spread them', async () => {
    const img = synthHand(1, 1, { seed: 31, fingers: 'closed' });
    const r = await locateRoi(img, 'auto', 128, { landmarks: false });
    expect(r.kind).toBe('hand');
    expect(r.landmarks!.valleys.length).toBeLessThan(3);
    expect(r.confidence).toBeLessThanOrEqual(0.3);
    const q = (await prepareImage(img, { kind: 'hand', landmarks: false })).quality;
    expect(q.acceptable).toBe(false);
    expect(q.reasons.find((x) => x.factor === 'roiConfidence')!.message).toMatch(/spread the fingers/);
  });

  it('draws a debug image with the landmarks', async () => {
    const r = await locateRoi(hands[0]!, 'hand', 128, { landmarks: false });
    const dbg = drawLandmarks(hands[0]!, r.landmarks!);
    expect(dbg.channels).toBe(3);
    let changed = 0;
    for (let i = 0; i < dbg.data.length; i++) if (dbg.data[i] !== hands[0]!.data[i]) changed++;
    expect(changed).toBeGreaterThan(500);
    expect(encodePng(dbg).subarray(1, 4).toString()).toBe('PNG');
  });
});
