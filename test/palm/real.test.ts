import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compare, prepareSample, templatesFromSamples } from '../../src/palm/index.js';
import { realDataDir } from './helpers.js';

const tongji = path.join(realDataDir, 'tongji-roi');
const coep = path.join(realDataDir, 'coep-hands');

describe.skipIf(!existsSync(tongji))('real palms: tongji-roi (dev set, a few identities)', () => {
  it('genuine pairs score above impostor pairs, across the two sessions', async () => {
    const files: { id: string; file: string }[] = [];
    for (const id of ['001', '002', '003', '004'])
      for (const s of ['01', '02', '11', '12']) files.push({ id, file: path.join(tongji, `${id}_${s}.bmp`) });
    const prepared = await Promise.all(files.map((f) => prepareSample(readFileSync(f.file), { kind: 'auto' })));
    expect(prepared.every((p) => p.roi.kind === 'roi')).toBe(true);
    const ts = await templatesFromSamples(prepared);
    let minG = 1;
    let maxI = 0;
    for (let i = 0; i < ts.length; i++)
      for (let j = i + 1; j < ts.length; j++) {
        const s = compare(ts[i]!, ts[j]!);
        if (files[i]!.id === files[j]!.id) minG = Math.min(minG, s);
        else maxI = Math.max(maxI, s);
      }
    expect(minG).toBeGreaterThan(maxI);
  });
});

describe.skipIf(!existsSync(coep))('real palms: coep-hands (dev set, whole hands)', () => {
  it('finds the palm in hand photos and matches the same hand', async () => {
    const names = ['001_01', '001_02', '002_01', '002_02'];
    const prepared = await Promise.all(
      names.map((n) => prepareSample(readFileSync(path.join(coep, `${n}.jpg`)), { kind: 'auto' })),
    );
    for (const p of prepared) {
      expect(p.roi.kind).toBe('hand');
      expect(p.roi.confidence).toBeGreaterThan(0.9);
      expect(p.quality.score).toBeGreaterThan(0.5);
    }
    const [a1, a2, b1, b2] = await templatesFromSamples(prepared);
    const genuine = Math.min(compare(a1!, a2!), compare(b1!, b2!));
    const impostor = Math.max(compare(a1!, b1!), compare(a1!, b2!), compare(a2!, b1!), compare(a2!, b2!));
    expect(genuine).toBeGreaterThan(impostor);
  });
});
