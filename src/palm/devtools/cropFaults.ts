/**
 * Failed crops made from good ones, to test the failed-crop checks (../cropChecks.ts) on faults
 * whose kind and size are known: a turned palm, a sleeve or the background over part of the
 * crop, fingers in view, motion blur. Every fault is drawn from a seeded generator over a range
 * (never one fixed picture), so a check passes these by detecting the fault, not the picture.
 */
import type { GreyImage } from '../image.js';
import { sample } from '../image.js';

export type CropFaultKind = 'turned' | 'sleeve' | 'background' | 'fingers' | 'motion';

const between = (r: () => number, lo: number, hi: number) => lo + (hi - lo) * r();
const clamp = (v: number) => Math.max(0, Math.min(255, v));
const gauss = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

function meanOf(img: GreyImage): number {
  let s = 0;
  for (const v of img.data) s += v;
  return s / img.data.length;
}

/** The crop turned by `deg` about its centre and magnified just enough that no corner is left empty. */
export function turnCrop(img: GreyImage, deg: number): GreyImage {
  const n = img.width;
  const a = (deg * Math.PI) / 180;
  const cs = Math.cos(a);
  const sn = Math.sin(a);
  const zoom = Math.abs(cs) + Math.abs(sn);
  const c = (n - 1) / 2;
  const data = new Float32Array(n * n);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const u = (x - c) / zoom;
      const v = (y - c) / zoom;
      data[y * n + x] = sample(img, c + cs * u - sn * v, c + sn * u + cs * v);
    }
  return { width: n, height: n, data };
}

/**
 * A straight-edged cover over `fraction` of the crop, on a random side at a random slant: a
 * sleeve (flat fabric with a fine weave and soft shading) or the background beyond the palm's
 * edge (flat, with noise, its edge slightly curved), darker or brighter than the palm.
 */
export function coverCrop(img: GreyImage, fraction: number, kind: 'sleeve' | 'background', r: () => number): GreyImage {
  const n = img.width;
  const c = (n - 1) / 2;
  const ang = between(r, 0, 2 * Math.PI);
  const nx = Math.cos(ang);
  const ny = Math.sin(ang);
  // the offset that leaves `fraction` of the pixels beyond the edge
  const proj: number[] = [];
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) proj.push(nx * (x - c) + ny * (y - c));
  proj.sort((p, q) => q - p);
  const edge = proj[Math.floor(fraction * proj.length)]!;
  const palm = meanOf(img);
  const shift = between(r, 25, 80) * (r() < 0.5 ? -1 : 1);
  const base = palm + shift < 15 || palm + shift > 240 ? palm - shift : palm + shift;
  const period = between(r, 2.5, 5);
  const weaveAmp = kind === 'sleeve' ? between(r, 2, 8) : 0;
  const shade = between(r, -0.15, 0.15);
  const bend = kind === 'background' ? between(r, -0.004, 0.004) : 0;
  const soft = between(r, 0.6, 2);
  const data = Float32Array.from(img.data);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const along = -ny * (x - c) + nx * (y - c);
      const d = nx * (x - c) + ny * (y - c) - edge - bend * along * along;
      const w = 1 / (1 + Math.exp(-d / soft)); // 0 on the palm, 1 on the cover
      if (w < 1e-3) continue;
      const weave = weaveAmp * Math.sin((2 * Math.PI * x) / period) * Math.sin((2 * Math.PI * y) / period);
      const cover = base * (1 + (shade * along) / n) + weave + gauss(r) * 2;
      data[y * n + x] = clamp((1 - w) * img.data[y * n + x]! + w * cover);
    }
  return { width: n, height: n, data };
}

/**
 * Fingers in view at a random side: 3-4 parallel bands 16-28 px wide reaching 30-60 px in,
 * their skin taken from `other` (another palm), shaded like a cylinder, with dark gaps (the
 * background between finger roots) or shadows over the palm between them.
 */
export function fingersCrop(img: GreyImage, other: GreyImage, r: () => number): GreyImage {
  const n = img.width;
  const side = Math.floor(r() * 4);
  const count = 3 + Math.floor(r() * 2);
  const widths = Array.from({ length: count }, () => between(r, 16, 28));
  const gaps = Array.from({ length: count - 1 }, () => between(r, 3, 9));
  const total = widths.reduce((p, q) => p + q, 0) + gaps.reduce((p, q) => p + q, 0);
  let start = between(r, -0.2 * total, Math.max(0, n - 0.8 * total));
  const depth = between(r, 30, 60);
  const darkGaps = r() < 0.5;
  const gapGrey = between(r, 10, 50);
  const slant = between(r, -0.15, 0.15);
  const bands: [number, number][] = [];
  for (let k = 0; k < count; k++) {
    bands.push([start, start + widths[k]!]);
    start += widths[k]! + (gaps[k] ?? 0);
  }
  const gain = meanOf(img) / Math.max(1, meanOf(other));
  const data = Float32Array.from(img.data);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      // (t along the side, d in from it)
      const [t0, d] = side === 0 ? [x, y] : side === 1 ? [y, n - 1 - x] : side === 2 ? [x, n - 1 - y] : [y, x];
      const t = t0 - slant * d;
      const reach = depth - d;
      if (reach < -4) continue;
      const fade = Math.min(1, Math.max(0, (reach + 4) / 8));
      const i = y * n + x;
      let inBand = false;
      for (const [a, b] of bands) {
        if (t < a || t > b) continue;
        inBand = true;
        const u = (t - a) / (b - a);
        const skin = other.data[i]! * gain * (0.55 + 0.45 * Math.sin(Math.PI * u));
        data[i] = clamp((1 - fade) * img.data[i]! + fade * skin);
      }
      if (!inBand && t > bands[0]![0] && t < bands[count - 1]![1]) {
        const gap = darkGaps ? gapGrey : img.data[i]! * 0.5;
        data[i] = clamp((1 - fade) * img.data[i]! + fade * gap);
      }
    }
  return { width: n, height: n, data };
}

/**
 * Motion blur: a line kernel `length` px long at `deg`, then a little sensor noise (added after
 * the blur, as a camera does).
 */
export function motionBlurCrop(img: GreyImage, length: number, deg: number, r: () => number): GreyImage {
  const n = img.width;
  const a = (deg * Math.PI) / 180;
  const dx = Math.cos(a);
  const dy = Math.sin(a);
  const taps = Math.max(2, Math.round(length));
  const data = new Float32Array(n * n);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      let s = 0;
      for (let k = 0; k < taps; k++) {
        const o = (k / (taps - 1) - 0.5) * length;
        s += sample(img, x + o * dx, y + o * dy);
      }
      data[y * n + x] = clamp(s / taps + gauss(r) * 1.5);
    }
  return { width: n, height: n, data };
}

/** One failed crop of `kind`, its size drawn from the ranges the checks must catch. */
export function makeFault(kind: CropFaultKind, img: GreyImage, other: GreyImage, r: () => number): GreyImage {
  switch (kind) {
    case 'turned':
      return turnCrop(img, between(r, 20, 90) * (r() < 0.5 ? -1 : 1));
    case 'sleeve':
      return coverCrop(img, between(r, 0.25, 0.5), 'sleeve', r);
    case 'background':
      return coverCrop(img, between(r, 0.25, 0.5), 'background', r);
    case 'fingers':
      return fingersCrop(img, other, r);
    case 'motion':
      return motionBlurCrop(img, between(r, 9, 21), between(r, 0, 180), r);
  }
}
