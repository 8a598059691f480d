import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/palm/index.js';
import {
  detCurve,
  detSvg,
  equalErrorRate,
  fnmrAtFmr,
  getFeatureModel,
  MODELS_DIR,
  rank1,
} from '../../src/palm/devtools/index.js';

describe('metrics', () => {
  it('EER is 0 for separated scores and 0.5 for identical distributions', () => {
    expect(equalErrorRate([0.8, 0.9, 0.7], [0.1, 0.2, 0.3]).eer).toBe(0);
    expect(equalErrorRate([0.5, 0.5], [0.5, 0.5]).eer).toBe(0.5);
  });

  it('EER, FNMR at FMR count the overlap', () => {
    // 10 genuine, one of them below every impostor; 100 impostors, one above most genuine
    const genuine = [0.9, 0.85, 0.8, 0.8, 0.75, 0.7, 0.7, 0.65, 0.6, 0.05];
    const impostor = Array.from({ length: 100 }, (_, i) => i / 1000);
    impostor[99] = 0.72;
    const { eer } = equalErrorRate(genuine, impostor);
    expect(eer).toBeCloseTo(0.1, 6); // accept at >= 0.099...: FNMR 0.1, FMR 0.01 -> max 0.1
    expect(fnmrAtFmr(genuine, impostor, 0.01).fnmr).toBeCloseTo(0.1, 6);
    // FMR 1e-3 with 100 impostors means no false match at all: threshold above 0.72
    expect(fnmrAtFmr(genuine, impostor, 1e-3).fnmr).toBeCloseTo(0.5, 6);
    const det = detCurve(genuine, impostor);
    expect(det[0]!.fmr).toBe(1);
    expect(det.at(-1)!.fnmr).toBe(1);
    for (let i = 1; i < det.length; i++) {
      expect(det[i]!.fmr).toBeLessThanOrEqual(det[i - 1]!.fmr);
      expect(det[i]!.fnmr).toBeGreaterThanOrEqual(det[i - 1]!.fnmr);
    }
  });

  it('rank-1 leave-one-out counts a probe as a hit only when its best match is a mate', () => {
    const ids = ['a', 'a', 'b', 'b', 'c'];
    const s = [
      [0, 0.9, 0.1, 0.1, 0.1],
      [0.9, 0, 0.1, 0.95, 0.1],
      [0.1, 0.1, 0, 0.8, 0.1],
      [0.1, 0.95, 0.8, 0, 0.1],
      [0.1, 0.1, 0.1, 0.1, 0],
    ];
    // probes a0 (hit), a1 (miss: b1 0.95), b0 (hit), b1 (miss) ; c has no mate and is skipped
    expect(rank1(ids, (i, j) => s[i]![j]!)).toBe(0.5);
  });

  it('draws a DET curve as SVG', () => {
    const svg = detSvg([{ label: 'x <1>', points: detCurve([0.9, 0.8], [0.1, 0.85]) }]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('<path d="M');
    expect(svg).toContain('x &lt;1&gt;');
  });
});

describe('shipped model', () => {
  it('matches its manifest (sha256, shapes) and runs on the CPU', async () => {
    const man = loadManifest().models[0]!;
    const bytes = readFileSync(path.join(MODELS_DIR, man.file));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(man.sha256);
    expect(bytes.length).toBeLessThan(4 * 1024 * 1024);
    const model = await getFeatureModel();
    expect(model.roiSize).toBe(128);
    const x = new Float32Array(128 * 128).map((_, i) => ((i * 7919) % 255) / 255);
    const { resp, embedding } = await model.run([x, x]);
    expect(resp.length).toBe(2 * model.orientations * model.grid * model.grid);
    expect(embedding.length).toBe(2 * model.embeddingDim);
    expect(model.embeddingDim).toBeLessThanOrEqual(512);
    // a uniform image has (numerically) zero response: the filters have no DC component
    const flat = await model.run([new Float32Array(128 * 128).fill(0.6)]);
    expect(Math.max(...Array.from(flat.resp, Math.abs))).toBeLessThan(1e-4);
  });
});
