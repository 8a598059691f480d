import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { RasterImage } from '../../src/palm/index.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const realDataDir = path.resolve(repoRoot, '../shared/data/palm');

/** Minimal 8-bit palette (grey) BMP writer, bottom-up rows, for decoder tests. */
export function encodeBmp8(img: RasterImage): Uint8Array {
  if (img.channels !== 1) throw new Error('grey only');
  const { width: w, height: h } = img;
  const row = Math.ceil(w / 4) * 4;
  const off = 14 + 40 + 1024;
  const size = off + row * h;
  const b = Buffer.alloc(size);
  b.write('BM', 0, 'ascii');
  b.writeUInt32LE(size, 2);
  b.writeUInt32LE(off, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(8, 28);
  b.writeUInt32LE(0, 30);
  b.writeUInt32LE(row * h, 34);
  b.writeUInt32LE(256, 46);
  for (let i = 0; i < 256; i++) b.writeUInt32LE(i | (i << 8) | (i << 16), 54 + 4 * i);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) b[off + (h - 1 - y) * row + x] = img.data[y * w + x]!;
  return b;
}

export async function encodeJpeg(img: RasterImage): Promise<Uint8Array> {
  return sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: img.channels } })
    .jpeg({ quality: 92 })
    .toBuffer();
}

export function flatImage(w: number, h: number, value: number, noise = 0, seed = 1): RasterImage {
  let s = seed;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296 - 0.5;
  };
  const data = new Uint8Array(w * h);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(value + noise * rnd())));
  return { width: w, height: h, channels: 1, data };
}
