import { describe, expect, it } from 'vitest';
import {
  PalmTemplateError,
  TEMPLATE_VERSION,
  compare,
  deserializeTemplate,
  embeddingSimilarity,
  fuse,
  prepareImage,
  serializeTemplate,
  templatesFromSamples,
  type PalmTemplate,
} from '../../src/palm/index.js';
import { matchCodes, synthRoi, setSimd, shiftCode } from '../../src/palm/devtools/index.js';

async function templates(
  ids: number[],
  samples: number[],
  method: 'palm' | 'compcode' = 'palm',
): Promise<PalmTemplate[]> {
  const prepared = await Promise.all(
    ids.flatMap((id) => samples.map((s) => prepareImage(synthRoi(id, s, { seed: 5 }), { kind: 'roi' }))),
  );
  return templatesFromSamples(prepared, method);
}

describe('templates', () => {
  it('have an L2-normalised fixed-length embedding and a bit-packed code', async () => {
    const [t] = await templates([1], [1]);
    expect(t!.embedding).toBeInstanceOf(Float32Array);
    expect(t!.embedding.length).toBe(128);
    let n = 0;
    for (const v of t!.embedding) n += v * v;
    expect(Math.sqrt(n)).toBeCloseTo(1, 4);
    expect(t!.code.length).toBe(t!.planes * t!.grid);
    expect(t!.planes).toBe(9);
    expect(t!.model).toMatch(/^palm-gabor-v2@/);
  });

  it('serialise and deserialise to identical templates that compare identically', async () => {
    const [a, b] = await templates([1], [1, 2]);
    const bytes = serializeTemplate(a!);
    const back = deserializeTemplate(bytes);
    expect(back.version).toBe(TEMPLATE_VERSION);
    expect(back.method).toBe(a!.method);
    expect(back.model).toBe(a!.model);
    expect(Array.from(back.embedding)).toEqual(Array.from(a!.embedding));
    expect(Array.from(back.code)).toEqual(Array.from(a!.code));
    expect(back.quality).toBeCloseTo(a!.quality, 6);
    expect(compare(back, b!)).toBe(compare(a!, b!));
    // a copy at an odd offset inside a bigger buffer reads the same
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    expect(Array.from(deserializeTemplate(shifted.subarray(3)).code)).toEqual(Array.from(a!.code));
  });

  it('reject other versions, foreign bytes and truncation with a reason', async () => {
    const [a] = await templates([1], [1]);
    const bytes = serializeTemplate(a!);
    const v2 = Uint8Array.from(bytes);
    new DataView(v2.buffer).setUint16(4, 2, true);
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof PalmTemplateError ? e.reason : 'other';
      }
      return 'none';
    };
    expect(err(() => deserializeTemplate(v2))).toBe('unsupported_version');
    expect(err(() => deserializeTemplate(Buffer.from('not a template at all, no')))).toBe('bad_magic');
    expect(err(() => deserializeTemplate(bytes.subarray(0, bytes.length - 4)))).toBe('truncated');
    expect(err(() => deserializeTemplate(bytes.subarray(0, 10)))).toBe('truncated');
  });

  it('compare is symmetric, 1 for identical templates, and refuses mixed methods', async () => {
    const [a, b] = await templates([1], [1, 2]);
    const [c] = await templates([1], [1], 'compcode');
    expect(compare(a!, a!)).toBe(1);
    expect(compare(a!, b!)).toBeCloseTo(compare(b!, a!), 12);
    expect(compare(a!, b!)).toBeGreaterThanOrEqual(0);
    expect(compare(a!, b!)).toBeLessThanOrEqual(1);
    expect(() => compare(a!, c!)).toThrow(PalmTemplateError);
  });

  it('the WebAssembly SIMD and TypeScript kernels agree exactly', async () => {
    const ts = await templates([1, 2], [1, 2]);
    const pairs = [
      [0, 1],
      [0, 2],
      [1, 3],
      [2, 3],
    ] as const;
    const simd = pairs.map(([i, j]) => matchCodes(ts[i]!.code, ts[j]!.code, ts[i]!.planes, 'exhaustive'));
    setSimd(false);
    try {
      const js = pairs.map(([i, j]) => matchCodes(ts[i]!.code, ts[j]!.code, ts[i]!.planes, 'exhaustive'));
      expect(js).toEqual(simd);
    } finally {
      setSimd(true);
    }
  });

  it('the shift search finds a translation at the edge of its range', async () => {
    const [a, other] = await templates([6, 7], [1]);
    for (const [dx, dy] of [
      [3, -3],
      [-3, 2],
      [2, 3],
      [0, -3],
    ] as const) {
      const b = shiftCode(a!.code, a!.planes, dx, dy);
      const climb = matchCodes(a!.code, b, a!.planes, 'climb', [6, 3]);
      const full = matchCodes(a!.code, b, a!.planes, 'exhaustive');
      expect([climb.dx, climb.dy]).toEqual([dx, dy]);
      expect(climb.distance).toBe(full.distance);
      expect(climb.distance).toBeLessThan(0.05);
      // an unrelated palm stays near chance at every shift
      expect(matchCodes(other!.code, b, a!.planes, 'exhaustive').distance).toBeGreaterThan(0.3);
    }
  });

  it('fusing samples of one palm gives a reference closer to a new sample than a single one', async () => {
    const ts = await templates([3], [1, 2, 3, 4, 5]);
    const others = await templates([4, 5], [1]);
    const ref = fuse(ts.slice(0, 4));
    const probe = ts[4]!;
    expect(ref.samples).toBe(4);
    expect(ref.code.length).toBe(probe.code.length);
    const fused = compare(ref, probe);
    const singles = ts.slice(0, 4).map((t) => compare(t, probe));
    expect(fused).toBeGreaterThanOrEqual(Math.min(...singles));
    expect(fused).toBeGreaterThan(singles.reduce((a, b) => a + b) / singles.length - 0.02);
    for (const o of others) expect(compare(ref, o)).toBeLessThan(fused);
    let n = 0;
    for (const v of ref.embedding) n += v * v;
    expect(Math.sqrt(n)).toBeCloseTo(1, 4);
    expect(embeddingSimilarity(ref, probe)).toBeGreaterThan(
      Math.max(...others.map((o) => embeddingSimilarity(ref, o))),
    );
  });
});
