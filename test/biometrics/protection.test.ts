import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MasterKey } from '../../src/crypto/masterKey.js';
import { TenantTransform } from '../../src/biometrics/protection.js';

const DIM = 384;

function randomUnit(seed: number): Float32Array {
  // A simple deterministic generator for test vectors.
  let s = seed >>> 0;
  const v = new Float32Array(DIM);
  let norm = 0;
  for (let i = 0; i < DIM; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
    norm += v[i]! * v[i]!;
  }
  return v.map((x) => x / Math.sqrt(norm));
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, x, i) => sum + x * b[i]!, 0);

describe('tenant template protection', () => {
  const master = MasterKey.fromBytes(randomBytes(32));
  const office = TenantTransform.derive(master, 'office', 1, DIM);

  it('preserves cosine similarity exactly enough for search', () => {
    for (let i = 0; i < 20; i++) {
      const a = randomUnit(i);
      const b = randomUnit(i + 1000);
      expect(dot(office.protect(a), office.protect(b))).toBeCloseTo(dot(a, b), 5);
      expect(dot(office.protect(a), office.protect(a))).toBeCloseTo(1, 5);
    }
  });

  it('is a pure function of (master key, tenant, version) and undoable only with the key', () => {
    const again = TenantTransform.derive(master, 'office', 1, DIM);
    const a = randomUnit(7);
    expect(Array.from(again.protect(a))).toEqual(Array.from(office.protect(a)));
    const back = office.unprotect(office.protect(a));
    expect(dot(back, a)).toBeCloseTo(1, 5);
    // The protected vector alone says little about the original.
    expect(Math.abs(dot(office.protect(a), a))).toBeLessThan(0.3);
  });

  it('makes the same palm unlinkable across tenants, keys and versions', () => {
    const stadium = TenantTransform.derive(master, 'stadium', 1, DIM);
    const office2 = TenantTransform.derive(master, 'office', 2, DIM);
    const otherOperator = TenantTransform.derive(MasterKey.fromBytes(randomBytes(32)), 'office', 1, DIM);
    const a = randomUnit(42);
    for (const other of [stadium, office2, otherOperator]) {
      expect(Math.abs(dot(office.protect(a), other.protect(a)))).toBeLessThan(0.3);
    }
  });

  it('renews a stored reference to a new key version without the original', () => {
    const v2 = TenantTransform.derive(master, 'office', 2, DIM);
    const a = randomUnit(3);
    const stored = office.protect(a);
    const renewed = v2.protect(office.unprotect(stored));
    expect(dot(renewed, v2.protect(a))).toBeCloseTo(1, 5);
  });

  it('with a split, keeps the leading dimensions apart: their cosine survives on their own, still keyed', async () => {
    const SPLIT = 32;
    const split = TenantTransform.derive(master, 'office', 1, DIM, SPLIT);
    const head = (v: Float32Array) => {
      const h = v.slice(0, SPLIT);
      const n = Math.sqrt(dot(h, h));
      return h.map((x) => x / n);
    };
    for (let i = 0; i < 10; i++) {
      const a = randomUnit(100 + i);
      const b = randomUnit(200 + i);
      // Near pairs too, as a coarse search needs: b nudged towards a.
      const near = a.map((x, j) => x + 0.3 * b[j]!);
      for (const other of [b, near]) {
        expect(dot(split.protect(a), split.protect(other))).toBeCloseTo(dot(a, other) / Math.sqrt(dot(other, other)), 5);
        expect(dot(head(split.protect(a)), head(split.protect(other)))).toBeCloseTo(dot(head(a), head(other)), 5);
      }
      // The protected prefix is not the plain one, and the tail does not leak into it.
      expect(Math.abs(dot(head(split.protect(a)), head(a)))).toBeLessThan(0.6);
      const tailOnly = a.map((x, j) => (j < SPLIT ? 0 : x));
      expect(Math.max(...split.protect(tailOnly).slice(0, SPLIT).map(Math.abs))).toBeLessThan(1e-6);
    }
    // Unlinkable across tenants in the prefix as well.
    const stadium = TenantTransform.derive(master, 'stadium', 1, DIM, SPLIT);
    const a = randomUnit(5);
    expect(Math.abs(dot(head(split.protect(a)), head(stadium.protect(a))))).toBeLessThan(0.6);
    expect(() => TenantTransform.derive(master, 'office', 1, DIM, DIM)).toThrow(/split/);
    // Renewable from a split or an unsplit transform to a split one.
    const renewed = TenantTransform.derive(master, 'office', 2, DIM, SPLIT);
    expect(dot(renewed.protect(office.unprotect(office.protect(a))), renewed.protect(a))).toBeCloseTo(1, 5);
    expect(dot(renewed.protect(split.unprotect(split.protect(a))), renewed.protect(a))).toBeCloseTo(1, 5);
  });
});
