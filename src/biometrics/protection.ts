import { createCipheriv } from 'node:crypto';
import type { MasterKey } from '../crypto/masterKey.js';

/**
 * Template protection for the searchable embedding (ISO/IEC 24745): each tenant has a secret
 * random orthogonal matrix Q (derived from the master key, the tenant id and a key version),
 * and only Q·e is stored. An orthogonal map preserves inner products, so cosine search in
 * pgvector works unchanged on protected vectors; without the key the stored vectors are
 * useless for another system, the same palm gives unrelated vectors at two tenants
 * (unlinkability), and a new key version renews every reference from the stored vectors
 * alone: e' = Q_new · Q_oldᵀ · (Q_old · e), no re-enrolment (renewability).
 */
export class TenantTransform {
  private constructor(
    readonly dim: number,
    /** Row-major Q (dim × dim). */
    private readonly q: Float64Array,
  ) {}

  static derive(master: MasterKey, tenantId: string, keyVersion: number, dim: number): TenantTransform {
    const seed = master.derive(`palm-transform:${tenantId}:${keyVersion}`);
    return new TenantTransform(dim, randomOrthogonal(seed, dim));
  }

  /** Q · v, renormalised against float drift. */
  protect(v: Float32Array): Float32Array {
    if (v.length !== this.dim) throw new Error(`expected a ${this.dim}-dimensional embedding, got ${v.length}`);
    return normalise(multiply(this.q, v, this.dim, false));
  }

  /** Qᵀ · v: undoes protect(). Used only to move references to a new key version. */
  unprotect(v: Float32Array): Float32Array {
    return normalise(multiply(this.q, v, this.dim, true));
  }
}

function multiply(q: Float64Array, v: Float32Array, n: number, transpose: boolean): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    if (transpose) for (let j = 0; j < n; j++) sum += q[j * n + i]! * v[j]!;
    else for (let j = 0, row = i * n; j < n; j++) sum += q[row + j]! * v[j]!;
    out[i] = sum;
  }
  return out;
}

function normalise(v: Float32Array): Float32Array {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}

/**
 * A Haar-random orthogonal matrix: Gaussian entries from an AES-256-CTR keystream (so it is a
 * pure function of the seed), orthonormalised row by row (modified Gram–Schmidt, twice for
 * numerical orthogonality).
 */
function randomOrthogonal(seed: Buffer, n: number): Float64Array {
  const stream = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16)).update(Buffer.alloc(n * n * 8));
  const words = new Uint32Array(stream.buffer, stream.byteOffset, stream.length / 4);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n * n; i += 2) {
    // Box–Muller from two uniforms in (0, 1].
    const u1 = (words[2 * i]! + 1) / 4294967297;
    const u2 = (words[2 * i + 1]! + 1) / 4294967297;
    const r = Math.sqrt(-2 * Math.log(u1));
    q[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n * n) q[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < n; i++) {
      const ri = i * n;
      for (let k = 0; k < i; k++) {
        const rk = k * n;
        let dot = 0;
        for (let j = 0; j < n; j++) dot += q[ri + j]! * q[rk + j]!;
        for (let j = 0; j < n; j++) q[ri + j]! -= dot * q[rk + j]!;
      }
      let norm = 0;
      for (let j = 0; j < n; j++) norm += q[ri + j]! * q[ri + j]!;
      norm = Math.sqrt(norm);
      for (let j = 0; j < n; j++) q[ri + j]! /= norm;
    }
  }
  return q;
}
