/**
 * Stage 1 of the valley path: the hand's foreground mask. A per-cell foreground score (skin is
 * red-dominant; grey images use their level), an Otsu threshold, an opening against specks, and
 * the largest component with its holes filled. Works when the hand is brighter than a darker,
 * plain background (a capture rig); the landmark path does not need it.
 */
import type { GreyImage, RasterImage } from '../image.js';
import { largestComponent, morph } from './mask.js';
import { SEGMENTATION } from './tunables.js';

export interface HandSegmentation {
  mask: Uint8Array;
  width: number;
  height: number;
  /** source pixels per grid cell */
  scale: number;
  /** share of the grid in the hand's component */
  foreground: number;
  /** mean(fg) - mean(bg) of the score */
  separation: number;
}

function otsu(v: Float32Array): number {
  const hist = new Float64Array(256);
  for (let i = 0; i < v.length; i++) hist[Math.min(255, Math.max(0, Math.round(v[i]!)))]! += 1;
  const n = v.length;
  let sum = 0;
  for (let i = 0; i < 256; i++) sum += i * hist[i]!;
  let w0 = 0;
  let s0 = 0;
  let best = -1;
  let t = 0;
  for (let i = 0; i < 256; i++) {
    w0 += hist[i]!;
    if (w0 === 0) continue;
    const w1 = n - w0;
    if (w1 === 0) break;
    s0 += i * hist[i]!;
    const m0 = s0 / w0;
    const m1 = (sum - s0) / w1;
    const between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) {
      best = between;
      t = i;
    }
  }
  return t + 0.5;
}

/**
 * Foreground score at 1/f resolution (area average). Colour: skin is red-dominant, so
 * min(R, 2R - B) keeps skin bright and sends blue/green objects (pegs, sleeves) dark; grey
 * (e.g. near-infrared): the grey level.
 */
function foregroundScore(img: RasterImage, f: number): GreyImage {
  const w = Math.floor(img.width / f);
  const h = Math.floor(img.height / f);
  const out = new Float32Array(w * h);
  const d = img.data;
  const W = img.width;
  const inv = 1 / (f * f);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let yy = 0; yy < f; yy++) {
        let p = (y * f + yy) * W + x * f;
        if (img.channels === 1) for (let xx = 0; xx < f; xx++, p++) s += d[p]!;
        else
          for (let xx = 0; xx < f; xx++, p++) {
            const r = d[p * 3]!;
            const v = Math.min(r, 2 * r - d[p * 3 + 2]!);
            if (v > 0) s += v;
          }
      }
      out[y * w + x] = s * inv;
    }
  return { width: w, height: h, data: out };
}

export function segmentHand(img: RasterImage, workSide: number = SEGMENTATION.workSide): HandSegmentation {
  const f = Math.max(1, Math.round(Math.max(img.width, img.height) / workSide));
  const score = foregroundScore(img, f);
  const { width: w, height: h } = score;
  const t = otsu(score.data);
  let m: Uint8Array = new Uint8Array(w * h);
  let sf = 0;
  let nf = 0;
  let sb = 0;
  for (let i = 0; i < w * h; i++) {
    const v = score.data[i]!;
    if (v > t) {
      m[i] = 1;
      sf += v;
      nf++;
    } else sb += v;
  }
  const separation = nf > 0 && nf < w * h ? sf / nf - sb / (w * h - nf) : 0;
  const r = Math.max(1, Math.round(Math.min(w, h) / SEGMENTATION.openingDivisor));
  m = morph(morph(m, w, h, r, false), w, h, r, true);
  const { mask, size } = largestComponent(m, w, h);
  return { mask, width: w, height: h, scale: f, foreground: size / (w * h), separation };
}
