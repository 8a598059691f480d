import { describe, expect, it } from 'vitest';
import {
  PalmImageError,
  decodeImage,
  encodePng,
  extractTemplate,
  prepareImage,
  synthRoi,
  type PalmImageErrorReason,
  type RasterImage,
} from '../../src/palm/index.js';
import { encodeBmp8, encodeJpeg, flatImage } from './helpers.js';

async function reason(p: Promise<unknown> | (() => unknown)): Promise<PalmImageErrorReason | 'none'> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'none';
  } catch (e) {
    if (e instanceof PalmImageError) return e.reason;
    throw e;
  }
}

function blur(img: RasterImage, r: number): RasterImage {
  const { width: w, height: h } = img;
  let src = Float32Array.from(img.data);
  for (let pass = 0; pass < 3; pass++) {
    const tmp = new Float32Array(w * h);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let s = 0;
        let n = 0;
        for (let k = -r; k <= r; k++) {
          const xx = Math.min(w - 1, Math.max(0, x + k));
          const yy = Math.min(h - 1, Math.max(0, y + k));
          s += src[y * w + xx]! + src[yy * w + x]!;
          n += 2;
        }
        tmp[y * w + x] = s / n;
      }
    src = tmp;
  }
  return { ...img, data: Uint8Array.from(src, (v) => Math.round(v)) };
}

describe('decodeImage', () => {
  const roi = synthRoi(1, 1, { seed: 9 });

  it('decodes PNG, 8-bit BMP and JPEG to the same picture', async () => {
    const png = await decodeImage(encodePng(roi));
    const bmp = await decodeImage(encodeBmp8(roi));
    const jpg = await decodeImage(await encodeJpeg(roi));
    expect(png.format).toBe('png');
    expect(bmp.format).toBe('bmp');
    expect(jpg.format).toBe('jpeg');
    for (const d of [png, bmp, jpg]) {
      expect([d.width, d.height, d.channels]).toEqual([128, 128, 1]);
    }
    expect(Buffer.from(png.data).equals(Buffer.from(roi.data))).toBe(true);
    expect(Buffer.from(bmp.data).equals(Buffer.from(roi.data))).toBe(true);
    let err = 0;
    for (let i = 0; i < roi.data.length; i++) err += Math.abs(jpg.data[i]! - roi.data[i]!);
    expect(err / roi.data.length).toBeLessThan(4);
  });

  it('rejects unknown formats', async () => {
    expect(await reason(decodeImage(Buffer.from('GIF89a........................')))).toBe('unsupported_format');
    expect(await reason(decodeImage(new Uint8Array(0)))).toBe('unsupported_format');
  });

  it('rejects truncated PNG, JPEG and BMP files', async () => {
    const png = encodePng(roi);
    const bmp = encodeBmp8(roi);
    const jpg = await encodeJpeg(roi);
    expect(await reason(decodeImage(png.subarray(0, Math.floor(png.length / 2))))).toBe('truncated');
    expect(await reason(decodeImage(png.subarray(0, 20)))).toBe('truncated');
    expect(await reason(decodeImage(bmp.subarray(0, bmp.length - 100)))).toBe('truncated');
    expect(await reason(decodeImage(jpg.subarray(0, Math.floor(jpg.length / 2))))).toBe('truncated');
  });

  it('rejects files over the byte limit and rasters over the pixel limit (bombs) before decoding', async () => {
    const png = encodePng(roi);
    expect(await reason(decodeImage(png, { maxBytes: 100 }))).toBe('too_large');
    // a PNG header that claims 100000 x 100000 pixels
    const bomb = Buffer.from(png);
    bomb.writeUInt32BE(100000, 16);
    bomb.writeUInt32BE(100000, 20);
    expect(await reason(decodeImage(bomb))).toBe('too_large');
    const bmp = Buffer.from(encodeBmp8(roi));
    bmp.writeInt32LE(60000, 18);
    bmp.writeInt32LE(60000, 22);
    expect(await reason(decodeImage(bmp))).toBe('too_large');
    expect(await reason(decodeImage(png, { maxPixels: 128 * 127 }))).toBe('too_large');
  });

  it('rejects images that are too small', async () => {
    expect(await reason(decodeImage(encodePng(flatImage(40, 40, 128, 40))))).toBe('too_small');
  });
});

describe('sample quality rejections', () => {
  it('rejects a dark capture', async () => {
    const dark = synthRoi(2, 1, { seed: 9 });
    const d = { ...dark, data: dark.data.map((v) => Math.round(v * 0.08)) };
    expect(await reason(() => prepareImage(d, { kind: 'roi' }))).toBe('too_dark');
    expect(await reason(extractTemplate(encodePng(d), { kind: 'roi' }))).toBe('too_dark');
  });

  it('rejects a flat capture', async () => {
    expect(await reason(() => prepareImage(flatImage(128, 128, 128, 2), { kind: 'roi' }))).toBe('low_contrast');
  });

  it('rejects a strongly blurred capture but accepts the sharp one', async () => {
    const sharpImg = synthRoi(3, 1, { seed: 9 });
    expect(await reason(() => prepareImage(sharpImg, { kind: 'roi' }))).toBe('none');
    expect(await reason(() => prepareImage(blur(sharpImg, 4), { kind: 'roi' }))).toBe('too_blurred');
  });

  it('scores quality in [0, 1] with reasons, lower for a mildly blurred sample', () => {
    const img = synthRoi(4, 1, { seed: 9 });
    const q1 = prepareImage(img, { kind: 'roi' }).quality;
    const q2 = prepareImage(blur(img, 1), { kind: 'roi' }).quality;
    expect(q1.score).toBeGreaterThanOrEqual(0);
    expect(q1.score).toBeLessThanOrEqual(1);
    expect(q1.reasons.map((r) => r.factor).sort()).toEqual(['contrast', 'exposure', 'focus', 'palmSize', 'roiConfidence']);
    const f1 = q1.reasons.find((r) => r.factor === 'focus')!.value;
    const f2 = q2.reasons.find((r) => r.factor === 'focus')!.value;
    expect(f2).toBeLessThan(f1);
  });

  it('reports "no_hand" for a whole-hand request on an empty dark image', async () => {
    expect(await reason(() => prepareImage(flatImage(400, 300, 15, 6), { kind: 'hand' }))).toBe('no_hand');
  });
});
