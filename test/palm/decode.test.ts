import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import {
  CAMERA_FRAME_LIMITS,
  PalmImageError,
  decodeImage,
  extractTemplate,
  prepareImage,
  type PalmImageErrorReason,
  type RasterImage,
} from '../../src/palm/index.js';
import { encodePng, synthRoi } from '../../src/palm/devtools/index.js';
import { encodeBmp8, encodeJpeg, flatImage } from './helpers.js';
import {
  bmpSizeLie,
  flatJpeg,
  jpegGarbled,
  jpegSizeLie,
  pngSizeLie,
  pngWithStream,
  pngZlibBomb,
  zerosStream,
} from './hostile.js';

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

/** Growth of the process' peak resident memory (MiB) and CPU time (ms, all threads) over `run`. */
async function cost(
  run: () => Promise<unknown>,
): Promise<{ peakMb: number; cpuMs: number; reason: PalmImageErrorReason | 'none' }> {
  const peak = process.resourceUsage().maxRSS;
  const cpu = process.cpuUsage();
  const r = await reason(run);
  const used = process.cpuUsage(cpu);
  return { peakMb: (process.resourceUsage().maxRSS - peak) / 1024, cpuMs: (used.user + used.system) / 1000, reason: r };
}

describe('hostile files: refused from the header, in bounded memory', () => {
  it('refuses a JPEG whose header claims 5000x5000 in a kilobyte or two, without decoding it', async () => {
    const lie = await jpegSizeLie(5000, 5000);
    expect(lie.length).toBeLessThan(4096);
    const c = await cost(() => decodeImage(lie));
    expect(c.reason).toBe('too_large');
    expect(c.cpuMs).toBeLessThan(100); // decoding 25 Mpx costs hundreds of ms
    // ... and a smaller lie the pixel limits alone would let through
    expect(await reason(decodeImage(await jpegSizeLie(1200, 1000)))).toBe('too_large');
  });

  it('refuses a PNG whose header claims more pixels than its data can inflate to', async () => {
    expect(await reason(decodeImage(pngSizeLie(5000, 5000)))).toBe('too_large');
    expect(await reason(decodeImage(pngSizeLie(2000, 2000), CAMERA_FRAME_LIMITS))).toBe('too_large');
  });

  it('stops an interlaced PNG zlib bomb (1 GiB behind a 512x512 header) at the raster size', async () => {
    const bomb = pngZlibBomb({ width: 512, height: 512, inflatedBytes: 1 << 30, interlaced: true });
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    const c = await cost(() => decodeImage(bomb));
    expect(c.reason).toBe('too_large');
    expect(c.peakMb).toBeLessThan(128);
    expect(c.cpuMs).toBeLessThan(1000); // inflating the whole gigabyte takes seconds
  });

  it('refuses PNG data that inflates past the raster, on the pngjs and the libvips paths', async () => {
    for (const [w, h, interlaced] of [
      [256, 256, false],
      [1000, 1000, false],
      [1000, 1000, true],
    ] as const) {
      const c = await cost(() =>
        decodeImage(pngZlibBomb({ width: w, height: h, inflatedBytes: 256 << 20, interlaced })),
      );
      expect(c.reason, `${w}x${h}${interlaced ? ' interlaced' : ''}`).toBe('too_large');
      expect(c.peakMb).toBeLessThan(128);
    }
    // a stream that ends before the raster does
    expect(await reason(decodeImage(pngWithStream(256, 256, zerosStream(1 << 20).subarray(0, 600))))).not.toBe('none');
  });

  it('refuses a BMP whose header claims more pixels than the file holds, and a JPEG of noise', async () => {
    const c = await cost(() => decodeImage(bmpSizeLie(5000, 5000)));
    expect(c.reason).toBe('truncated');
    expect(c.peakMb).toBeLessThan(64);
    expect(await reason(decodeImage(await jpegGarbled(960, 720)))).toBe('corrupt');
  });

  it('holds camera frames to a few megapixels, while files may be larger', async () => {
    const big = await flatJpeg(3000, 2000);
    expect(await reason(decodeImage(big, CAMERA_FRAME_LIMITS))).toBe('too_large');
    expect((await decodeImage(big)).width).toBe(3000);
    const wide = await flatJpeg(2700, 800); // 2.2 Mpx, but longer than any camera frame
    expect(await reason(decodeImage(wide, CAMERA_FRAME_LIMITS))).toBe('too_large');
    expect((await decodeImage(await flatJpeg(1920, 1080), CAMERA_FRAME_LIMITS)).width).toBe(1920);
  });

  it('accepts honest flat pictures, the most compressible there are, at every size', async () => {
    for (const [w, h] of [
      [960, 720],
      [3000, 2000],
    ] as const) {
      const base = sharp({ create: { width: w, height: h, channels: 3, background: { r: 128, g: 128, b: 128 } } });
      const files = [
        await base.clone().jpeg({ quality: 1, mozjpeg: true }).toBuffer(),
        await base.clone().jpeg({ quality: 1, progressive: true }).toBuffer(),
        await base.clone().png({ compressionLevel: 9 }).toBuffer(),
        await base.clone().png({ compressionLevel: 9, palette: true, colours: 2 }).toBuffer(),
      ];
      for (const f of files) expect(await reason(decodeImage(f)), `${w}x${h} ${f.length} B`).toBe('none');
    }
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

  it('scores quality in [0, 1] with reasons, lower for a mildly blurred sample', async () => {
    const img = synthRoi(4, 1, { seed: 9 });
    const q1 = (await prepareImage(img, { kind: 'roi' })).quality;
    const q2 = (await prepareImage(blur(img, 1), { kind: 'roi' })).quality;
    expect(q1.score).toBeGreaterThanOrEqual(0);
    expect(q1.score).toBeLessThanOrEqual(1);
    expect(q1.reasons.map((r) => r.factor).sort()).toEqual([
      'contrast',
      'exposure',
      'focus',
      'palmSize',
      'roiConfidence',
    ]);
    const f1 = q1.reasons.find((r) => r.factor === 'focus')!.value;
    const f2 = q2.reasons.find((r) => r.factor === 'focus')!.value;
    expect(f2).toBeLessThan(f1);
  });

  it('reports "no_hand" for a whole-hand request on an empty dark image', async () => {
    expect(await reason(() => prepareImage(flatImage(400, 300, 15, 6), { kind: 'hand' }))).toBe('no_hand');
  });
});
