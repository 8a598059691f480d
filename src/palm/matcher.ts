/**
 * Fine matcher: Hamming distance between bit-packed orientation codes with translation
 * tolerance, in plain TypeScript on 32-bit words (popcount through a 16-bit lookup table).
 *
 * Codes are `planes` x 32 rows of 32 bits. A shift (sx, sy) compares a 26x26 window of one code
 * with a window of the other displaced by (sx, sy) cells, |sx|,|sy| <= 3; the displacement is
 * split between the two windows so that compare(a, b) === compare(b, a).
 *
 * The kernel is WebAssembly SIMD (see simd.ts) where available, else plain TypeScript with a
 * 16-bit popcount table (both give identical distances for 'exhaustive').
 *
 * Search strategies:
 * - 'exhaustive': all 49 shifts on all planes (classical CompCode / BOCV matching);
 * - 'climb': the best of 9 seeds on a step-2 grid, then steepest descent over the
 *   8-neighbourhood until no neighbour is better (typically 15-25 shifts instead of 49). The TypeScript kernel climbs on every third
 *   row, then checks the full code at the optimum and its 4 neighbours, abandoning impostor
 *   shifts early.
 */
import { simdKernel, type SimdKernel } from './simd.js';

export const GRID = 32;
export const MAX_SHIFT = 3;
export const WINDOW = GRID - 2 * MAX_SHIFT; // 26
const MASK = WINDOW >= 32 ? -1 : (1 << WINDOW) - 1;

const POP16 = (() => {
  const t = new Uint8Array(65536);
  for (let i = 1; i < 65536; i++) t[i] = (i & 1) + t[i >>> 1]!;
  return t;
})();

const SEEN = new Uint8Array(49);
// window offsets of the two operands for a shift s (index s + MAX_SHIFT): the shift is split
// between them so that compare(a, b) === compare(b, a)
const OFF_A = Int32Array.from({ length: 2 * MAX_SHIFT + 1 }, (_, i) => MAX_SHIFT - Math.floor((i - MAX_SHIFT) / 2));
const OFF_B = Int32Array.from({ length: 2 * MAX_SHIFT + 1 }, (_, i) => MAX_SHIFT + Math.ceil((i - MAX_SHIFT) / 2));
const COARSE_PLANE_STEP = 1;
const COARSE_ROW_STEP = 3;

export type SearchMode = 'exhaustive' | 'climb';

export interface CodeMatch {
  /** fraction of differing bits at the best shift, 0..1 */
  distance: number;
  dx: number;
  dy: number;
}

/** Mismatched bits at shift (sx, sy) over planes [p0, p1) step pStep, rows step rStep. Stops past `limit`. */
function hamming(
  a: Int32Array,
  b: Int32Array,
  sx: number,
  sy: number,
  p0: number,
  p1: number,
  pStep: number,
  rStep: number,
  limit: number,
): number {
  const ax = MAX_SHIFT - Math.floor(sx / 2);
  const bx = MAX_SHIFT + Math.ceil(sx / 2);
  const ay = MAX_SHIFT - Math.floor(sy / 2);
  const by = MAX_SHIFT + Math.ceil(sy / 2);
  let tot = 0;
  for (let p = p0; p < p1; p += pStep) {
    const ia = p * GRID + ay;
    const ib = p * GRID + by;
    for (let r = 0; r < WINDOW; r += rStep) {
      const x = ((a[ia + r]! >>> ax) ^ (b[ib + r]! >>> bx)) & MASK;
      tot += POP16[x & 0xffff]! + POP16[x >>> 16]!;
    }
    if (tot > limit) return tot;
  }
  return tot;
}

export function matchCodes(
  a: Int32Array,
  b: Int32Array,
  planes: number,
  mode: SearchMode = 'climb',
  guide: [first: number, count: number] = [0, planes],
): CodeMatch {
  if (a.length !== planes * GRID || b.length !== planes * GRID) throw new Error('code size mismatch');
  const k = useSimd ? simdKernel() : null;
  return k && a.length <= k.a.length ? matchSimd(k, a, b, planes, mode, guide) : matchJs(a, b, planes, mode);
}

let useSimd = true;
/** Force the plain TypeScript kernel (tests compare both). */
export function setSimd(on: boolean): void {
  useSimd = on;
}

function matchSimd(
  k: SimdKernel,
  a: Int32Array,
  b: Int32Array,
  planes: number,
  mode: SearchMode,
  guide: [number, number],
): CodeMatch {
  k.a.set(a);
  k.b.set(b);
  const hd = k.raw;
  const A = k.addrA;
  const B = k.addrB;
  const full = planes * WINDOW * WINDOW;
  // climb on the guide planes (all planes unless told otherwise), score the optimum on all
  const [g0, gn] = guide;
  const guided = mode === 'climb' && (g0 !== 0 || gn !== planes);
  const gA = A + g0 * GRID * 4;
  const gB = B + g0 * GRID * 4;
  const np = mode === 'climb' ? gn : planes;
  const pa = mode === 'climb' ? gA : A;
  const pb = mode === 'climb' ? gB : B;
  let best = hd(pa, pb, OFF_A[MAX_SHIFT]!, OFF_B[MAX_SHIFT]!, OFF_A[MAX_SHIFT]!, OFF_B[MAX_SHIFT]!, np, MASK);
  let bdx = 0;
  let bdy = 0;
  if (mode === 'exhaustive') {
    for (let sy = -MAX_SHIFT; sy <= MAX_SHIFT; sy++) {
      const ay = OFF_A[sy + MAX_SHIFT]!;
      const by = OFF_B[sy + MAX_SHIFT]!;
      for (let sx = -MAX_SHIFT; sx <= MAX_SHIFT; sx++) {
        if (sx === 0 && sy === 0) continue;
        const d = hd(A, B, OFF_A[sx + MAX_SHIFT]!, OFF_B[sx + MAX_SHIFT]!, ay, by, planes, MASK);
        if (d < best) {
          best = d;
          bdx = sx;
          bdy = sy;
        }
      }
    }
    return { distance: best / full, dx: bdx, dy: bdy };
  }
  const seen = SEEN;
  seen.fill(0);
  seen[24] = 1;
  // seeds on a coarse grid (step 2) so that the descent starts in the right basin even when the
  // best shift is at the edge of the range
  for (let sy = -2; sy <= 2; sy += 2)
    for (let sx = -2; sx <= 2; sx += 2) {
      if (sx === 0 && sy === 0) continue;
      seen[(sy + MAX_SHIFT) * 7 + sx + MAX_SHIFT] = 1;
      const d = hd(
        pa,
        pb,
        OFF_A[sx + MAX_SHIFT]!,
        OFF_B[sx + MAX_SHIFT]!,
        OFF_A[sy + MAX_SHIFT]!,
        OFF_B[sy + MAX_SHIFT]!,
        np,
        MASK,
      );
      if (d < best) {
        best = d;
        bdx = sx;
        bdy = sy;
      }
    }
  for (;;) {
    const cx = bdx;
    const cy = bdy;
    for (let dy = -1; dy <= 1; dy++) {
      const sy = cy + dy;
      if (sy < -MAX_SHIFT || sy > MAX_SHIFT) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const sx = cx + dx;
        if (sx < -MAX_SHIFT || sx > MAX_SHIFT) continue;
        const i = (sy + MAX_SHIFT) * 7 + sx + MAX_SHIFT;
        if (seen[i]) continue;
        seen[i] = 1;
        const d = hd(
          pa,
          pb,
          OFF_A[sx + MAX_SHIFT]!,
          OFF_B[sx + MAX_SHIFT]!,
          OFF_A[sy + MAX_SHIFT]!,
          OFF_B[sy + MAX_SHIFT]!,
          np,
          MASK,
        );
        if (d < best) {
          best = d;
          bdx = sx;
          bdy = sy;
        }
      }
    }
    if (bdx === cx && bdy === cy) break;
  }
  if (guided)
    best = hd(
      A,
      B,
      OFF_A[bdx + MAX_SHIFT]!,
      OFF_B[bdx + MAX_SHIFT]!,
      OFF_A[bdy + MAX_SHIFT]!,
      OFF_B[bdy + MAX_SHIFT]!,
      planes,
      MASK,
    );
  return { distance: best / full, dx: bdx, dy: bdy };
}

function matchJs(a: Int32Array, b: Int32Array, planes: number, mode: SearchMode): CodeMatch {
  const full = planes * WINDOW * WINDOW;
  if (mode === 'exhaustive') {
    let best = Infinity;
    let bdx = 0;
    let bdy = 0;
    for (let sy = -MAX_SHIFT; sy <= MAX_SHIFT; sy++) {
      for (let sx = -MAX_SHIFT; sx <= MAX_SHIFT; sx++) {
        const d = hamming(a, b, sx, sy, 0, planes, 1, 1, best);
        if (d < best) {
          best = d;
          bdx = sx;
          bdy = sy;
        }
      }
    }
    return { distance: best / full, dx: bdx, dy: bdy };
  }
  // coarse hill climb on a quarter of the bits
  const pStep = planes >= 4 ? COARSE_PLANE_STEP : 1;
  const rStep = COARSE_ROW_STEP;
  const seen = SEEN;
  seen.fill(0);
  let cx = 0;
  let cy = 0;
  let cbest = hamming(a, b, 0, 0, 0, planes, pStep, rStep, Infinity);
  seen[24] = 1;
  for (;;) {
    let nx = cx;
    let ny = cy;
    const from = cbest;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const sx = cx + dx;
        const sy = cy + dy;
        if (sx < -MAX_SHIFT || sx > MAX_SHIFT || sy < -MAX_SHIFT || sy > MAX_SHIFT) continue;
        const k = (sy + MAX_SHIFT) * 7 + sx + MAX_SHIFT;
        if (seen[k]) continue;
        seen[k] = 1;
        const d = hamming(a, b, sx, sy, 0, planes, pStep, rStep, cbest);
        if (d < cbest) {
          cbest = d;
          nx = sx;
          ny = sy;
        }
      }
    }
    if (cbest >= from) break;
    cx = nx;
    cy = ny;
  }
  // full code at the coarse optimum and its 4-neighbours
  let best = hamming(a, b, cx, cy, 0, planes, 1, 1, Infinity);
  let bdx = cx;
  let bdy = cy;
  const nb: [number, number][] = [
    [1, 0],
    [-1, 0],
    [0, 1],
    [0, -1],
  ];
  for (const [dx, dy] of nb) {
    const sx = cx + dx;
    const sy = cy + dy;
    if (sx < -MAX_SHIFT || sx > MAX_SHIFT || sy < -MAX_SHIFT || sy > MAX_SHIFT) continue;
    const d = hamming(a, b, sx, sy, 0, planes, 1, 1, best);
    if (d < best) {
      best = d;
      bdx = sx;
      bdy = sy;
    }
  }
  return { distance: best / full, dx: bdx, dy: bdy };
}

/** Map a code distance to a similarity in [0, 1]: 1 = identical, 0 = at or beyond chance (0.5). */
export function distanceToSimilarity(d: number): number {
  const s = 1 - 2 * d;
  return s < 0 ? 0 : s > 1 ? 1 : s;
}

/** Shift a code by (dx, dy) cells (new cells are filled from the nearest edge), for fusion. */
export function shiftCode(code: Int32Array, planes: number, dx: number, dy: number): Int32Array {
  const out = new Int32Array(code.length);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < GRID; y++) {
      const sy = Math.min(GRID - 1, Math.max(0, y - dy));
      const w = code[p * GRID + sy]!;
      let o = 0;
      for (let x = 0; x < GRID; x++) {
        const sx = Math.min(GRID - 1, Math.max(0, x - dx));
        if ((w >>> sx) & 1) o |= 1 << x;
      }
      out[p * GRID + y] = o;
    }
  }
  return out;
}
