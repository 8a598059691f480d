/**
 * Binary mask primitives on a working grid (row-major, 1 = foreground): morphological filter,
 * largest connected component with its holes filled, chamfer distance transform and contour
 * tracing. No thresholds live here; the callers pass sizes from tunables.ts.
 */
import type { Point } from './types.js';

/** Binary min/max filter with a (2r+1)^2 square, separable. */
export function morph(m: Uint8Array, w: number, h: number, r: number, dilate: boolean): Uint8Array {
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

export function largestComponent(m: Uint8Array, w: number, h: number): { mask: Uint8Array; size: number } {
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
export function distanceTransform(m: Uint8Array, w: number, h: number): Float32Array {
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
export function traceContour(m: Uint8Array, w: number, h: number): Point[] {
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
