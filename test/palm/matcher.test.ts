/**
 * The code matcher counts mismatched bits with one of two kernels, WebAssembly SIMD or
 * TypeScript, under one shift search. Both must find the same match in every search mode
 * ('climb', the default, and 'exhaustive'), with and without guide planes, on random codes, on
 * shifted noisy copies, on codes the feature model makes, at the edge sizes, and where shifts
 * tie. Each kernel is checked against a reference written here from the matcher's description:
 * bits compared one by one over the 26x26 windows, and the searches spelled out.
 */
import { describe, expect, it } from 'vitest';
import { compare, fuse, prepareImage, templatesFromSamples, type PalmTemplate } from '../../src/palm/index.js';
import {
  matchCodes,
  setSimd,
  shiftCode,
  simdAvailable,
  synthRoi,
  type CodeMatch,
} from '../../src/palm/devtools/index.js';

type SearchMode = 'climb' | 'exhaustive';
type Guide = [first: number, count: number];

const GRID = 32;
const MAX_SHIFT = 3;
const WINDOW = GRID - 2 * MAX_SHIFT;

/** Mismatched bits at shift (sx, sy) over planes [first, first + count), one bit at a time. */
function referenceBits(a: Int32Array, b: Int32Array, sx: number, sy: number, first: number, count: number): number {
  // the displacement is split between the two windows: b's window sits (sx, sy) from a's
  const ax = MAX_SHIFT - Math.floor(sx / 2);
  const bx = MAX_SHIFT + Math.ceil(sx / 2);
  const ay = MAX_SHIFT - Math.floor(sy / 2);
  const by = MAX_SHIFT + Math.ceil(sy / 2);
  const bit = (code: Int32Array, p: number, row: number, col: number) => (code[p * GRID + row]! >>> col) & 1;
  let n = 0;
  for (let p = first; p < first + count; p++)
    for (let y = 0; y < WINDOW; y++)
      for (let x = 0; x < WINDOW; x++) if (bit(a, p, ay + y, ax + x) !== bit(b, p, by + y, bx + x)) n++;
  return n;
}

/**
 * The searches as the matcher describes them. Exhaustive: every shift. Climb: the zero shift and
 * the seeds on the step-2 grid, then steepest descent over the 8-neighbourhood until no
 * neighbour is better, on the guide planes; the optimum scored on all planes. Shifts are tried
 * in raster order, the zero shift first, and of equal distances the first tried wins.
 */
function referenceMatch(
  a: Int32Array,
  b: Int32Array,
  planes: number,
  mode: SearchMode,
  guide: Guide = [0, planes],
): CodeMatch {
  const [first, count] = mode === 'climb' ? guide : [0, planes];
  const tried = new Set<string>();
  let best = Infinity;
  let dx = 0;
  let dy = 0;
  const tryShift = (sx: number, sy: number) => {
    if (Math.abs(sx) > MAX_SHIFT || Math.abs(sy) > MAX_SHIFT || tried.has(`${sx},${sy}`)) return;
    tried.add(`${sx},${sy}`);
    const d = referenceBits(a, b, sx, sy, first, count);
    if (d < best) [best, dx, dy] = [d, sx, sy];
  };
  tryShift(0, 0);
  if (mode === 'exhaustive') {
    for (let sy = -MAX_SHIFT; sy <= MAX_SHIFT; sy++) for (let sx = -MAX_SHIFT; sx <= MAX_SHIFT; sx++) tryShift(sx, sy);
  } else {
    for (const sy of [-2, 0, 2]) for (const sx of [-2, 0, 2]) tryShift(sx, sy);
    for (;;) {
      const [cx, cy] = [dx, dy];
      for (let ny = cy - 1; ny <= cy + 1; ny++) for (let nx = cx - 1; nx <= cx + 1; nx++) tryShift(nx, ny);
      if (dx === cx && dy === cy) break;
    }
    if (first !== 0 || count !== planes) best = referenceBits(a, b, dx, dy, 0, planes);
  }
  return { distance: best / (planes * WINDOW * WINDOW), dx, dy };
}

/** matchCodes with the SIMD kernel and with the TypeScript kernel. */
function bothKernels(a: Int32Array, b: Int32Array, planes: number, mode: SearchMode, guide?: Guide) {
  const simd = matchCodes(a, b, planes, mode, guide);
  setSimd(false);
  try {
    return { simd, ts: matchCodes(a, b, planes, mode, guide) };
  } finally {
    setSimd(true);
  }
}

function expectAgreement(a: Int32Array, b: Int32Array, planes: number, mode: SearchMode, guide?: Guide) {
  const { simd, ts } = bothKernels(a, b, planes, mode, guide);
  const reference = referenceMatch(a, b, planes, mode, guide);
  expect(ts).toEqual(simd);
  expect(simd).toEqual(reference);
}

/** A deterministic generator of 32-bit words. */
function words(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s | 0;
  };
}

function randomCode(next: () => number, planes: number): Int32Array {
  return Int32Array.from({ length: planes * GRID }, next);
}

/** b with each bit flipped with probability about 1 / 2^k (k = 0: none). */
function noisy(next: () => number, code: Int32Array, k: number): Int32Array {
  if (k === 0) return code.slice();
  return code.map((w) => {
    let mask = -1;
    for (let i = 0; i < k; i++) mask &= next();
    return w ^ mask;
  });
}

/** Guides for a code of `planes` planes: none, the last three planes (as 'palm' codes use), one. */
function guides(planes: number): (Guide | undefined)[] {
  const out: (Guide | undefined)[] = [undefined, [0, planes]];
  if (planes > 3) out.push([planes - 3, 3]);
  if (planes > 1) out.push([1, 1]);
  return out;
}

const MODES: SearchMode[] = ['climb', 'exhaustive'];

describe('the SIMD and TypeScript matchers', () => {
  it('the SIMD kernel is available here (so the comparison below compares two kernels)', () => {
    expect(simdAvailable()).toBe(true);
  });

  it('agree with each other and the reference on random codes, every mode and guide, every size', () => {
    const next = words(7);
    // 15 planes is the most the SIMD kernel's memory holds; 16 falls back to TypeScript for both
    for (const planes of [1, 2, 3, 6, 9, 15, 16]) {
      for (let trial = 0; trial < 4; trial++) {
        const a = randomCode(next, planes);
        const b = randomCode(next, planes);
        for (const mode of MODES) for (const guide of guides(planes)) expectAgreement(a, b, planes, mode, guide);
      }
    }
  });

  it('agree on shifted noisy copies, at every shift of the range', () => {
    const next = words(11);
    const planes = 9;
    for (let sy = -MAX_SHIFT; sy <= MAX_SHIFT; sy++)
      for (let sx = -MAX_SHIFT; sx <= MAX_SHIFT; sx++) {
        const a = randomCode(next, planes);
        const b = noisy(next, shiftCode(a, planes, sx, sy), (sx + sy + 8) % 4);
        for (const mode of MODES) for (const guide of guides(planes)) expectAgreement(a, b, planes, mode, guide);
      }
  });

  it('agree where shifts tie', () => {
    const next = words(13);
    const planes = 9;
    const zeros = new Int32Array(planes * GRID);
    const ones = new Int32Array(planes * GRID).fill(-1);
    const random = randomCode(next, planes);
    // columns alternating: every even horizontal shift ties; rows alternating: every even vertical one
    const stripes = Int32Array.from({ length: planes * GRID }, () => 0x55555555);
    const rows = Int32Array.from({ length: planes * GRID }, (_, i) => (i % 2 ? -1 : 0));
    const checker = Int32Array.from({ length: planes * GRID }, (_, i) => (i % 2 ? 0x55555555 : 0xaaaaaaaa | 0));
    // a difference in the columns no window reaches (0, 1 and 31): every shift ties at zero
    const border = random.map((w) => w ^ (0x80000003 | 0));
    // one bit set: all shifts but those that line it up tie
    const single = new Int32Array(planes * GRID);
    single[4 * GRID + 16] = 1 << 16;
    const cases: [Int32Array, Int32Array][] = [
      [zeros, zeros],
      [ones, ones],
      [zeros, ones],
      [random, random],
      [stripes, stripes],
      [stripes, zeros],
      [rows, rows],
      [rows, noisy(next, rows, 3)],
      [checker, checker],
      [checker, stripes],
      [random, border],
      [single, zeros],
      [single, single],
      [single, shiftCode(single, planes, 2, -1)],
    ];
    for (const [a, b] of cases)
      for (const mode of MODES)
        for (const guide of guides(planes)) {
          expectAgreement(a, b, planes, mode, guide);
          expectAgreement(b, a, planes, mode, guide);
        }
    // identical codes and codes equal in every window match at the zero shift
    for (const [a, b] of [
      [zeros, zeros],
      [random, border],
      [stripes, stripes],
    ] as const)
      for (const mode of MODES) expect(matchCodes(a, b, planes, mode)).toEqual({ distance: 0, dx: 0, dy: 0 });
  });

  it('agree on codes the feature model makes, as compare and fuse use them', async () => {
    const prepared = await Promise.all(
      [1, 2, 3, 4].flatMap((id) => [1, 2, 3].map((s) => prepareImage(synthRoi(id, s, { seed: 17 }), { kind: 'roi' }))),
    );
    for (const method of ['palm', 'bocv', 'compcode'] as const) {
      const ts: PalmTemplate[] = await templatesFromSamples(prepared, method);
      const planes = ts[0]!.planes;
      for (let i = 0; i < ts.length; i++)
        for (let j = i + 1; j < ts.length; j++)
          for (const mode of MODES)
            for (const guide of guides(planes)) expectAgreement(ts[i]!.code, ts[j]!.code, planes, mode, guide);
      // the engine's own calls: compare (climb, guided for 'palm') and fuse (exhaustive, then shifted)
      const simd = { scores: ts.map((t) => compare(ts[0]!, t)), fused: fuse(ts.slice(0, 3)) };
      setSimd(false);
      try {
        expect(ts.map((t) => compare(ts[0]!, t))).toEqual(simd.scores);
        expect(Array.from(fuse(ts.slice(0, 3)).code)).toEqual(Array.from(simd.fused.code));
      } finally {
        setSimd(true);
      }
    }
  });

  it('refuse codes of the wrong size and guides outside the code, both kernels', () => {
    const planes = 6;
    const a = new Int32Array(planes * GRID);
    for (const simd of [true, false]) {
      setSimd(simd);
      try {
        expect(() => matchCodes(a, new Int32Array(planes * GRID - 1), planes)).toThrow(/size/);
        expect(() => matchCodes(a, a, planes + 1)).toThrow(/size/);
        for (const guide of [
          [4, 3],
          [-1, 2],
          [0, 0],
        ] as Guide[])
          expect(() => matchCodes(a, a, planes, 'climb', guide)).toThrow(/guide/);
      } finally {
        setSimd(true);
      }
    }
  });
});
