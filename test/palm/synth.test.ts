import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compare, prepareImage, templatesFromSamples } from '../../src/palm/index.js';
import { encodePng, synthesize } from '../../src/palm/devtools/index.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('synthetic palms', () => {
  it('are deterministic: same seed, same pixels and bytes; another seed or sample differs', () => {
    for (const kind of ['roi', 'hand'] as const) {
      const size = kind === 'hand' ? 320 : 128;
      const a = synthesize(kind, 3, 2, { seed: 77, size });
      const b = synthesize(kind, 3, 2, { seed: 77, size });
      expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
      expect(sha(encodePng(a))).toBe(sha(encodePng(b)));
      expect(Buffer.from(synthesize(kind, 3, 2, { seed: 78, size }).data).equals(Buffer.from(a.data))).toBe(false);
      expect(Buffer.from(synthesize(kind, 3, 3, { seed: 77, size }).data).equals(Buffer.from(a.data))).toBe(false);
    }
  });

  it('genuine pairs score above impostor pairs', async () => {
    const ids = [1, 2, 3, 4, 5];
    const samples = [1, 2, 3];
    const labels: number[] = [];
    const prepared = await Promise.all(
      ids.flatMap((id) =>
        samples.map((s) => {
          labels.push(id);
          return prepareImage(synthesize('roi', id, s, { seed: 2024 }), { kind: 'roi' });
        }),
      ),
    );
    for (const method of ['palm', 'compcode'] as const) {
      const ts = await templatesFromSamples(prepared, method);
      const genuine: number[] = [];
      const impostor: number[] = [];
      for (let i = 0; i < ts.length; i++)
        for (let j = i + 1; j < ts.length; j++)
          (labels[i] === labels[j] ? genuine : impostor).push(compare(ts[i]!, ts[j]!));
      expect(genuine.length).toBe(15);
      expect(impostor.length).toBe(90);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(genuine)).toBeGreaterThan(mean(impostor) + 0.15);
      expect(Math.min(...genuine)).toBeGreaterThan(Math.max(...impostor));
    }
  });
});
