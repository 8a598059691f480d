/**
 * Image decoding with limits. JPEG and large PNG through sharp (libvips, single-threaded here),
 * small PNG (up to 512x512, where sharp's thread hand-off costs more than the decoding) through pngjs,
 * uncompressed BMP (which libvips cannot read) through bmp-js: 8-bit grey, palette, 24- and
 * 32-bit. Nothing is decoded before the header has passed three checks, so a small file that
 * claims a huge raster (decompression bomb) is refused cheaply:
 *   - the raster against the limits (pixels, longest and shortest side);
 *   - the raster against what the file's bytes can encode at all (a size lie);
 *   - for PNG, the compressed data is inflated with its output capped at the raster's size.
 * Nothing is written anywhere.
 */
import zlib from 'node:zlib';
import { PNG } from 'pngjs';
import sharp, { type OutputInfo } from 'sharp';
import bmp from 'bmp-js';
import { PalmImageError } from './errors.js';
import type { RasterImage } from './image.js';

export type ImageFormat = 'png' | 'jpeg' | 'bmp';

export interface DecodeLimits {
  /** largest accepted file, bytes (default 16 MiB) */
  maxBytes?: number;
  /** largest accepted raster, pixels (default 25 Mpx) */
  maxPixels?: number;
  /** longest accepted side, pixels (default 16384) */
  maxSide?: number;
  /** smallest accepted side, pixels (default 64) */
  minSide?: number;
}

/** Files given to the engine or the CLI: photographs of any camera. */
export const DEFAULT_LIMITS: Required<DecodeLimits> = {
  maxBytes: 16 * 1024 * 1024,
  maxPixels: 25_000_000,
  maxSide: 16_384,
  minSide: 64,
};

/**
 * A camera frame sent to sign in (browser login page, reader envelope). The login page sends
 * 960x720; webcam streams top out at 2560x1440 (3.7 Mpx) in practice, and the ROI a palm needs
 * is a few hundred pixels wide. Four megapixels leaves room for any of these while keeping one
 * decoded frame, and the work on it, small.
 */
export const CAMERA_FRAME_LIMITS: Required<DecodeLimits> = {
  maxBytes: 8 * 1024 * 1024,
  maxPixels: 4_000_000,
  maxSide: 2_600,
  minSide: 64,
};

/**
 * The most pixels a Huffman-coded JPEG can describe per byte: every 8x8 block of a full-resolution
 * component costs at least one bit (its DC symbol, even in a progressive scan), so 64 pixels per
 * bit. Even a perfectly flat picture from mozjpeg stays under this bound, and a photograph far
 * under it. A header claiming more is a size lie (or arithmetic coding, which no camera or
 * browser produces).
 */
const JPEG_MAX_PIXELS_PER_BYTE = 512;

/** deflate cannot expand one byte into more than 1032 (zlib's documented maximum ratio). */
const DEFLATE_MAX_RATIO = 1032;

function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47)
    return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) return 'bmp';
  return null;
}

interface Header {
  width: number;
  height: number;
}

function u32be(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function u16be(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u16le(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function i32le(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
}

interface PngInfo extends Header {
  bitDepth: number;
  colourType: number;
  interlaced: boolean;
  /** the zlib stream, as the IDAT chunks carry it */
  idat: Uint8Array[];
  idatBytes: number;
  /** the IEND chunk was reached */
  complete: boolean;
}

function pngInfo(b: Uint8Array): PngInfo {
  if (b.length < 33) throw new PalmImageError('truncated', 'PNG file ends inside its header');
  if (String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!) !== 'IHDR')
    throw new PalmImageError('corrupt', 'PNG without IHDR');
  const info: PngInfo = {
    width: u32be(b, 16),
    height: u32be(b, 20),
    bitDepth: b[24]!,
    colourType: b[25]!,
    interlaced: b[28] === 1,
    idat: [],
    idatBytes: 0,
    complete: false,
  };
  for (let o = 8; o + 12 <= b.length; ) {
    const len = u32be(b, o);
    if (o + 12 + len > b.length) break;
    const type = String.fromCharCode(b[o + 4]!, b[o + 5]!, b[o + 6]!, b[o + 7]!);
    if (type === 'IDAT') {
      info.idat.push(b.subarray(o + 8, o + 8 + len));
      info.idatBytes += len;
    } else if (type === 'IEND') {
      info.complete = true;
      break;
    }
    o += 12 + len;
  }
  return info;
}

const PNG_CHANNELS: Partial<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes: first column, first row, column step, row step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/** Bytes the PNG's zlib stream must inflate to: its scanlines, each with a filter byte. */
function pngInflatedSize(p: PngInfo): number {
  const channels = PNG_CHANNELS[p.colourType];
  if (!channels || ![1, 2, 4, 8, 16].includes(p.bitDepth))
    throw new PalmImageError('corrupt', 'PNG with an invalid colour type or bit depth');
  const bits = channels * p.bitDepth;
  const scanlines = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bits) / 8)) : 0);
  if (!p.interlaced) return scanlines(p.width, p.height);
  return ADAM7.reduce(
    (sum, [x0, y0, dx, dy]) => sum + scanlines(Math.ceil((p.width - x0) / dx), Math.ceil((p.height - y0) / dy)),
    0,
  );
}

/**
 * Inflates the PNG's data, counting and discarding the output, and stops as soon as it passes
 * the raster's size: a stream that would inflate further (a zlib bomb behind a small header,
 * which pngjs would inflate in full for an interlaced image) is refused after at most `expected`
 * bytes of work and one chunk of memory.
 */
async function checkPngInflation(p: PngInfo, expected: number): Promise<void> {
  const size = await new Promise<number>((resolve, reject) => {
    const inflate = zlib.createInflate({ chunkSize: 64 * 1024 });
    let n = 0;
    inflate.on('data', (chunk: Buffer) => {
      n += chunk.length;
      chunk.fill(0);
      if (n > expected) {
        inflate.destroy();
        resolve(n);
      }
    });
    inflate.on('end', () => resolve(n));
    inflate.on('error', (e) => reject(new PalmImageError('corrupt', `PNG data cannot be inflated: ${e.message}`)));
    for (const part of p.idat) inflate.write(part);
    inflate.end();
  });
  if (size > expected)
    throw new PalmImageError(
      'too_large',
      `PNG data inflates past the ${expected} bytes its ${p.width}x${p.height} raster needs`,
    );
  if (size < expected) throw new PalmImageError('truncated', 'PNG data ends before its raster does');
}

function jpegHeader(b: Uint8Array): Header {
  let o = 2;
  while (o + 4 <= b.length) {
    if (b[o] !== 0xff) throw new PalmImageError('corrupt', 'JPEG marker expected');
    const m = b[o + 1]!;
    if (m === 0xff) {
      o++;
      continue;
    }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      o += 2;
      continue;
    }
    const len = u16be(b, o + 2);
    const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isSof) {
      if (o + 9 > b.length) break;
      return { height: u16be(b, o + 5), width: u16be(b, o + 7) };
    }
    if (m === 0xda) break; // start of scan before any frame header
    o += 2 + len;
  }
  throw new PalmImageError('truncated', 'JPEG file ends before its frame header');
}

function jpegComplete(b: Uint8Array): boolean {
  // allow a little trailing padding after EOI
  for (let i = b.length - 2; i >= Math.max(0, b.length - 64); i--) if (b[i] === 0xff && b[i + 1] === 0xd9) return true;
  return false;
}

interface BmpInfo extends Header {
  bpp: number;
  compression: number;
  dataOffset: number;
  rowBytes: number;
}

function bmpHeader(b: Uint8Array): BmpInfo {
  if (b.length < 54) throw new PalmImageError('truncated', 'BMP file ends inside its header');
  const dataOffset = i32le(b, 10);
  const headerSize = i32le(b, 14);
  if (headerSize < 40) throw new PalmImageError('unsupported_format', 'BMP core (OS/2) headers are not supported');
  const width = i32le(b, 18);
  const height = Math.abs(i32le(b, 22));
  const bpp = u16le(b, 28);
  const compression = i32le(b, 30);
  if (width <= 0 || height <= 0) throw new PalmImageError('corrupt', 'BMP with non-positive dimensions');
  if (dataOffset < 14 + headerSize) throw new PalmImageError('corrupt', 'BMP pixel data starts inside its header');
  const rowBytes = Math.ceil((width * bpp) / 32) * 4;
  return { width, height, bpp, compression, dataOffset, rowBytes };
}

function checkDims(h: Header, lim: Required<DecodeLimits>): void {
  if (!(h.width > 0 && h.height > 0)) throw new PalmImageError('corrupt', 'image with zero dimensions');
  if (h.width * h.height > lim.maxPixels)
    throw new PalmImageError('too_large', `image is ${h.width}x${h.height}, over the limit of ${lim.maxPixels} pixels`);
  if (Math.max(h.width, h.height) > lim.maxSide)
    throw new PalmImageError(
      'too_large',
      `image is ${h.width}x${h.height}; the longer side may be at most ${lim.maxSide} px`,
    );
  if (Math.min(h.width, h.height) < lim.minSide)
    throw new PalmImageError(
      'too_small',
      `image is ${h.width}x${h.height}; the shorter side must be at least ${lim.minSide} px`,
    );
}

/** A header that claims more than the file's data can encode is a size lie: refused undecoded. */
function sizeLie(h: Header, what: string, bytes: number): PalmImageError {
  return new PalmImageError(
    'too_large',
    `${what} claims ${h.width}x${h.height} pixels, more than its ${bytes} bytes of data can encode`,
  );
}

sharp.concurrency(1);
sharp.cache(false);

async function decodeWithSharp(buf: Buffer, lim: Required<DecodeLimits>, what: string): Promise<RasterImage> {
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await sharp(buf, { limitInputPixels: lim.maxPixels, failOn: 'error', sequentialRead: true })
      .raw()
      .toBuffer({ resolveWithObject: true }));
  } catch (e) {
    throw new PalmImageError('corrupt', `${what} data cannot be decoded: ${(e as Error).message}`);
  }
  const { width, height, channels } = info;
  const n = width * height;
  if (channels === 1 || channels === 2) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = data[i * channels]!;
    return { width, height, channels: 1, data: out };
  }
  if (channels === 3) {
    // a grey picture stored as colour (common for JPEG) is returned as grey
    let grey = true;
    for (let i = 0; i < n * 3 && grey; i += 3) if (data[i] !== data[i + 1] || data[i] !== data[i + 2]) grey = false;
    if (grey) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = data[i * 3]!;
      return { width, height, channels: 1, data: out };
    }
    return { width, height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, n * 3) };
  }
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[i * 3] = data[i * channels]!;
    out[i * 3 + 1] = data[i * channels + 1]!;
    out[i * 3 + 2] = data[i * channels + 2]!;
  }
  return { width, height, channels: 3, data: out };
}

/** pngjs output: 4 bytes per pixel, R G B A (alpha ignored). Grey when every pixel has R = G = B. */
function fromRgba(width: number, height: number, d: Uint8Array): RasterImage {
  const n = width * height;
  let grey = true;
  for (let i = 0; i < n && grey; i++) if (d[i * 4] !== d[i * 4 + 1] || d[i * 4] !== d[i * 4 + 2]) grey = false;
  if (grey) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = d[i * 4]!;
    return { width, height, channels: 1, data: out };
  }
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[i * 3] = d[i * 4]!;
    out[i * 3 + 1] = d[i * 4 + 1]!;
    out[i * 3 + 2] = d[i * 4 + 2]!;
  }
  return { width, height, channels: 3, data: out };
}

/** bmp-js output: 4 bytes per pixel, A B G R. Grey when every pixel has R = G = B. */
function fromAbgr(width: number, height: number, d: Uint8Array): RasterImage {
  const n = width * height;
  let grey = true;
  for (let i = 0; i < n && grey; i++) {
    const j = i * 4;
    if (d[j + 1] !== d[j + 2] || d[j + 2] !== d[j + 3]) grey = false;
  }
  if (grey) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = d[i * 4 + 3]!;
    return { width, height, channels: 1, data: out };
  }
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[i * 3] = d[i * 4 + 3]!;
    out[i * 3 + 1] = d[i * 4 + 2]!;
    out[i * 3 + 2] = d[i * 4 + 1]!;
  }
  return { width, height, channels: 3, data: out };
}

type CheckedHeader =
  | { format: 'png'; info: PngInfo; inflatedSize: number }
  | { format: 'jpeg'; header: Header }
  | { format: 'bmp'; header: BmpInfo };

/**
 * Everything that can be refused from the bytes and the header alone, without decoding: size,
 * format, dimensions, a raster the data cannot encode, a truncated file. Callers that pay per
 * decoded frame run it first, so a frame refused here costs them nothing else.
 */
export function checkImageHeader(bytes: Uint8Array, limits: DecodeLimits = {}): void {
  readHeader(bytes, { ...DEFAULT_LIMITS, ...limits });
}

function readHeader(bytes: Uint8Array, lim: Required<DecodeLimits>): CheckedHeader {
  if (bytes.length > lim.maxBytes)
    throw new PalmImageError('too_large', `file is ${bytes.length} bytes, over the limit of ${lim.maxBytes}`);
  const format = sniffFormat(bytes);
  if (!format) throw new PalmImageError('unsupported_format', 'not a PNG, JPEG or BMP image');
  if (format === 'png') {
    const info = pngInfo(bytes);
    checkDims(info, lim);
    if (!info.complete) throw new PalmImageError('truncated', 'PNG file ends before its IEND chunk');
    const inflatedSize = pngInflatedSize(info);
    if (inflatedSize > DEFLATE_MAX_RATIO * info.idatBytes) throw sizeLie(info, 'PNG', info.idatBytes);
    return { format, info, inflatedSize };
  }
  if (format === 'jpeg') {
    const header = jpegHeader(bytes);
    checkDims(header, lim);
    if (header.width * header.height > JPEG_MAX_PIXELS_PER_BYTE * bytes.length)
      throw sizeLie(header, 'JPEG', bytes.length);
    if (!jpegComplete(bytes)) throw new PalmImageError('truncated', 'JPEG file ends before its end-of-image marker');
    return { format, header };
  }
  const header = bmpHeader(bytes);
  if (header.compression !== 0 && !(header.compression === 3 && header.bpp === 32))
    throw new PalmImageError('unsupported_format', `compressed BMP (method ${header.compression}) is not supported`);
  if (![8, 24, 32].includes(header.bpp))
    throw new PalmImageError('unsupported_format', `${header.bpp}-bit BMP is not supported`);
  checkDims(header, lim);
  if (bytes.length < header.dataOffset + header.rowBytes * header.height)
    throw new PalmImageError('truncated', 'BMP file ends before its pixel data does');
  return { format, header };
}

/** Decode PNG / JPEG / BMP bytes into a raster, or throw PalmImageError with a reason. */
export async function decodeImage(
  bytes: Uint8Array,
  limits: DecodeLimits = {},
): Promise<RasterImage & { format: ImageFormat }> {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const checked = readHeader(bytes, lim);
  const { format } = checked;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (checked.format === 'png') {
    const p = checked.info;
    await checkPngInflation(p, checked.inflatedSize);
    if (p.width * p.height > 262_144) return { ...(await decodeWithSharp(buf, lim, 'PNG')), format };
    let png: PNG;
    try {
      png = PNG.sync.read(buf);
    } catch (e) {
      throw new PalmImageError('corrupt', `PNG data cannot be decoded: ${(e as Error).message}`);
    }
    return { ...fromRgba(png.width, png.height, png.data), format };
  }
  if (checked.format === 'jpeg') return { ...(await decodeWithSharp(buf, lim, 'JPEG')), format };
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = bmp.decode(buf);
  } catch (e) {
    throw new PalmImageError('corrupt', `BMP data cannot be decoded: ${(e as Error).message}`);
  }
  return { ...fromAbgr(img.width, img.height, img.data), format };
}
