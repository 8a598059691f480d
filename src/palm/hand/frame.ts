/**
 * Stage 3: the ROI frame from points, and the cut. A square in source pixels (centre, unit axes,
 * side) from two valleys (index/middle, ring/little), or from the hand mask's axis when the
 * fingers are held together; how much of it lies on the hand; and the resampled ROI.
 */
import type { GreyImage, RasterImage } from '../image.js';
import { warpSquare } from '../image.js';
import { FRAME } from './tunables.js';
import type { Point } from './types.js';
import { dist } from './valleys.js';

/** A square in source pixels: centre, unit axes (ex: ROI rows, ey: ROI columns, towards the wrist) and side. */
export interface Square {
  ctr: Point;
  ex: Point;
  ey: Point;
  side: number;
}

/** The point at (u, v) in [0, 1]^2 of the square. */
export function corner(q: Square, u: number, v: number): Point {
  return {
    x: q.ctr.x + (u - 0.5) * q.side * q.ex.x + (v - 0.5) * q.side * q.ey.x,
    y: q.ctr.y + (u - 0.5) * q.side * q.ex.y + (v - 0.5) * q.side * q.ey.y,
  };
}

/** Corners top-left, top-right, bottom-right, bottom-left. */
export function corners(q: Square): [Point, Point, Point, Point] {
  return [corner(q, 0, 0), corner(q, 1, 0), corner(q, 1, 1), corner(q, 0, 1)];
}

/** Share of the square that lies on a mask of f-pixel cells. */
export function coverOf(q: Square, mask: Uint8Array, w: number, h: number, f: number): number {
  let inside = 0;
  const G = FRAME.coverGrid;
  for (let j = 0; j < G; j++)
    for (let i = 0; i < G; i++) {
      const p = corner(q, (i + 0.5) / G, (j + 0.5) / G);
      const x = Math.round((p.x + 0.5) / f - 0.5);
      const y = Math.round((p.y + 0.5) / f - 0.5);
      if (x >= 0 && y >= 0 && x < w && y < h && mask[y * w + x]) inside++;
    }
  return inside / (G * G);
}

/**
 * The square below the index/middle – ring/little valley line (a, b in source pixels), on the
 * side of `towards` (a point in the palm), proportional to the valleys' distance.
 */
export function squareFromValleys(a: Point, b: Point, towards: Point): Square {
  const D = dist(a, b);
  const ex = { x: (b.x - a.x) / D, y: (b.y - a.y) / D };
  let ey = { x: -ex.y, y: ex.x };
  const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
  if ((towards.x - mid.x) * ey.x + (towards.y - mid.y) * ey.y < 0) ey = { x: -ey.x, y: -ey.y };
  return {
    ctr: { x: mid.x + ey.x * FRAME.valleyDepth * D, y: mid.y + ey.y * FRAME.valleyDepth * D },
    ex,
    ey,
    side: FRAME.valleySide * D,
  };
}

/**
 * Without finger valleys (fingers held together): centre on the palm; the axis is the principal
 * direction of the hand within a few palm radii (palm + finger block + wrist), and it points away
 * from the farthest contour point within a cone of that axis (the fingers), refined towards the
 * centroid of the finger block. centre and R in grid cells, c the centre in source pixels.
 */
export function fallbackSquare(
  mask: Uint8Array,
  w: number,
  h: number,
  f: number,
  centre: Point,
  R: number,
  contour: Point[],
  onBorder: boolean[],
  c: Point,
): Square {
  const n = contour.length;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  const r2 = (FRAME.axisRadius * R) ** 2;
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
  const cosCone = Math.cos((FRAME.fingerConeDeg * Math.PI) / 180);
  for (let i = 0; i < n; i++) {
    if (onBorder[i]) continue;
    const p = contour[i]!;
    const dx = p.x - centre.x;
    const dy = p.y - centre.y;
    const L = Math.hypot(dx, dy);
    const along = (dx * u.x + dy * u.y) / (L || 1);
    if (Math.abs(along) < cosCone) continue;
    if (L > best) {
      best = L;
      sign = along > 0 ? 1 : -1;
    }
  }
  let fx = sign * u.x;
  let fy = sign * u.y;
  for (let iter = 0; iter < FRAME.fingerBlockIterations; iter++) {
    let mx = 0;
    let my = 0;
    let cnt = 0;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        if (!mask[y * w + x]) continue;
        const dx = x - centre.x;
        const dy = y - centre.y;
        const L = Math.hypot(dx, dy);
        if (L < FRAME.fingerBlockNear * R || L > FRAME.fingerBlockFar * R || (dx * fx + dy * fy) / L < cosCone)
          continue;
        mx += dx;
        my += dy;
        cnt++;
      }
    if (cnt < FRAME.fingerBlockMinCells) break;
    const L = Math.hypot(mx, my);
    fx = mx / L;
    fy = my / L;
  }
  const ey = { x: -fx, y: -fy };
  return { ctr: c, ex: { x: ey.y, y: -ey.x }, ey, side: FRAME.fallbackSide * R * f };
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

/**
 * Resample the square to a size x size grey ROI (rows along ex, columns along ey); null when it
 * is outside the image.
 */
export function cutSquare(img: RasterImage, q: Square, size: number): GreyImage | null {
  const { ex, ey, side } = q;
  const cs = corners(q);
  const bx0 = Math.max(0, Math.floor(Math.min(...cs.map((p) => p.x))) - FRAME.cropMarginBefore);
  const by0 = Math.max(0, Math.floor(Math.min(...cs.map((p) => p.y))) - FRAME.cropMarginBefore);
  const bx1 = Math.min(img.width, Math.ceil(Math.max(...cs.map((p) => p.x))) + FRAME.cropMarginAfter);
  const by1 = Math.min(img.height, Math.ceil(Math.max(...cs.map((p) => p.y))) + FRAME.cropMarginAfter);
  if (bx1 - bx0 < FRAME.minCropSide || by1 - by0 < FRAME.minCropSide) return null;
  const grey = greyCrop(img, bx0, by0, bx1 - bx0, by1 - by0);
  const step = side / size;
  const tl = cs[0];
  return warpSquare(
    grey,
    size,
    [tl.x - bx0 + (ex.x + ey.x) * step * 0.5, tl.y - by0 + (ex.y + ey.y) * step * 0.5],
    [ex.x * step, ex.y * step],
    [ey.x * step, ey.y * step],
  );
}
