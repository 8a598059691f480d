/**
 * Replay cues on single frames, cheap ones only: what a screen or a print adds to the picture of
 * a palm that live skin does not.
 *
 * - Spectral peaks: a screen's pixel grid, the moiré it makes with the camera's sensor, and a
 *   print's halftone screen are periodic patterns: sharp isolated peaks in the power spectrum of
 *   the palm, where skin texture falls off smoothly. Measured on a window of the palm at native
 *   resolution, as the strongest peak over the median power of its ring (log10), JPEG's 8x8 block
 *   frequencies left out.
 * - Glare: a screen or a glossy print reflects a lamp as one large near-white patch.
 *
 * These cues are weak against a good attacker (a high-resolution screen far from the camera shows
 * no grid) and are only half of the decision: the landmark tracks are the other.
 */
import type { Point } from '../hand/types.js';
import type { RasterImage } from '../image.js';
import { PAD } from './tunables.js';

export interface ReplayCues {
  /** strongest spectral peak over its ring's median power (log10) */
  spectralPeak: number;
  /** share of the hand box at near-white */
  glare: number;
}

/** In-place radix-2 FFT of one complex line (length a power of two). */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len)
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(ang * k);
        const wi = Math.sin(ang * k);
        const a = i + k;
        const b = a + len / 2;
        const xr = re[b]! * wr - im[b]! * wi;
        const xi = re[b]! * wi + im[b]! * wr;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a]! += xr;
        im[a]! += xi;
      }
  }
}

const grey = (img: RasterImage, x: number, y: number): number => {
  const p = (y * img.width + x) * img.channels;
  const d = img.data;
  return img.channels === 1 ? d[p]! : 0.299 * d[p]! + 0.587 * d[p + 1]! + 0.114 * d[p + 2]!;
};

/** Is frequency f (cycles per pixel, signed) one of JPEG's block frequencies (k/8)? */
const onJpegGrid = (f: number) => Math.abs(f * 8 - Math.round(f * 8)) < PAD.jpegGridTolerance * 8;

/**
 * The strongest spectral peak of the window (N x N, N = PAD.spectrumWindow or smaller) centred
 * at `centre`, clipped to the image.
 */
export function spectralPeak(img: RasterImage, centre: Point): number {
  let N: number = PAD.spectrumWindow;
  while (N > 16 && (N > img.width || N > img.height)) N >>= 1;
  if (N > img.width || N > img.height) return 0;
  const x0 = Math.max(0, Math.min(img.width - N, Math.round(centre.x - N / 2)));
  const y0 = Math.max(0, Math.min(img.height - N, Math.round(centre.y - N / 2)));
  const re: Float64Array[] = [];
  const im: Float64Array[] = [];
  let meanV = 0;
  for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) meanV += grey(img, x0 + x, y0 + y);
  meanV /= N * N;
  const hann = Float64Array.from({ length: N }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / N));
  for (let y = 0; y < N; y++) {
    const r = new Float64Array(N);
    for (let x = 0; x < N; x++) r[x] = (grey(img, x0 + x, y0 + y) - meanV) * hann[x]! * hann[y]!;
    re.push(r);
    im.push(new Float64Array(N));
    fft(re[y]!, im[y]!);
  }
  const cr = new Float64Array(N);
  const ci = new Float64Array(N);
  const power = new Float64Array(N * N);
  for (let x = 0; x < N; x++) {
    for (let y = 0; y < N; y++) {
      cr[y] = re[y]![x]!;
      ci[y] = im[y]![x]!;
    }
    fft(cr, ci);
    for (let y = 0; y < N; y++) power[y * N + x] = Math.log10(cr[y]! ** 2 + ci[y]! ** 2 + 1e-9);
  }
  // rings of equal radius (one bin wide), over half the plane (the spectrum is symmetric)
  const rings = new Map<number, { values: number[]; bins: number[] }>();
  for (let v = 0; v < N / 2 + 1; v++)
    for (let u = 0; u < N; u++) {
      const fu = (u < N / 2 ? u : u - N) / N;
      const fv = v / N;
      const r = Math.hypot(fu, fv);
      if (r < PAD.minPeakFrequency || r > 0.5) continue;
      const ring = Math.round(r * N);
      let e = rings.get(ring);
      if (!e) {
        e = { values: [], bins: [] };
        rings.set(ring, e);
      }
      const bin = v * N + u;
      e.values.push(power[bin]!);
      if (!(onJpegGrid(fu) && onJpegGrid(fv))) e.bins.push(bin);
    }
  let peak = 0;
  for (const { values, bins } of rings.values()) {
    const sorted = [...values].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    for (const b of bins) peak = Math.max(peak, power[b]! - median);
  }
  return peak;
}

/** Share of the hand box (landmark bounds) whose every channel is at least PAD.glareLevel. */
export function glareShare(img: RasterImage, points: Point[]): number {
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const x1 = Math.min(img.width - 1, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(img.height - 1, Math.ceil(Math.max(...ys)));
  if (x1 < x0 || y1 < y0) return 0;
  let bright = 0;
  const d = img.data;
  const C = img.channels;
  for (let y = y0; y <= y1; y++)
    for (let x = x0; x <= x1; x++) {
      const p = (y * img.width + x) * C;
      let lo = d[p]!;
      for (let c = 1; c < C; c++) lo = Math.min(lo, d[p + c]!);
      if (lo >= PAD.glareLevel) bright++;
    }
  return bright / ((x1 - x0 + 1) * (y1 - y0 + 1));
}

/** The palm's centre from its landmarks: the wrist and the four knuckles. */
export function palmCentre(points: Point[]): Point {
  const idx = [0, 5, 9, 13, 17];
  return {
    x: idx.reduce((a, i) => a + points[i]!.x, 0) / idx.length,
    y: idx.reduce((a, i) => a + points[i]!.y, 0) / idx.length,
  };
}

export function replayCues(img: RasterImage, points: Point[]): ReplayCues {
  return { spectralPeak: spectralPeak(img, palmCentre(points)), glare: glareShare(img, points) };
}
