/**
 * The in-the-wild set's building blocks (bench/wild-set.ts) on real COEP photos: the hand cut
 * covers a hand and leaves the cloth and the rig's pegs behind, compositing keeps the hand and
 * replaces the background, and the set is reproducible byte for byte from its seed.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BACKGROUNDS,
  CONDITIONS,
  composite,
  cutHand,
  decodeRgb,
  loadBackground,
  makeImage,
  pegMask,
  rngFor,
  uniformImage,
  type BackgroundName,
  type HandCut,
  type LoadedBackground,
  type Rgb,
} from '../../bench/wild-set.js';
import { realDataDir } from './helpers.js';

const coep = path.join(realDataDir, 'coep-hands');
const count = (m: Uint8Array) => m.reduce((s, v) => s + v, 0);
const luma = (d: Uint8Array, i: number) => 0.299 * d[3 * i]! + 0.587 * d[3 * i + 1]! + 0.114 * d[3 * i + 2]!;
const condition = (name: string) => CONDITIONS.find((c) => c.name === name)!;
const IDENTITY = { scale: 1, angleDeg: 0, dx: 0, dy: 0 };

describe('seeded randomness', () => {
  it('one key gives one stream, another key another', () => {
    const a = rngFor('1/mixed/001_01.jpg');
    const b = rngFor('1/mixed/001_01.jpg');
    const c = rngFor('2/mixed/001_01.jpg');
    const xs = Array.from({ length: 8 }, () => a());
    expect(Array.from({ length: 8 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});

describe.skipIf(!existsSync(coep))('wild set from the COEP dev hands', () => {
  let img: Rgb;
  let cut: HandCut;
  beforeAll(async () => {
    img = await decodeRgb(readFileSync(path.join(coep, '001_01.jpg')));
    cut = cutHand(img);
  });

  it('the hand mask covers a hand-sized area, bright skin in, dark cloth out', () => {
    const n = img.width * img.height;
    const area = count(cut.mask) / n;
    expect(area).toBeGreaterThan(0.12);
    expect(area).toBeLessThan(0.5);
    let minX = img.width;
    let inside = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      if (cut.mask[i]) {
        minX = Math.min(minX, i % img.width);
        inside += luma(img.data, i);
      } else outside += luma(img.data, i);
    }
    // fingers reach well into the left half; the wrist leaves by the right edge
    expect(minX).toBeLessThan(img.width / 3);
    expect(cut.mask[Math.round(img.height / 2) * img.width + img.width - 1]).toBe(1);
    expect(inside / count(cut.mask)).toBeGreaterThan(90);
    expect(outside / (n - count(cut.mask))).toBeLessThan(40);
  });

  it('excludes the pegs: none of their colour is left on the cut hand', () => {
    expect(count(pegMask(img))).toBeGreaterThan(300); // the rig's pegs are in the photo
    const onBlack = composite(cut, uniformImage(img.width, img.height, 0), IDENTITY);
    expect(count(pegMask(onBlack))).toBeLessThan(30);
  });

  it('compositing keeps the hand pixels and replaces the background', () => {
    const bg: Rgb = { width: img.width, height: img.height, data: new Uint8Array(img.data.length) };
    for (let i = 0; i < img.width * img.height; i++) bg.data.set([30, 200, 90], 3 * i);
    const out = composite(cut, bg, IDENTITY);
    let handDiff = 0;
    let bgDiff = 0;
    let solid = 0;
    let clear = 0;
    for (let i = 0; i < img.width * img.height; i++) {
      const a = cut.alpha[i]!;
      for (let c = 0; c < 3; c++) {
        if (a === 1) handDiff = Math.max(handDiff, Math.abs(out.data[3 * i + c]! - cut.image.data[3 * i + c]!));
        if (a === 0) bgDiff = Math.max(bgDiff, Math.abs(out.data[3 * i + c]! - bg.data[3 * i + c]!));
      }
      if (a === 1) solid++;
      if (a === 0) clear++;
    }
    expect(solid).toBeGreaterThan(0.1 * img.width * img.height);
    expect(clear).toBeGreaterThan(0.4 * img.width * img.height);
    expect(handDiff).toBeLessThanOrEqual(1);
    expect(bgDiff).toBe(0);
    // a placement moves the hand
    const moved = composite(cut, bg, { scale: 0.9, angleDeg: 6, dx: 20, dy: -15 });
    let changed = 0;
    for (let i = 0; i < out.data.length; i++) if (moved.data[i] !== out.data[i]) changed++;
    expect(changed).toBeGreaterThan(0.05 * out.data.length);
  });

  it('same seed gives the same bytes, another seed other bytes (no rig, webcam quality)', async () => {
    const black = condition('black');
    const none = new Map<BackgroundName, LoadedBackground>();
    const a = await makeImage(img, cut, black, none, 1, '001_01.jpg');
    const b = await makeImage(img, cut, black, none, 1, '001_01.jpg');
    const c = await makeImage(img, cut, black, none, 2, '001_01.jpg');
    expect(a.jpeg.equals(b.jpeg)).toBe(true);
    expect(a.jpeg.equals(c.jpeg)).toBe(false);
    expect(a.record).toEqual(b.record);
    const decoded = await decodeRgb(a.jpeg);
    expect([decoded.width, decoded.height]).toEqual([640, 480]);
  });

  const surfaces = Object.keys(BACKGROUNDS) as BackgroundName[];
  it.skipIf(!surfaces.every((n) => existsSync(BACKGROUNDS[n].file)))(
    'the mixed condition draws a recorded background, reproducibly',
    async () => {
      const loaded = new Map<BackgroundName, LoadedBackground>();
      for (const n of surfaces) loaded.set(n, await loadBackground(n, 512));
      const mixed = condition('mixed');
      const a = await makeImage(img, cut, mixed, loaded, 7, '001_01.jpg');
      const b = await makeImage(img, cut, mixed, loaded, 7, '001_01.jpg');
      expect(a.jpeg.equals(b.jpeg)).toBe(true);
      expect(surfaces.map((n) => BACKGROUNDS[n].file)).toContain(a.record.background);
      expect(a.record.package).toMatch(/-backgrounds$/);
      const seen = new Set<string | null>();
      for (let s = 0; s < 12; s++)
        seen.add((await makeImage(img, cut, mixed, loaded, s, '001_01.jpg')).record.background);
      expect(seen.size).toBeGreaterThan(3);
    },
  );
});
