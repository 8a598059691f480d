import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MasterKey } from '../../src/crypto/masterKey.js';
import {
  bitLiteral,
  hammingFraction,
  PROTECTED_CODE_BITS,
  TenantProjection,
  TenantTransform,
} from '../../src/biometrics/protection.js';

const DIM = 128;

/** A deterministic generator of test vectors. */
function generator(seed: number) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s + 1) / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return { normal };
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const unit = (v: Float32Array) => v.map((x) => x / Math.sqrt(dot(v, v)));

/** Random unit "embeddings", and for each another capture of the same palm at cosine ≈ `genuine`. */
function palms(count: number, seed: number, genuine = 0.9): { a: Float32Array; b: Float32Array }[] {
  const g = generator(seed);
  return Array.from({ length: count }, () => {
    const a = unit(Float32Array.from({ length: DIM }, g.normal));
    const noise = unit(Float32Array.from({ length: DIM }, g.normal));
    const t = Math.sqrt(1 - genuine * genuine);
    return { a, b: unit(a.map((x, i) => genuine * x + t * noise[i]!)) };
  });
}

/** A code as ±1 values, the form a linear attack works on. */
const signs = (code: Uint8Array) =>
  Float64Array.from({ length: code.length * 8 }, (_, i) => ((code[i >> 3]! >> (7 - (i & 7))) & 1 ? 1 : -1));

/** Minimum-norm least squares from rows of X to rows of Y, applied to x (X has fewer rows than columns). */
function leastSquares(X: ArrayLike<number>[], Y: ArrayLike<number>[]): (x: ArrayLike<number>) => Float64Array {
  const k = X.length;
  const a = X.map((r, i) => [
    ...X.map((c, j) => dot(r, c) + (i === j ? 1e-9 : 0)),
    ...Array.from({ length: k }, (_, j) => (i === j ? 1 : 0)),
  ]);
  for (let c = 0; c < k; c++) {
    const p = a[c]![c]!;
    for (let j = 0; j < 2 * k; j++) a[c]![j]! /= p;
    for (let r = 0; r < k; r++) if (r !== c) for (let j = 0, f = a[r]![c]!; j < 2 * k; j++) a[r]![j]! -= f * a[c]![j]!;
  }
  const inv = a.map((r) => r.slice(k));
  return (x) => {
    const c = inv.map((row) =>
      dot(
        row,
        X.map((r) => dot(r, x)),
      ),
    );
    const out = new Float64Array(Y[0]!.length);
    c.forEach((w, j) => {
      for (let d = 0; d < out.length; d++) out[d]! += w * Y[j]![d]!;
    });
    return out;
  };
}

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('tenant template protection: keyed bit codes', () => {
  const master = MasterKey.fromBytes(randomBytes(32));
  const office = TenantProjection.derive(master, 'office', 1, DIM);

  it('keeps the same palm near and different palms far, as search needs', () => {
    const people = palms(50, 1);
    const genuine = people.map((p) => hammingFraction(office.protect(p.a), office.protect(p.b)));
    const impostor = people.map((p, i) =>
      hammingFraction(office.protect(p.a), office.protect(people[(i + 1) % people.length]!.b)),
    );
    expect(office.protect(people[0]!.a).length * 8).toBe(PROTECTED_CODE_BITS);
    // Every genuine pair is closer than every impostor pair.
    expect(Math.max(...genuine)).toBeLessThan(Math.min(...impostor));
    expect(mean(genuine)).toBeLessThan(0.3);
    // Nearer captures agree on more bits (the code orders by distance).
    const closer = palms(50, 1, 0.97).map((p) => hammingFraction(office.protect(p.a), office.protect(p.b)));
    expect(mean(closer)).toBeLessThan(mean(genuine));
    expect(bitLiteral(office.protect(people[0]!.a))).toMatch(new RegExp(`^[01]{${PROTECTED_CODE_BITS}}$`));
  });

  it('is a pure function of (master key, tenant, version), and another key gives an unrelated code', () => {
    const again = TenantProjection.derive(master, 'office', 1, DIM);
    const [p] = palms(1, 2);
    expect(Buffer.from(again.protect(p!.a)).equals(Buffer.from(office.protect(p!.a)))).toBe(true);
    for (const other of [
      TenantProjection.derive(master, 'stadium', 1, DIM),
      TenantProjection.derive(master, 'office', 2, DIM),
      TenantProjection.derive(MasterKey.fromBytes(randomBytes(32)), 'office', 1, DIM),
    ]) {
      // The same palm's codes under two keys agree on about half their bits, like two strangers'.
      const d = hammingFraction(office.protect(p!.a), other.protect(p!.a));
      expect(d).toBeGreaterThan(0.4);
      expect(d).toBeLessThan(0.6);
    }
  });

  it('does not let anchor palms enrolled at two deployments link the other people', () => {
    const stadium = TenantProjection.derive(MasterKey.fromBytes(randomBytes(32)), 'stadium', 1, DIM);
    const anchors = palms(16, 3);
    const shared = palms(50, 4);
    const others = palms(500, 5).map((p) => p.a);
    const stadiumRows = [
      ...shared.map((p) => signs(stadium.protect(p.b))),
      ...others.map((e) => signs(stadium.protect(e))),
    ];
    const anchorCodes = {
      office: anchors.map((x) => signs(office.protect(x.a))),
      stadium: anchors.map((x) => signs(stadium.protect(x.b))),
    };
    // The best linear map the anchors give from one deployment's codes to the other's.
    const map = leastSquares(anchorCodes.office, anchorCodes.stadium);
    // And each person's profile of similarities to the anchors, which any distance-keeping scheme keeps.
    const profile = (code: Float64Array, at: 'office' | 'stadium') => anchorCodes[at].map((x) => dot(code, x));
    const stadiumProfiles = stadiumRows.map((r) => profile(r, 'stadium'));
    const linked = (guess: (i: number) => number) => shared.filter((_, i) => guess(i) === i).length;
    const nearest = (v: ArrayLike<number>, rows: ArrayLike<number>[]) =>
      rows.reduce((best, r, j) => (cosine(v, r) > cosine(v, rows[best]!) ? j : best), 0);
    const officeRows = shared.map((p) => signs(office.protect(p.a)));
    expect(linked((i) => nearest(map(officeRows[i]!), stadiumRows))).toBeLessThanOrEqual(2);
    expect(linked((i) => nearest(profile(officeRows[i]!, 'office'), stadiumProfiles))).toBeLessThanOrEqual(2);
  });

  it('gives no reconstruction from a stolen row and known (embedding, code) pairs', () => {
    const known = palms(32, 6).map((p) => p.a);
    const others = palms(200, 7).map((p) => p.a);
    const reconstruct = leastSquares(
      known.map((e) => signs(office.protect(e))),
      known,
    );
    const codeAttack = mean(others.map((e) => cosine(reconstruct(signs(office.protect(e))), e)));
    expect(codeAttack).toBeLessThan(0.15);
    // The same attack on the linear transform references were stored under before: it recovers
    // everything in the known palms' span.
    const old = TenantTransform.derive(master, 'office', 1, DIM, 32);
    const oldFit = leastSquares(
      known.map((e) => old.protect(e)),
      known,
    );
    expect(mean(others.map((e) => cosine(oldFit(old.protect(e)), e)))).toBeGreaterThan(0.4);
    // A stolen code alone: its bits, read as a vector, are unrelated to the embedding.
    const stolen = signs(office.protect(others[0]!));
    expect(Math.abs(cosine(stolen.slice(0, DIM), others[0]!))).toBeLessThan(0.4);
  });

  it('renews to a new key version from the embedding (as re-keying takes it from the sealed template)', () => {
    const v2 = TenantProjection.derive(master, 'office', 2, DIM);
    const [p] = palms(1, 8);
    // The renewed reference still finds the palm under v2, and shares nothing with the v1 code.
    expect(hammingFraction(v2.protect(p!.a), v2.protect(p!.b))).toBeLessThan(0.35);
    expect(hammingFraction(v2.protect(p!.a), office.protect(p!.a))).toBeGreaterThan(0.4);
  });
});

describe('the linear transform of references stored before the codes', () => {
  const master = MasterKey.fromBytes(randomBytes(32));

  it('is still derived and undone exactly (to search and convert old references)', () => {
    const t = TenantTransform.derive(master, 'office', 1, DIM, 32);
    const [p] = palms(1, 9);
    expect(dot(t.unprotect(t.protect(p!.a)), p!.a)).toBeCloseTo(1, 5);
    expect(dot(t.protect(p!.a), t.protect(p!.b))).toBeCloseTo(dot(p!.a, p!.b), 5);
    expect(() => TenantTransform.derive(master, 'office', 1, DIM, DIM)).toThrow(/split/);
  });
});
