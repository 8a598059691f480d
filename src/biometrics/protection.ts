/**
 * Template protection for the searchable embedding (ISO/IEC 24745). Two schemes, chosen per
 * tenant (tenant.template_protection):
 *
 * - `projection` (current): a keyed, non-invertible bit code, TenantProjection below.
 * - `transform` (references stored before it, until `palmid tenant rekey` converts them): a
 *   keyed orthogonal matrix, TenantTransform below. It is linear, so a few palms whose
 *   embedding and stored vector are both known give the matrix away (threat model in the
 *   README, "Template protection"; measured by bench/protection.ts).
 */
import { createCipheriv } from 'node:crypto';
import type { MasterKey } from '../crypto/masterKey.js';

/** Bits of a protected code (pgvector `bit(2048)`, searched by Hamming distance). */
export const PROTECTED_CODE_BITS = 2048;

/**
 * Width of the kernel the code approximates, in units of the L2-normalised embedding: two
 * embeddings this far apart (cosine 0.875) still agree on well over half the bits, while for
 * distances like those between different people's palms (cosine below 0.4) the code's
 * agreement is almost flat, so it tells an attacker next to nothing about far-away palms.
 */
export const KERNEL_WIDTH = 0.5;

/**
 * The tenant's projection: bit i of a code is sign(cos(w_i · e / KERNEL_WIDTH + φ_i)), with w_i
 * Gaussian and φ_i uniform, both secret (derived from the master key, the tenant id and the key
 * version). These are random Fourier features of a Gaussian kernel, binarised (Raginsky &
 * Lazebnik, "Locality-sensitive binary codes from shift-invariant kernels", 2009): the expected
 * Hamming distance between two codes grows with the distance between the embeddings, so pgvector
 * searches codes as it searched vectors, but it saturates for palms that are not close, so the
 * code of a stranger's palm is not a linear or a distance-preserving image of it:
 * - not invertible: a code keeps only the signs of 2048 phases, and similarities to known
 *   palms (the one handle a search leaves) say almost nothing beyond the near ones;
 * - unlinkable: codes of the same palm under two keys agree on half their bits, as codes of
 *   two different palms do, and anchor palms enrolled at both give no map between them;
 * - renewable: a new key version gives a new code from the embedding, which the sealed fine
 *   template carries (lifecycle.ts, rekeyTenant), with no re-enrolment.
 * Being shift-invariant, the code does not depend on the model's common mean.
 */
export class TenantProjection {
  private constructor(
    readonly dim: number,
    /** Row-major W / KERNEL_WIDTH (PROTECTED_CODE_BITS × dim). */
    private readonly w: Float64Array,
    private readonly phase: Float64Array,
  ) {}

  static derive(master: MasterKey, tenantId: string, keyVersion: number, dim: number): TenantProjection {
    const bits = PROTECTED_CODE_BITS;
    const normals = gaussians(master.derive(`palm-projection:${tenantId}:${keyVersion}:weights`), bits * dim);
    for (let i = 0; i < normals.length; i++) normals[i]! /= KERNEL_WIDTH;
    const phase = uniforms(master.derive(`palm-projection:${tenantId}:${keyVersion}:phases`), bits).map(
      (u) => 2 * Math.PI * u,
    );
    return new TenantProjection(dim, normals, phase);
  }

  /** The code of an embedding, most significant bit first (pgvector's bit order). */
  protect(v: Float32Array): Uint8Array {
    if (v.length !== this.dim) throw new Error(`expected a ${this.dim}-dimensional embedding, got ${v.length}`);
    const code = new Uint8Array(PROTECTED_CODE_BITS / 8);
    for (let i = 0, row = 0; i < PROTECTED_CODE_BITS; i++, row += this.dim) {
      let sum = this.phase[i]!;
      for (let j = 0; j < this.dim; j++) sum += this.w[row + j]! * v[j]!;
      if (Math.cos(sum) > 0) code[i >> 3]! |= 0x80 >> (i & 7);
    }
    return code;
  }
}

/** A code as pgvector's bit literal ('0101…'). */
export function bitLiteral(code: Uint8Array): string {
  let s = '';
  for (const byte of code) s += byte.toString(2).padStart(8, '0');
  return s;
}

/** Hamming distance between two codes, as a fraction of their bits. */
export function hammingFraction(a: Uint8Array, b: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    let x = a[i]! ^ b[i]!;
    while (x) {
      x &= x - 1;
      d++;
    }
  }
  return d / (a.length * 8);
}

/**
 * The scheme of references stored before TenantProjection (kept to search and convert them):
 * each tenant has a secret
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

  static derive(
    master: MasterKey,
    tenantId: string,
    keyVersion: number,
    dim: number,
    split: number | null = null,
  ): TenantTransform {
    const label = `palm-transform:${tenantId}:${keyVersion}`;
    if (split === null) return new TenantTransform(dim, randomOrthogonal(master.derive(label), dim));
    if (!Number.isInteger(split) || split < 1 || split >= dim)
      throw new Error(`a transform split must be an integer from 1 to ${dim - 1}, not ${split}`);
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
  const q = gaussians(seed, n * n);
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

/** `count` uniforms in (0, 1] from an AES-256-CTR keystream: a pure function of the seed. */
function uniforms(seed: Buffer, count: number): Float64Array {
  const stream = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16)).update(Buffer.alloc(count * 4));
  const words = new Uint32Array(stream.buffer, stream.byteOffset, count);
  return Float64Array.from(words, (w) => (w + 1) / 4294967297);
}

/**
 * `count` standard normals (Box–Muller) from the keystream of the seed. The keystream is read
 * exactly as the transforms always read it (pair i from words 2i and 2i + 1), so that the
 * matrices of references stored under them are derived unchanged.
 */
function gaussians(seed: Buffer, count: number): Float64Array {
  const u = uniforms(seed, 2 * count);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u[2 * i]!));
    out[i] = r * Math.cos(2 * Math.PI * u[2 * i + 1]!);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * u[2 * i + 1]!);
  }
  return out;
}
