/**
 * thresholdForFmr sets every decision threshold (1:1 sign-in, 1:N identification, the duplicate
 * check at enrolment). These tests check it against what it models: a per-comparison impostor
 * score distribution, calibrated as a table of measured quantiles with a normal tail below it,
 * and a stranger's chance against N references of about N times the per-comparison FMR. The
 * expected values come from the distribution itself (a normal tail integrated numerically, and
 * sampling), not from the code's own formulas.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { thresholdForFmr } from '../../src/biometrics/threshold.js';

type Calibration = NonNullable<Parameters<typeof thresholdForFmr>[2]>;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const manifest = JSON.parse(readFileSync(path.join(root, 'models/manifest.json'), 'utf8')) as {
  models: { thresholds: Required<Pick<Calibration, 'fmrCalibration' | 'impostorTail'>> }[];
};
const shipped = manifest.models[0]!.thresholds;
const trained = JSON.parse(readFileSync(path.join(root, 'training/calibration.json'), 'utf8')) as {
  fmrCalibration: { fmr: number; threshold: number }[];
  impostorTail: { mean: number; sd: number };
};

/** P(Z >= z) for a standard normal Z: the density integrated by Simpson's rule over [z, z + 14]. */
function upperTail(z: number): number {
  const density = (t: number) => Math.exp((-t * t) / 2) / Math.sqrt(2 * Math.PI);
  const n = 20_000;
  const h = 14 / n;
  let s = density(z) + density(z + 14);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * density(z + i * h);
  return (s * h) / 3;
}

/** z with P(Z >= z) = p, by bisection on upperTail. */
function upperQuantile(p: number): number {
  let lo = -10;
  let hi = 40;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (upperTail(mid) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** A deterministic standard normal sampler (Box-Muller over an LCG). */
function normals(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

// A known impostor distribution, N(0.18, 0.04^2), calibrated the way training/calibrate.ts does:
// its quantiles at FMR 1e-2 … 1e-6 in a table, and the normal tail itself below it.
const MEAN = 0.18;
const SD = 0.04;
const ROWS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6];
const known: Calibration = {
  fmrCalibration: ROWS.map((fmr) => ({ fmr, threshold: MEAN + SD * upperQuantile(fmr) })),
  impostorTail: { model: 'normal', mean: MEAN, sd: SD },
};
/** The per-comparison FMR that threshold t gives on the known distribution. */
const knownFmr = (t: number) => upperTail((t - MEAN) / SD);

const FMRS = Array.from({ length: 121 }, (_, i) => 10 ** (-i / 10)); // 1 … 1e-12
const GALLERIES = [0, 1, 2, 3, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

describe('thresholdForFmr', () => {
  it('the shipped model carries the calibration that training measured', () => {
    expect(shipped.fmrCalibration.map((r) => [r.fmr, r.threshold])).toEqual(
      trained.fmrCalibration.map((r) => [r.fmr, r.threshold]),
    );
    expect([shipped.impostorTail.mean, shipped.impostorTail.sd]).toEqual([
      trained.impostorTail.mean,
      trained.impostorTail.sd,
    ]);
  });

  it('gives each calibrated row its own threshold, for one reference', () => {
    for (const cal of [shipped, known]) {
      for (const row of cal.fmrCalibration!) expect(thresholdForFmr(row.fmr, 1, cal)).toBeCloseTo(row.threshold, 12);
    }
    // the default calibration is the shipped model's
    for (const row of shipped.fmrCalibration) expect(thresholdForFmr(row.fmr, 1)).toBeCloseTo(row.threshold, 12);
  });

  it('never falls as the FMR target falls, and never falls as the gallery grows', () => {
    for (const cal of [undefined, known]) {
      for (const n of GALLERIES) {
        const ts = FMRS.map((f) => thresholdForFmr(f, n, cal));
        for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThanOrEqual(ts[i - 1]!);
        // and it does move: a stricter target is a higher threshold over the range
        expect(ts[ts.length - 1]).toBeGreaterThan(ts[0]!);
      }
      for (const f of FMRS) {
        const ts = GALLERIES.map((n) => thresholdForFmr(f, n, cal));
        for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThanOrEqual(ts[i - 1]!);
      }
    }
  });

  it('prices a gallery of N as N comparisons: the target over N per comparison', () => {
    for (const f of [1e-2, 1e-3, 3e-4, 1e-5]) {
      for (const n of [2, 10, 1_000, 100_000]) {
        expect(thresholdForFmr(f, n)).toBeCloseTo(thresholdForFmr(f / n, 1), 12);
        expect(thresholdForFmr(f, n, known)).toBeCloseTo(thresholdForFmr(f / n, 1, known), 12);
      }
    }
  });

  it('yields the target FMR on a known impostor distribution', () => {
    for (const f of FMRS) {
      for (const n of [1, 10, 10_000, 1_000_000]) {
        const p = f / n; // per comparison
        const achieved = knownFmr(thresholdForFmr(f, n, known));
        if (p >= ROWS[0]!) {
          // looser targets than the table's first row get that row (never a looser threshold)
          expect(achieved).toBeCloseTo(ROWS[0]!, 8);
        } else if (p >= ROWS[ROWS.length - 1]!) {
          // between rows: interpolated on a log scale, within a few percent of the target
          expect(achieved / p).toBeGreaterThan(0.999);
          expect(achieved / p).toBeLessThan(1.1);
        } else {
          // below the table: the tail model's quantile, exact
          expect(achieved / p).toBeCloseTo(1, 5);
        }
      }
    }
  });

  it('a stranger against N references is accepted with about the target probability', () => {
    // the tail of the shipped model, where large galleries live: N independent impostor scores
    const { mean, sd } = shipped.impostorTail;
    for (const target of [1e-3, 1e-4, 1e-5]) {
      for (const n of [10_000, 100_000, 1_000_000, 10_000_000]) {
        if (target / n >= shipped.fmrCalibration.at(-1)!.fmr) continue;
        const perComparison = upperTail((thresholdForFmr(target, n) - mean) / sd);
        const anyOfN = -Math.expm1(n * Math.log1p(-perComparison));
        expect(anyOfN).toBeLessThanOrEqual(target * 1.000001);
        expect(anyOfN).toBeGreaterThan(target * 0.99);
      }
    }
  });

  it('matches sampled impostor scores, one reference and ten', () => {
    const draw = normals(20261128);
    const t1 = thresholdForFmr(1e-3, 1, known);
    const samples = 2_000_000;
    let over = 0;
    for (let i = 0; i < samples; i++) if (MEAN + SD * draw() >= t1) over++;
    // binomial(2e6, 1e-3): mean 2000, sd 44.7; five sd either way
    expect(over).toBeGreaterThan(2000 - 5 * 44.7);
    expect(over).toBeLessThan(2000 + 5 * 44.7);

    const t10 = thresholdForFmr(1e-2, 10, known);
    const strangers = 200_000;
    let accepted = 0;
    for (let i = 0; i < strangers; i++) {
      let best = -Infinity;
      for (let k = 0; k < 10; k++) best = Math.max(best, MEAN + SD * draw());
      if (best >= t10) accepted++;
    }
    const expected = strangers * (1 - (1 - 1e-3) ** 10); // 1991
    const spread = Math.sqrt(expected);
    expect(accepted).toBeGreaterThan(expected - 5 * spread);
    expect(accepted).toBeLessThan(expected + 5 * spread);
  });

  it('treats an empty gallery as one reference', () => {
    for (const f of [1e-2, 1e-4, 1e-7]) {
      expect(thresholdForFmr(f, 0)).toBe(thresholdForFmr(f, 1));
      expect(thresholdForFmr(f, 0, known)).toBe(thresholdForFmr(f, 1, known));
    }
  });

  it('clamps huge targets to the loosest row and tiny ones to the tail, never under the strictest row', () => {
    const loosest = shipped.fmrCalibration[0]!.threshold;
    const strictest = shipped.fmrCalibration.at(-1)!.threshold;
    for (const f of [0.02, 0.5, 1, 10]) expect(thresholdForFmr(f, 1)).toBe(loosest);
    let previous = strictest;
    for (const f of [1e-7, 1e-12, 1e-30, 1e-300]) {
      const t = thresholdForFmr(f, 1);
      expect(Number.isFinite(t)).toBe(true);
      expect(t).toBeGreaterThanOrEqual(previous);
      previous = t;
    }
    // right under the table the tail may sit below the last row: the row holds
    expect(thresholdForFmr(9.9e-7, 1)).toBeGreaterThanOrEqual(strictest);
    // a table whose tail is far below keeps the strictest row
    const lowTail: Calibration = { ...known, impostorTail: { model: 'normal', mean: 0, sd: 0.01 } };
    expect(thresholdForFmr(1e-9, 1, lowTail)).toBe(known.fmrCalibration!.at(-1)!.threshold);
  });

  it('fails safe on targets that are not probabilities: an error or the strictest threshold', () => {
    const strictest = shipped.fmrCalibration.at(-1)!.threshold;
    for (const [f, n] of [
      [0, 1],
      [-1e-3, 1],
      [Number.NaN, 1],
      [1e-3, Number.NaN],
      [1e-3, Number.POSITIVE_INFINITY],
    ] as const) {
      let t: number | undefined;
      try {
        t = thresholdForFmr(f, n);
      } catch (e) {
        expect(e).toBeInstanceOf(RangeError);
        continue;
      }
      expect(t).toBeGreaterThanOrEqual(strictest);
    }
  });

  it('without a tail holds the strictest row below the table; without a table uses identify', () => {
    const noTail: Calibration = { fmrCalibration: known.fmrCalibration };
    expect(thresholdForFmr(1e-9, 1, noTail)).toBe(known.fmrCalibration!.at(-1)!.threshold);
    expect(thresholdForFmr(1e-3, 1_000, noTail)).toBeCloseTo(known.fmrCalibration!.at(-1)!.threshold, 12);
    expect(thresholdForFmr(1e-3, 1, { identify: 0.5 })).toBe(0.5);
    expect(thresholdForFmr(1e-9, 1_000, { identify: 0.5, fmrCalibration: [] })).toBe(0.5);
    // the table's order does not matter
    const reversed: Calibration = { ...known, fmrCalibration: [...known.fmrCalibration!].reverse() };
    for (const f of [3e-2, 5e-3, 2e-5, 1e-8])
      expect(thresholdForFmr(f, 1, reversed)).toBe(thresholdForFmr(f, 1, known));
  });
});
