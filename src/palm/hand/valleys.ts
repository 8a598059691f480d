/**
 * Stage 2 of the valley path: the finger-valley locator. On the hand mask: the palm centre (the
 * mask's deepest point) and its depth, the contour, fingertips as the thin far peaks of the
 * contour's distance-to-centre profile, the valleys between neighbouring fingertips, and the two
 * valleys that define the ROI frame (index/middle, ring/little). Everything is in working-grid
 * cells; `toSource` maps a cell to source pixels.
 */
import { PalmImageError } from '../errors.js';
import { distanceTransform, traceContour } from './mask.js';
import type { HandSegmentation } from './segmentation.js';
import { VALLEYS } from './tunables.js';
import type { Point } from './types.js';

export interface ValleyResult {
  /** palm centre (grid cells) and palm radius (cells) */
  centre: Point;
  radius: number;
  contour: Point[];
  /** per contour point: on the grid's edge (the image cuts the hand there) */
  onBorder: boolean[];
  /** contour indices of the fingertips and the valleys' points (grid cells) */
  tips: number[];
  valleys: Point[];
  /** the valleys defining the frame (index/middle, ring/little), or null when fewer than four fingers were linked */
  frame: [Point, Point] | null;
  confidence: number;
}

export const dist = (a: Point, b: Point) => Math.hypot(a.x - b.x, a.y - b.y);

/** Grid cell centre to source pixel. */
export function toSource(p: Point, f: number): Point {
  return { x: (p.x + 0.5) * f - 0.5, y: (p.y + 0.5) * f - 0.5 };
}

function smoothCircular(v: Float64Array, k: number): Float64Array {
  const n = v.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = -k; j <= k; j++) s += v[(i + j + n) % n]!;
    out[i] = s / (2 * k + 1);
  }
  return out;
}

interface Link {
  a: number;
  b: number;
  v: number;
}

/** Palm centre, contour and radius; throws no_hand when the region cannot be a hand. */
function palmAndContour(seg: HandSegmentation): { centre: Point; radius: number; contour: Point[] } {
  const { mask, width: w, height: h } = seg;
  const dt = distanceTransform(mask, w, h);
  let ci = 0;
  for (let i = 1; i < w * h; i++) if (dt[i]! > dt[ci]!) ci = i;
  const centre: Point = { x: ci % w, y: Math.floor(ci / w) };
  const radius = dt[ci]!;
  if (radius < VALLEYS.minPalmRadius)
    throw new PalmImageError('no_hand', 'no hand found: the largest bright region is too thin for a palm');
  const contour = traceContour(mask, w, h);
  if (contour.length < VALLEYS.minContour) throw new PalmImageError('no_hand', 'no hand found: contour too short');
  return { centre, radius, contour };
}

/**
 * Fingertips: local maxima over a window, far enough from the centre, not on the border, and
 * thin: walking one palm radius along the contour on both sides of a fingertip ends about a
 * finger's width apart (an arm cut by the image, or a wrist corner, is much wider).
 */
function fingertips(contour: Point[], d: Float64Array, onBorder: boolean[], R: number): number[] {
  const n = contour.length;
  const win = Math.max(VALLEYS.minTipWindow, Math.round(n / VALLEYS.tipWindowDivisor));
  const reach = Math.max(VALLEYS.minTipReach, Math.round(VALLEYS.tipReach * R));
  const peaks: number[] = [];
  for (let i = 0; i < n; i++) {
    if (onBorder[i] || d[i]! < VALLEYS.tipMinDistance) continue;
    let isMax = true;
    for (let j = -win; j <= win && isMax; j++) {
      if (j === 0) continue;
      const v = d[(i + j + n) % n]!;
      if (v > d[i]! || (v === d[i]! && j < 0)) isMax = false;
    }
    if (!isMax) continue;
    const width = dist(contour[(i - reach + n) % n]!, contour[(i + reach) % n]!);
    if (width < VALLEYS.tipMaxWidth * R) peaks.push(i);
  }
  return peaks;
}

/**
 * Order the fingertips around the palm centre and open the circle at the widest angular gap
 * (where the wrist is), so that a chain never runs from the little finger to the thumb.
 */
function orderFromWrist(peaks: number[], contour: Point[], centre: Point): number[] {
  if (peaks.length < 2) return peaks;
  const ang = peaks.map((i) => Math.atan2(contour[i]!.y - centre.y, contour[i]!.x - centre.x));
  let gapAt = 0;
  let gapMax = -1;
  for (let k = 0; k < peaks.length; k++) {
    let g = Math.abs(ang[(k + 1) % peaks.length]! - ang[k]!);
    if (g > Math.PI) g = 2 * Math.PI - g;
    if (g > gapMax) {
      gapMax = g;
      gapAt = k;
    }
  }
  return [...peaks.slice(gapAt + 1), ...peaks.slice(0, gapAt + 1)];
}

/** Valleys between consecutive fingertips along the contour (not across the border / arm); the longest chain. */
function valleyChain(peaks: number[], d: Float64Array, onBorder: boolean[], contour: Point[]): Link[] {
  const n = d.length;
  const links: (Link | null)[] = [];
  for (let k = 0; k + 1 < peaks.length; k++) {
    const a = peaks[k]!;
    const b = peaks[k + 1]!;
    const len = (b - a + n) % n || n;
    let v = -1;
    let vmin = Infinity;
    let crossesBorder = false;
    for (let j = 1; j < len; j++) {
      const i = (a + j) % n;
      if (onBorder[i]) crossesBorder = true;
      if (d[i]! < vmin) {
        vmin = d[i]!;
        v = i;
      }
    }
    const ok =
      !crossesBorder &&
      v >= 0 &&
      vmin < Math.min(d[a]!, d[b]!) - VALLEYS.valleyMinDip &&
      vmin > VALLEYS.valleyMinDistance &&
      len < n / VALLEYS.linkMaxDivisor;
    links.push(ok ? { a, b, v } : null);
  }
  let bestChain: Link[] = [];
  let chain: Link[] = [];
  for (const l of links) {
    if (l) chain.push(l);
    else chain = [];
    if (chain.length > bestChain.length) bestChain = [...chain];
  }
  if (bestChain.length > 4) {
    // more than five "fingers": keep the four links with the closest-together valleys
    let best = 0;
    let bestSpan = Infinity;
    for (let s0 = 0; s0 + 4 <= bestChain.length; s0++) {
      const span = dist(contour[bestChain[s0]!.v]!, contour[bestChain[s0 + 3]!.v]!);
      if (span < bestSpan) {
        bestSpan = span;
        best = s0;
      }
    }
    bestChain = bestChain.slice(best, best + 4);
  }
  return bestChain;
}

/** Locate the palm centre, fingertips and finger valleys on a hand mask. Throws no_hand. */
export function locateValleys(seg: HandSegmentation): ValleyResult {
  const { width: w, height: h } = seg;
  const { centre, radius: R, contour } = palmAndContour(seg);
  const n = contour.length;
  const m0 = VALLEYS.borderMargin;
  const onBorder = contour.map((p) => p.x <= m0 || p.y <= m0 || p.x >= w - 1 - m0 || p.y >= h - 1 - m0);
  const raw = new Float64Array(n);
  for (let i = 0; i < n; i++) raw[i] = dist(contour[i]!, centre) / R;
  const d = smoothCircular(raw, Math.max(VALLEYS.minSmooth, Math.round(n / VALLEYS.smoothDivisor)));
  const peaks = orderFromWrist(fingertips(contour, d, onBorder, R), contour, centre);
  const chain = valleyChain(peaks, d, onBorder, contour);
  const valleys = chain.map((l) => contour[l.v]!);
  const tips = chain.length ? [chain[0]!.a, ...chain.map((l) => l.b)] : peaks;
  let frame: [Point, Point] | null = null;
  let confidence: number = VALLEYS.confidenceNone;
  if (chain.length >= 4) {
    // five fingers: the thumb sits at the end whose valley is farther from its neighbour
    const v = valleys;
    const m = v.length;
    const gapStart = dist(v[0]!, v[1]!);
    const gapEnd = dist(v[m - 1]!, v[m - 2]!);
    frame = gapStart > gapEnd ? [v[1]!, v[3]!] : [v[m - 2]!, v[m - 4]!];
    confidence = VALLEYS.confidenceFive;
  } else if (chain.length === 3) {
    // four fingers seen: assume index..little (thumb tucked in); handedness from the thumb side is unknown
    frame = [valleys[0]!, valleys[2]!];
    confidence = VALLEYS.confidenceFour;
  }
  return { centre, radius: R, contour, onBorder, tips, valleys, frame, confidence };
}
