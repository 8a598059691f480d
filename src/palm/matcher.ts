/**
 * Fine matcher: Hamming distance between bit-packed orientation codes with translation
 * tolerance.
 *
 * Codes are `planes` x 32 rows of 32 bits. A shift (sx, sy) compares a 26x26 window of one code
 * with a window of the other displaced by (sx, sy) cells, |sx|,|sy| <= 3; the displacement is
 * split between the two windows so that compare(a, b) === compare(b, a).
 *
 * One shift search over one of two kernels that count the mismatched bits at a shift:
 * WebAssembly SIMD (simd.ts) where available, else TypeScript on 32-bit words with a 16-bit
 * popcount table. Both count the same bits, so both find the same match in every search mode.
 *
 * Search modes:
 * - 'exhaustive': all 49 shifts on all planes (classical CompCode / BOCV matching);
 * - 'climb': the best of 9 seeds on a step-2 grid, then steepest descent over the
 *   8-neighbourhood until no neighbour is better, on the guide planes (all planes unless told
 *   otherwise); the optimum is then scored on all planes.
 * Of equal distances the shift tried first wins, and the zero shift is tried first.
 */
import { simdKernel, type SimdKernel } from './simd.js';

const GRID = 32;
const MAX_SHIFT = 3;
const SIDE = 2 * MAX_SHIFT + 1;
const WINDOW = GRID - 2 * MAX_SHIFT;
const MASK = WINDOW >= 32 ? -1 : (1 << WINDOW) - 1;

const POP16 = (() => {
  const t = new Uint8Array(65536);
  for (let i = 1; i < 65536; i++) t[i] = (i & 1) + t[i >>> 1]!;
  return t;
})();

const SEEN = new Uint8Array(SIDE * SIDE);
// window offsets of the two operands for a shift s (index s + MAX_SHIFT): the shift is split
// between them so that compare(a, b) === compare(b, a)
const OFF_A = Int32Array.from({ length: SIDE }, (_, i) => MAX_SHIFT - Math.floor((i - MAX_SHIFT) / 2));
const OFF_B = Int32Array.from({ length: SIDE }, (_, i) => MAX_SHIFT + Math.ceil((i - MAX_SHIFT) / 2));

export type SearchMode = 'exhaustive' | 'climb';

export interface CodeMatch {
  /** fraction of differing bits at the best shift, 0..1 */
  distance: number;
  dx: number;
  dy: number;
}

/**
 * Mismatched bits of the two loaded codes at shift (sx, sy) over planes [first, first + count).
 * May stop counting once past `limit` and return any count above it.
 */
type Kernel = (sx: number, sy: number, first: number, count: number, limit: number) => number;

let useSimd = true;
/** Force the TypeScript kernel (tests compare both). */
export function setSimd(on: boolean): void {
  useSimd = on;
}

/** Whether this runtime has the SIMD kernel (without it, matching counts with TypeScript). */
export function simdAvailable(): boolean {
  return simdOrNull() !== null;
}

let jsA: Int32Array = new Int32Array(0);
let jsB = jsA;

const jsKernel: Kernel = (sx, sy, first, count, limit) => {
  const ax = OFF_A[sx + MAX_SHIFT]!;
  const bx = OFF_B[sx + MAX_SHIFT]!;
  const ay = OFF_A[sy + MAX_SHIFT]!;
  const by = OFF_B[sy + MAX_SHIFT]!;
  let tot = 0;
  for (let p = first; p < first + count; p++) {
    const ia = p * GRID + ay;
    const ib = p * GRID + by;
    for (let r = 0; r < WINDOW; r++) {
      const x = ((jsA[ia + r]! >>> ax) ^ (jsB[ib + r]! >>> bx)) & MASK;
      tot += POP16[x & 0xffff]! + POP16[x >>> 16]!;
    }
    if (tot > limit) return tot;
  }
  return tot;
};

let simd: { memory: SimdKernel; kernel: Kernel } | null | undefined;

function simdOrNull(): { memory: SimdKernel; kernel: Kernel } | null {
  if (simd === undefined) {
    const k = simdKernel();
    simd = k && { memory: k, kernel: simdDistance(k) };
  }
  return simd;
}

function simdDistance({ hd, addrA, addrB }: SimdKernel): Kernel {
  return (sx, sy, first, count) =>
    hd(
      addrA + first * GRID * 4,
      addrB + first * GRID * 4,
      OFF_A[sx + MAX_SHIFT]!,
      OFF_B[sx + MAX_SHIFT]!,
      OFF_A[sy + MAX_SHIFT]!,
      OFF_B[sy + MAX_SHIFT]!,
      count,
      MASK,
    );
}

/** Load two codes into a kernel: the SIMD one where available and the codes fit, else TypeScript. */
function load(a: Int32Array, b: Int32Array): Kernel {
  const s = useSimd ? simdOrNull() : null;
  if (s && a.length <= s.memory.a.length) {
    s.memory.a.set(a);
    s.memory.b.set(b);
    return s.kernel;
  }
  jsA = a;
  jsB = b;
  return jsKernel;
}

/** The search in progress (one at a time: a search runs to its end synchronously). */
const search = { kernel: jsKernel, first: 0, count: 0, best: 0, dx: 0, dy: 0 };

/** Try the shifts of a rectangle, clipped to the range, in raster order; each shift once. */
function scan(x0: number, x1: number, y0: number, y1: number, step: number): void {
  const s = search;
  const ys = Math.min(y1, MAX_SHIFT);
  const xs = Math.min(x1, MAX_SHIFT);
  for (let sy = Math.max(y0, -MAX_SHIFT); sy <= ys; sy += step)
    for (let sx = Math.max(x0, -MAX_SHIFT); sx <= xs; sx += step) {
      const i = (sy + MAX_SHIFT) * SIDE + sx + MAX_SHIFT;
      if (SEEN[i]) continue;
      SEEN[i] = 1;
      const d = s.kernel(sx, sy, s.first, s.count, s.best);
      if (d < s.best) {
        s.best = d;
        s.dx = sx;
        s.dy = sy;
      }
    }
}

export function matchCodes(
  a: Int32Array,
  b: Int32Array,
  planes: number,
  mode: SearchMode = 'climb',
  guide: [first: number, count: number] = [0, planes],
): CodeMatch {
  if (a.length !== planes * GRID || b.length !== planes * GRID) throw new Error('code size mismatch');
  if (!(guide[0] >= 0 && guide[1] >= 1 && guide[0] + guide[1] <= planes)) throw new Error('guide planes out of range');
  const climb = mode === 'climb';
  const s = search;
  s.kernel = load(a, b);
  s.first = climb ? guide[0] : 0;
  s.count = climb ? guide[1] : planes;
  s.best = Infinity;
  s.dx = 0;
  s.dy = 0;
  SEEN.fill(0);
  scan(0, 0, 0, 0, 1); // the zero shift first: it wins ties
  if (!climb) scan(-MAX_SHIFT, MAX_SHIFT, -MAX_SHIFT, MAX_SHIFT, 1);
  else {
    // seeds on a step-2 grid, so that the descent starts in the right basin even when the best
    // shift is at the edge of the range
    scan(-2, 2, -2, 2, 2);
    for (;;) {
      const cx = s.dx;
      const cy = s.dy;
      scan(cx - 1, cx + 1, cy - 1, cy + 1, 1);
      if (s.dx === cx && s.dy === cy) break;
    }
    if (s.first !== 0 || s.count !== planes) s.best = s.kernel(s.dx, s.dy, 0, planes, Infinity);
  }
  return { distance: s.best / (planes * WINDOW * WINDOW), dx: s.dx, dy: s.dy };
}

/** Map a code distance to a similarity in [0, 1]: 1 = identical, 0 = at or beyond chance (0.5). */
export function distanceToSimilarity(d: number): number {
  const s = 1 - 2 * d;
  return s < 0 ? 0 : Math.min(s, 1);
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
