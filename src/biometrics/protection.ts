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
 *
 * With a `split` s, Q is block-diagonal: a random orthogonal s × s block acting on the leading s
 * dimensions and another on the rest. The protected vector's first s values then depend only on
 * the embedding's first s (the most discriminative, in LDA order), with their cosine preserved,
 * so a coarse pgvector index on that prefix serves protected vectors (see references.ts). Each
 * block is still secret and tenant-specific. Without a split (tenants keyed before the coarse
 * index, until re-keyed) Q is one full block, derived exactly as it always was.
 */
export class TenantTransform {
  private constructor(
    readonly dim: number,
    /** Row-major Q (dim × dim). */
    private readonly q: Float64Array,
  ) {}

  static derive(master: MasterKey, tenantId: string, keyVersion: number, dim: number, split: number | null = null): TenantTransform {
    const label = `palm-transform:${tenantId}:${keyVersion}`;
    if (split === null) return new TenantTransform(dim, randomOrthogonal(master.derive(label), dim));
    if (!Number.isInteger(split) || split < 1 || split >= dim) throw new Error(`a transform split must be an integer from 1 to ${dim - 1}, not ${split}`);
    const q = new Float64Array(dim * dim);
    const blocks = [
      { at: 0, size: split, seed: master.derive(`${label}:split-${split}:head`) },
      { at: split, size: dim - split, seed: master.derive(`${label}:split-${split}:tail`) },
    ];
    for (const b of blocks) {
      const block = randomOrthogonal(b.seed, b.size);
      for (let i = 0; i < b.size; i++) q.set(block.subarray(i * b.size, (i + 1) * b.size), (b.at + i) * dim + b.at);
    }
    return new TenantTransform(dim, q);
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
