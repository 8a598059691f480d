/**
 * Hostile image files, built on the fly: headers that lie about the raster, zlib bombs, frames
 * over the camera limits, malformed data. Used by the decoder tests and by bench/abuse.ts.
 */
import zlib from 'node:zlib';
import sharp from 'sharp';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit grey PNG whose header claims width x height and whose data is the given zlib stream. */
export function pngWithStream(width: number, height: number, stream: Buffer, interlaced = false): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  ihdr[12] = interlaced ? 1 : 0;
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', stream),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A zlib stream of `n` zeros (n a multiple of 1 MiB), built from one compressed MiB repeated:
 * compressing gigabytes would take seconds, repeating a block takes nothing.
 */
export function zerosStream(n: number): Buffer {
  const MiB = 1 << 20;
  if (n % MiB !== 0) throw new Error('whole MiB only');
  // A sync flush ends the block on a byte boundary without marking it final, so copies chain.
  const block = zlib.deflateRawSync(Buffer.alloc(MiB), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((n % 65521) << 16) | 1) >>> 0, 0); // adler32 of n zeros: a = 1, b = n
  return Buffer.concat([
    Buffer.from([0x78, 0xda]),
    ...Array<Buffer>(n / MiB).fill(block),
    zlib.deflateRawSync(Buffer.alloc(0)),
    adler,
  ]);
}

/**
 * A zlib bomb: a small-raster PNG whose data inflates to `inflatedBytes` (zeros: filter "none",
 * black pixels, so every row is valid and the stream simply goes on past the raster's end).
 */
export function pngZlibBomb(opts: {
  width: number;
  height: number;
  inflatedBytes: number;
  interlaced: boolean;
}): Buffer {
  return pngWithStream(opts.width, opts.height, zerosStream(opts.inflatedBytes), opts.interlaced);
}

/** A PNG whose header claims a raster far bigger than its (valid, tiny) data could inflate to. */
export function pngSizeLie(width: number, height: number): Buffer {
  return pngWithStream(width, height, zlib.deflateSync(Buffer.alloc(64 * 65)));
}

/** A small real JPEG whose frame header is rewritten to claim width x height. */
export async function jpegSizeLie(width: number, height: number, seed = 1): Promise<Buffer> {
  let s = seed;
  const noise = Buffer.alloc(48 * 48);
  for (let i = 0; i < noise.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    noise[i] = s >>> 24;
  }
  const jpeg = await sharp(noise, { raw: { width: 48, height: 48, channels: 1 } })
    .jpeg({ quality: 50 })
    .toBuffer();
  for (let o = 2; o + 9 < jpeg.length; ) {
    const marker = jpeg[o + 1]!;
    if (marker === 0xc0 || marker === 0xc2) {
      jpeg.writeUInt16BE(height, o + 5);
      jpeg.writeUInt16BE(width, o + 7);
      return jpeg;
    }
    o += 2 + jpeg.readUInt16BE(o + 2);
  }
  throw new Error('no frame header');
}

/** A BMP whose header claims width x height, with a few bytes of pixel data. */
export function bmpSizeLie(width: number, height: number): Buffer {
  const b = Buffer.alloc(14 + 40 + 256);
  b.write('BM', 0, 'ascii');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return b;
}

/** An honest, flat JPEG of the given size (small on the wire, large once decoded). */
export function flatJpeg(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 120, g: 100, b: 90 } } })
    .jpeg({ quality: 50, mozjpeg: true })
    .toBuffer();
}

/** A JPEG whose headers are intact and whose scan data is noise (ends with a proper EOI). */
export async function jpegGarbled(width: number, height: number, seed = 7): Promise<Buffer> {
  const jpeg = await flatJpeg(width, height);
  let sos = -1;
  for (let o = 2; o + 4 < jpeg.length; o += 2 + jpeg.readUInt16BE(o + 2)) {
    if (jpeg[o + 1] === 0xda) {
      sos = o + 2 + jpeg.readUInt16BE(o + 2);
      break;
    }
  }
  if (sos < 0) throw new Error('no scan');
  const body = Buffer.alloc(Math.max(4096, jpeg.length - sos));
  let s = seed;
  for (let i = 0; i < body.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const v = s >>> 24;
    body[i] = v === 0xff ? 0xfe : v; // no stray markers
  }
  return Buffer.concat([jpeg.subarray(0, sos), body, Buffer.from([0xff, 0xd9])]);
}
