/**
 * Region of interest. A palm crop is normalised as it is (centre square, resampled to the
 * model's ROI size). A whole-hand photo (hand brighter than a dark background, any rotation)
 * is segmented, its contour traced, fingertips and the valleys between the fingers located
 * on the contour's distance-to-palm-centre profile, and a square cut in the frame of the
 * index/middle and ring/little valleys (rotation and scale normalised).
 */
import { PalmImageError } from './errors.js';
import { type GreyImage, type RasterImage, resizeSquare, toGrey, warpSquare } from './image.js';

export type ImageKind = 'roi' | 'hand' | 'auto';

export interface Point {
  x: number;
  y: number;
}

export interface HandLandmarks {
  /** palm centre (deepest point of the hand mask) and its depth (px) */
  centre: Point;
  palmRadius: number;
  fingertips: Point[];
  valleys: Point[];
  /** the two valleys defining the frame (index/middle, ring/little) */
  frame: [Point, Point] | null;
  /** ROI square corners in source pixels (top-left, top-right, bottom-right, bottom-left) */
  square: [Point, Point, Point, Point];
  contour: Point[];
}

export interface RoiResult {
  roi: GreyImage; // size x size, 0..255
  kind: 'roi' | 'hand';
  /** 0..1: how sure the locator is about this ROI */
  confidence: number;
  /** side of the ROI square in source pixels */
  sourceSide: number;
  landmarks?: HandLandmarks;
}

export const ROI_SIZE = 128;

/** Normalise a palm crop: centre square, resampled to size x size. */
function normaliseCrop(grey: GreyImage, size = ROI_SIZE): RoiResult {
  const side = Math.min(grey.width, grey.height);
  const x0 = (grey.width - side) / 2;
  const y0 = (grey.height - side) / 2;
  let sq = grey;
  if (grey.width !== grey.height) {
    const s = side / size;
    return {
      roi: warpSquare(grey, size, [x0 + (s - 1) / 2, y0 + (s - 1) / 2], [s, 0], [0, s]),
      kind: 'roi',
      confidence: 1,
      sourceSide: side,
    };
  }
  sq = resizeSquare(grey, size);
  return { roi: sq, kind: 'roi', confidence: 1, sourceSide: side };
}

// ---------------------------------------------------------------- segmentation helpers

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

/** Binary min/max filter with a (2r+1)^2 square, separable. */
function morph(m: Uint8Array, w: number, h: number, r: number, dilate: boolean): Uint8Array {
  return morphPass(morphPass(m, w, h, r, dilate, true), w, h, r, dilate, false);
}

/** One pass of the filter, along the rows or along the columns; outside the image counts as 0. */
function morphPass(m: Uint8Array, w: number, h: number, r: number, dilate: boolean, rows: boolean): Uint8Array {
  const out = new Uint8Array(w * h);
  const want = dilate ? 1 : 0;
  const n = rows ? w : h;
  const stride = rows ? 1 : w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c = rows ? x : y;
      let v = dilate ? 0 : 1;
      for (let k = -r; k <= r; k++) {
        const s = c + k < 0 || c + k >= n ? 0 : m[y * w + x + k * stride]!;
        if (s === want) {
          v = want;
          break;
        }
      }
      out[y * w + x] = v;
    }
  }
  return out;
}

/**
 * Breadth-first walk over 4-neighbours from the pixels queued in queue[0, tail): `take(p)` claims
 * a pixel (true: it is queued and walked on from). Returns the number of pixels queued.
 */
function flood(queue: Int32Array, tail: number, w: number, h: number, take: (p: number) => boolean): number {
  let head = 0;
  while (head < tail) {
    const p = queue[head++]!;
    const x = p % w;
    const y = (p - x) / w;
    if (x > 0 && take(p - 1)) queue[tail++] = p - 1;
    if (x < w - 1 && take(p + 1)) queue[tail++] = p + 1;
    if (y > 0 && take(p - w)) queue[tail++] = p - w;
    if (y < h - 1 && take(p + w)) queue[tail++] = p + w;
  }
  return tail;
}

function largestComponent(m: Uint8Array, w: number, h: number): { mask: Uint8Array; size: number } {
  const label = new Int32Array(w * h);
  const queue = new Int32Array(w * h);
  let bestLabel = 0;
  let bestSize = 0;
  let next = 0;
  const unlabelled = (p: number) => {
    if (!m[p] || label[p]) return false;
    label[p] = next;
    return true;
  };
  for (let i = 0; i < w * h; i++) {
    if (!m[i] || label[i]) continue;
    next++;
    label[i] = next;
    queue[0] = i;
    const size = flood(queue, 1, w, h, unlabelled);
    if (size > bestSize) {
      bestSize = size;
      bestLabel = next;
    }
  }
  const out = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) out[i] = label[i] === bestLabel && bestLabel ? 1 : 0;
  // fill holes: background not reachable from the border becomes foreground
  const seen = new Uint8Array(w * h);
  const background = (p: number) => {
    if (out[p] || seen[p]) return false;
    seen[p] = 1;
    return true;
  };
  let tail = 0;
  const seed = (p: number) => {
    if (background(p)) queue[tail++] = p;
  };
  for (let x = 0; x < w; x++) {
    seed(x);
    seed((h - 1) * w + x);
  }
  for (let y = 0; y < h; y++) {
    seed(y * w);
    seed(y * w + w - 1);
  }
  flood(queue, tail, w, h, background);
  for (let i = 0; i < w * h; i++) if (!out[i] && !seen[i]) out[i] = 1;
  return { mask: out, size: bestSize };
}

/** Chamfer (3-4) distance to the nearest background pixel; outside the image counts as background. */
function distanceTransform(m: Uint8Array, w: number, h: number): Float32Array {
  const d = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) d[i] = m[i] ? 1e9 : 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let v = d[i]!;
      if (v === 0) continue;
      const l = x > 0 ? d[i - 1]! + 3 : 3;
      const u = y > 0 ? d[i - w]! + 3 : 3;
      const ul = x > 0 && y > 0 ? d[i - w - 1]! + 4 : 4;
      const ur = x < w - 1 && y > 0 ? d[i - w + 1]! + 4 : 4;
      if (l < v) v = l;
      if (u < v) v = u;
      if (ul < v) v = ul;
      if (ur < v) v = ur;
      d[i] = v;
    }
  for (let y = h - 1; y >= 0; y--)
    for (let x = w - 1; x >= 0; x--) {
      const i = y * w + x;
      let v = d[i]!;
      if (v === 0) continue;
      const r = x < w - 1 ? d[i + 1]! + 3 : 3;
      const dn = y < h - 1 ? d[i + w]! + 3 : 3;
      const dr = x < w - 1 && y < h - 1 ? d[i + w + 1]! + 4 : 4;
      const dl = x > 0 && y < h - 1 ? d[i + w - 1]! + 4 : 4;
      if (r < v) v = r;
      if (dn < v) v = dn;
      if (dr < v) v = dr;
      if (dl < v) v = dl;
      d[i] = v;
    }
  for (let i = 0; i < w * h; i++) d[i] = d[i]! / 3;
  return d;
}

/** Moore-neighbour boundary tracing of a single filled component. */
function traceContour(m: Uint8Array, w: number, h: number): Point[] {
  let start = -1;
  for (let i = 0; i < w * h; i++)
    if (m[i]) {
      start = i;
      break;
    }
  if (start < 0) return [];
  const dirs: [number, number][] = [
    [1, 0],
    [1, 1],
    [0, 1],
    [-1, 1],
    [-1, 0],
    [-1, -1],
    [0, -1],
    [1, -1],
  ];
  const fg = (x: number, y: number) => x >= 0 && y >= 0 && x < w && y < h && m[y * w + x] === 1;
  const sx = start % w;
  const sy = (start - sx) / w;
  const pts: Point[] = [{ x: sx, y: sy }];
  let cx = sx;
  let cy = sy;
  let dir = 7; // came from the left/top
  const maxSteps = 8 * w * h;
  for (let step = 0; step < maxSteps; step++) {
    let found = false;
    for (let k = 0; k < 8; k++) {
      const d = (dir + 6 + k) % 8; // start looking back-left of the previous direction
      const [dx, dy] = dirs[d]!;
      if (fg(cx + dx, cy + dy)) {
        cx += dx;
        cy += dy;
        dir = d;
        found = true;
        break;
      }
    }
    if (!found) break;
    if (cx === sx && cy === sy) break;
    pts.push({ x: cx, y: cy });
  }
  return pts;
}

// ---------------------------------------------------------------- hand ROI

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

interface HandSegmentation {
  mask: Uint8Array;
  width: number;
  height: number;
  scale: number;
  foreground: number; // fraction of the image
  separation: number; // mean(fg) - mean(bg) of the score
}

function segmentHand(img: RasterImage, workSide = 240): HandSegmentation {
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
  const r = Math.max(1, Math.round(Math.min(w, h) / 100));
  m = morph(morph(m, w, h, r, false), w, h, r, true);
  const { mask, size } = largestComponent(m, w, h);
  return { mask, width: w, height: h, scale: f, foreground: size / (w * h), separation };
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

const dist = (a: Point, b: Point) => Math.hypot(a.x - b.x, a.y - b.y);

/** Locate the palm in a whole-hand image and cut a normalised square ROI. */
function locateHandRoi(img: RasterImage, size = ROI_SIZE): RoiResult {
  const seg = segmentHand(img);
  const { mask, width: w, height: h, scale: f } = seg;
  if (seg.foreground < 0.03 || seg.separation < 25)
    throw new PalmImageError('no_hand', 'no hand found: nothing stands out from the background');
  if (seg.foreground > 0.92)
    throw new PalmImageError('no_hand', 'no hand found: the image is all foreground (a palm crop? use kind "roi")');
  const dt = distanceTransform(mask, w, h);
  let ci = 0;
  for (let i = 1; i < w * h; i++) if (dt[i]! > dt[ci]!) ci = i;
  const centre: Point = { x: ci % w, y: Math.floor(ci / w) };
  const R = dt[ci]!;
  if (R < 8) throw new PalmImageError('no_hand', 'no hand found: the largest bright region is too thin for a palm');
  const contour = traceContour(mask, w, h);
  const n = contour.length;
  if (n < 50) throw new PalmImageError('no_hand', 'no hand found: contour too short');
  const onBorder = contour.map((p) => p.x <= 1 || p.y <= 1 || p.x >= w - 2 || p.y >= h - 2);
  const raw = new Float64Array(n);
  for (let i = 0; i < n; i++) raw[i] = dist(contour[i]!, centre) / R;
  const d = smoothCircular(raw, Math.max(2, Math.round(n / 200)));
  // fingertips: local maxima over a window, far enough from the centre, not on the border,
  // and thin: walking one palm radius along the contour on both sides of a fingertip ends
  // about a finger's width apart (an arm cut by the image, or a wrist corner, is much wider)
  const win = Math.max(5, Math.round(n / 40));
  const reach = Math.max(3, Math.round(R));
  const peaks: number[] = [];
  for (let i = 0; i < n; i++) {
    if (onBorder[i] || d[i]! < 1.7) continue;
    let isMax = true;
    for (let j = -win; j <= win && isMax; j++) {
      if (j === 0) continue;
      const v = d[(i + j + n) % n]!;
      if (v > d[i]! || (v === d[i]! && j < 0)) isMax = false;
    }
    if (!isMax) continue;
    const width = dist(contour[(i - reach + n) % n]!, contour[(i + reach) % n]!);
    if (width < 0.9 * R) peaks.push(i);
  }
  // order the fingertips around the palm centre and open the circle at the widest angular gap
  // (where the wrist is), so that a chain never runs from the little finger to the thumb
  if (peaks.length >= 2) {
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
    const rotated = [...peaks.slice(gapAt + 1), ...peaks.slice(0, gapAt + 1)];
    peaks.splice(0, peaks.length, ...rotated);
  }
  // valleys between consecutive fingertips along the contour (not across the border / arm)
  interface Link {
    a: number;
    b: number;
    v: number;
  }
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
    const ok = !crossesBorder && v >= 0 && vmin < Math.min(d[a]!, d[b]!) - 0.45 && vmin > 0.6 && len < n / 3;
    links.push(ok ? { a, b, v } : null);
  }
  // longest chain of linked fingertips
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
  const toSrc = (p: Point): Point => ({ x: (p.x + 0.5) * f - 0.5, y: (p.y + 0.5) * f - 0.5 });
  const valleyPts = bestChain.map((l) => contour[l.v]!);
  const tipIdx = bestChain.length ? [bestChain[0]!.a, ...bestChain.map((l) => l.b)] : peaks;
  let frame: [Point, Point] | null = null;
  let confidence = 0.3;
  if (bestChain.length >= 4) {
    // five fingers: the thumb sits at the end whose valley is farther from its neighbour
    const v = valleyPts;
    const m = v.length;
    const gapStart = dist(v[0]!, v[1]!);
    const gapEnd = dist(v[m - 1]!, v[m - 2]!);
    frame = gapStart > gapEnd ? [v[1]!, v[3]!] : [v[m - 2]!, v[m - 4]!];
    confidence = 1;
  } else if (bestChain.length === 3) {
    // four fingers seen: assume index..little (thumb tucked in); handedness from the thumb side is unknown
    frame = [valleyPts[0]!, valleyPts[2]!];
    confidence = 0.6;
  }
  const c = toSrc(centre);
  interface Square {
    ctr: Point;
    ex: Point;
    ey: Point;
    side: number;
  }
  const corner = (q: Square, u: number, v: number): Point => ({
    x: q.ctr.x + (u - 0.5) * q.side * q.ex.x + (v - 0.5) * q.side * q.ey.x,
    y: q.ctr.y + (u - 0.5) * q.side * q.ex.y + (v - 0.5) * q.side * q.ey.y,
  });
  // how much of a square lies on the hand
  const coverOf = (q: Square): number => {
    let inside = 0;
    const G = 16;
    for (let j = 0; j < G; j++)
      for (let i = 0; i < G; i++) {
        const p = corner(q, (i + 0.5) / G, (j + 0.5) / G);
        const x = Math.round((p.x + 0.5) / f - 0.5);
        const y = Math.round((p.y + 0.5) / f - 0.5);
        if (x >= 0 && y >= 0 && x < w && y < h && mask[y * w + x]) inside++;
      }
    return inside / (G * G);
  };
  // without finger valleys (fingers held together): centre on the palm; the axis is the
  // principal direction of the hand within 2.5 palm radii (palm + finger block + wrist), and
  // it points away from the farthest contour point within 35 degrees of that axis (the fingers)
  const fallback = (): Square => {
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    const r2 = (2.5 * R) ** 2;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        if (!mask[y * w + x]) continue;
        const dx = x - centre.x;
        const dy = y - centre.y;
        if (dx * dx + dy * dy > r2) continue;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
      }
    const theta = 0.5 * Math.atan2(2 * sxy, sxx - syy);
    const u = { x: Math.cos(theta), y: Math.sin(theta) };
    let best = 0;
    let sign = 1;
    const cos35 = Math.cos((35 * Math.PI) / 180);
    for (let i = 0; i < n; i++) {
      if (onBorder[i]) continue;
      const p = contour[i]!;
      const dx = p.x - centre.x;
      const dy = p.y - centre.y;
      const L = Math.hypot(dx, dy);
      const along = (dx * u.x + dy * u.y) / (L || 1);
      if (Math.abs(along) < cos35) continue;
      if (L > best) {
        best = L;
        sign = along > 0 ? 1 : -1;
      }
    }
    // refine: direction to the centroid of the finger block (hand pixels 1.6-3.5 palm radii
    // away, within 35 degrees of the current finger direction), twice
    let fx = sign * u.x;
    let fy = sign * u.y;
    for (let iter = 0; iter < 2; iter++) {
      let mx = 0;
      let my = 0;
      let cnt = 0;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          if (!mask[y * w + x]) continue;
          const dx = x - centre.x;
          const dy = y - centre.y;
          const L = Math.hypot(dx, dy);
          if (L < 1.6 * R || L > 3.5 * R || (dx * fx + dy * fy) / L < cos35) continue;
          mx += dx;
          my += dy;
          cnt++;
        }
      if (cnt < 10) break;
      const L = Math.hypot(mx, my);
      fx = mx / L;
      fy = my / L;
    }
    const ey = { x: -fx, y: -fy };
    return { ctr: c, ex: { x: ey.y, y: -ey.x }, ey, side: 1.3 * R * f };
  };
  let q: Square;
  if (frame) {
    const a = toSrc(frame[0]);
    const b = toSrc(frame[1]);
    const D = dist(a, b);
    const ex = { x: (b.x - a.x) / D, y: (b.y - a.y) / D };
    let ey = { x: -ex.y, y: ex.x };
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    if ((c.x - mid.x) * ey.x + (c.y - mid.y) * ey.y < 0) ey = { x: -ey.x, y: -ey.y };
    // the square below the index/middle - ring/little valley line, proportional to their distance
    q = { ctr: { x: mid.x + ey.x * 0.85 * D, y: mid.y + ey.y * 0.85 * D }, ex, ey, side: 1.2 * D };
    const ratio = D / (R * f);
    if (ratio < 0.5 || ratio > 2.2) confidence *= 0.5;
    if (coverOf(q) < 0.5) {
      // implausible valleys: fall back on the palm centre rather than fail
      q = fallback();
      frame = null;
      confidence = 0.3;
    }
  } else q = fallback();
  const cover = coverOf(q);
  if (cover < 0.5) throw new PalmImageError('no_hand', 'no usable palm found: the palm square falls off the hand');
  confidence *= Math.min(1, Math.max(0, (cover - 0.5) / 0.45));
  const { ex, ey, side } = q;
  const sq = (u: number, v: number): Point => corner(q, u, v);
  const corners = [sq(0, 0), sq(1, 0), sq(1, 1), sq(0, 1)];
  const bx0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p.x))) - 2);
  const by0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p.y))) - 2);
  const bx1 = Math.min(img.width, Math.ceil(Math.max(...corners.map((p) => p.x))) + 3);
  const by1 = Math.min(img.height, Math.ceil(Math.max(...corners.map((p) => p.y))) + 3);
  if (bx1 - bx0 < 4 || by1 - by0 < 4)
    throw new PalmImageError('no_hand', 'no usable palm found: the palm square is outside the image');
  const grey = greyCrop(img, bx0, by0, bx1 - bx0, by1 - by0);
  const step = side / size;
  const tl = sq(0, 0);
  const roi = warpSquare(
    grey,
    size,
    [tl.x - bx0 + (ex.x + ey.x) * step * 0.5, tl.y - by0 + (ex.y + ey.y) * step * 0.5],
    [ex.x * step, ex.y * step],
    [ey.x * step, ey.y * step],
  );
  return {
    roi,
    kind: 'hand',
    confidence,
    sourceSide: side,
    landmarks: {
      centre: c,
      palmRadius: R * f,
      fingertips: tipIdx.map((i) => toSrc(contour[i]!)),
      valleys: valleyPts.map(toSrc),
      frame: frame ? [toSrc(frame[0]), toSrc(frame[1])] : null,
      square: [sq(0, 0), sq(1, 0), sq(1, 1), sq(0, 1)],
      contour: contour.map(toSrc),
    },
  };
}

function greyCrop(img: RasterImage, x0: number, y0: number, w: number, h: number): GreyImage {
  const out = new Float32Array(w * h);
  const d = img.data;
  for (let y = 0; y < h; y++) {
    let p = (y0 + y) * img.width + x0;
    if (img.channels === 1) for (let x = 0; x < w; x++, p++) out[y * w + x] = d[p]!;
    else
      for (let x = 0; x < w; x++, p++)
        out[y * w + x] = 0.299 * d[p * 3]! + 0.587 * d[p * 3 + 1]! + 0.114 * d[p * 3 + 2]!;
  }
  return { width: w, height: h, data: out };
}

/** Decide between a palm crop and a whole hand. */
export function detectKind(img: RasterImage): 'roi' | 'hand' {
  if (Math.max(img.width, img.height) <= 200) return 'roi';
  const seg = segmentHand(img, 120);
  return seg.foreground < 0.85 && seg.separation >= 25 ? 'hand' : 'roi';
}

export function locateRoi(img: RasterImage, kind: ImageKind = 'auto', size = ROI_SIZE): RoiResult {
  const k = kind === 'auto' ? detectKind(img) : kind;
  return k === 'hand' ? locateHandRoi(img, size) : normaliseCrop(toGrey(img), size);
}
