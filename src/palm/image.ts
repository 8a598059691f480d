/** Minimal in-memory raster types and the few pixel operations the engine needs. */

/** Interleaved 8-bit image, 1 (grey) or 3 (RGB) channels. */
export interface RasterImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** Single-channel float image (values nominally 0..255 unless stated). */
export interface GreyImage {
  width: number;
  height: number;
  data: Float32Array;
}

export function toGrey(img: RasterImage): GreyImage {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  const d = img.data;
  if (img.channels === 1) {
    for (let i = 0; i < n; i++) out[i] = d[i]!;
  } else {
    for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = 0.299 * d[j]! + 0.587 * d[j + 1]! + 0.114 * d[j + 2]!;
  }
  return { width: img.width, height: img.height, data: out };
}

/** Bilinear sample with edge clamping. */
export function sample(img: GreyImage, x: number, y: number): number {
  const w = img.width;
  const h = img.height;
  if (x < 0) x = 0;
  else if (x > w - 1) x = w - 1;
  if (y < 0) y = 0;
  else if (y > h - 1) y = h - 1;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const x1 = x0 + 1 < w ? x0 + 1 : x0;
  const y1 = y0 + 1 < h ? y0 + 1 : y0;
  const fx = x - x0;
  const fy = y - y0;
  const d = img.data;
  const a = d[y0 * w + x0]!;
  const b = d[y0 * w + x1]!;
  const c = d[y1 * w + x0]!;
  const e = d[y1 * w + x1]!;
  return (a + (b - a) * fx) * (1 - fy) + (c + (e - c) * fx) * fy;
}

/**
 * Affine resampling into an out x out square: output pixel (u, v) reads the source at
 * origin + u*ex + v*ey (ex, ey are source-space steps per output pixel). When a step is
 * longer than one source pixel, a small box prefilter (supersampling) avoids aliasing.
 */
export function warpSquare(
  img: GreyImage,
  out: number,
  origin: [number, number],
  ex: [number, number],
  ey: [number, number],
): GreyImage {
  const step = Math.max(Math.hypot(ex[0], ex[1]), Math.hypot(ey[0], ey[1]));
  const ss = Math.min(4, Math.max(1, Math.round(step)));
  const data = new Float32Array(out * out);
  const inv = 1 / (ss * ss);
  for (let v = 0; v < out; v++) {
    for (let u = 0; u < out; u++) {
      let s = 0;
      for (let j = 0; j < ss; j++) {
        const vv = v + (j + 0.5) / ss - 0.5;
        for (let i = 0; i < ss; i++) {
          const uu = u + (i + 0.5) / ss - 0.5;
          s += sample(img, origin[0] + uu * ex[0] + vv * ey[0], origin[1] + uu * ex[1] + vv * ey[1]);
        }
      }
      data[v * out + u] = s * inv;
    }
  }
  return { width: out, height: out, data };
}

/** Resize (any aspect) to a square `out` x `out` by area-aware bilinear resampling. */
export function resizeSquare(img: GreyImage, out: number): GreyImage {
  if (img.width === out && img.height === out) return img;
  const sx = img.width / out;
  const sy = img.height / out;
  return warpSquare(img, out, [(sx - 1) / 2, (sy - 1) / 2], [sx, 0], [0, sy]);
}
