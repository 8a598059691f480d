/**
 * How well template protection resists an attacker who holds stored references (the threat
 * model is in the README, "Template protection"). Both schemes are measured side by side: the
 * keyed bit code references are stored under now (`projection`) and the keyed orthogonal
 * transform of references stored before it (`transform`, block-diagonal 32 + 96 as shipped).
 *
 *   npm run bench:protection -- [--population 10000] [--shared 100] [--anchors 4,8,16]
 *                               [--known 32] [--others 200] [--seed 11] [--json]
 *
 * Palms: synthetic identities through the real model (src/palm/devtools/synth.ts, three captures fused
 * per enrolment, as enrolment fuses them). The rest of each population is derived palms
 * (bench/gallery.ts: mosaics of pool captures' responses, spread like real palms), disjoint
 * between the two deployments.
 *
 * (i) Linkage. Two deployments (different master keys) each enrol `--population` people; `--shared`
 * people are enrolled at both, from different captures (samples 0–2 at one, 3–5 at the other),
 * and so are k anchor palms the attacker enrolled themself and can point at in both databases.
 * For each shared person's stored reference at A the attacker picks the nearest stored
 * reference at B after the best map the anchors give, and the person is linked when it is
 * theirs. Attacks: the anchor profile (similarities to the k anchors, which any scheme that
 * keeps distances for search keeps as well), a least-squares linear map fitted on the anchors'
 * stored forms (codes as ±1 vectors), and for the transform, whose split is public, the map
 * fitted block by block. Reported: the best attack's count per k.
 *
 * (ii) Reconstruction. The attacker knows `--known` people's embeddings and their stored forms
 * at one deployment (e.g. they enrolled them) and reads `--others` other stored forms. Reported:
 * the mean cosine of each attack's reconstruction to the true embeddings: least squares from
 * stored forms to embeddings, the Gram attack (similarities to the known palms, turned into
 * cosines by a curve the attacker fits on the known pairs, solved in their span), the nearest
 * known palm, and for the transform the block-wise fit, whose leading 32 dimensions are exact.
 * The trivial baseline is the mean of the known embeddings, and how large the model's common
 * mean is (a large one would make any guess look good) is printed with it.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { MasterKey } from '../dist/src/crypto/masterKey.js';
import { TenantProjection, TenantTransform } from '../dist/src/biometrics/protection.js';
import { COARSE_DIMENSIONS } from '../dist/src/biometrics/references.js';
import { fuse } from '../dist/src/palm/index.js';
import { derivedTemplates, synthPoolResponses, synthTemplates } from './gallery.js';

const { values } = parseArgs({
  options: {
    population: { type: 'string', default: '10000' },
    shared: { type: 'string', default: '100' },
    anchors: { type: 'string', default: '4,8,16' },
    known: { type: 'string', default: '32' },
    others: { type: 'string', default: '200' },
    pool: { type: 'string', default: '300' },
    seed: { type: 'string', default: '11' },
    json: { type: 'boolean', default: false },
  },
});
const POPULATION = Number(values.population);
const SHARED = Number(values.shared);
const ANCHORS = values.anchors.split(',').map(Number);
const KNOWN = Number(values.known);
const OTHERS = Number(values.others);
const POOL = Number(values.pool);
const SEED = Number(values.seed);
if (![POPULATION, SHARED, KNOWN, OTHERS, POOL, SEED, ...ANCHORS].every((x) => Number.isInteger(x) && x > 0))
  throw new Error('numbers must be positive integers');
const log = (msg: string) => !values.json && process.stderr.write(`${msg}\n`);

type Vec = Float64Array;
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const unit = (v: Vec): Vec => {
  const n = Math.sqrt(dot(v, v)) || 1;
  return v.map((x) => x / n);
};
const cosine = (a: Vec, b: ArrayLike<number>) => dot(a, b) / (Math.sqrt(dot(a, a) * dot(b, b)) || 1);
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** A scheme as the attacker sees it: the stored form as a real vector, and the similarity a search would use. */
interface Scheme {
  name: 'projection' | 'transform';
  stored(e: Float32Array): Vec;
  similarity(a: Vec, b: Vec): number;
}

function projectionScheme(master: MasterKey, dim: number): Scheme {
  const p = TenantProjection.derive(master, 'tenant', 1, dim);
  return {
    name: 'projection',
    // ±1 per bit
    stored: (e) => {
      const code = p.protect(e);
      return Float64Array.from({ length: code.length * 8 }, (_, i) => ((code[i >> 3]! >> (7 - (i & 7))) & 1 ? 1 : -1));
    },
    // 1 - 2 * Hamming fraction (the ±1 vectors' mean product)
    similarity: (a, b) => dot(a, b) / a.length,
  };
}

function transformScheme(master: MasterKey, dim: number): Scheme {
  const t = TenantTransform.derive(master, 'tenant', 1, dim, COARSE_DIMENSIONS);
  return { name: 'transform', stored: (e) => Float64Array.from(t.protect(e)), similarity: (a, b) => dot(a, b) };
}

/**
 * Solves the least-squares map M (rows of X → rows of Y) of minimum norm: M = Xᵀ (X Xᵀ + λI)⁻¹ Y,
 * with λ tiny (X has fewer rows than columns here). Returns a function applying it.
 */
function leastSquaresMap(X: Vec[], Y: Vec[], lambda = 1e-9): (x: Vec) => Vec {
  const k = X.length;
  const G = X.map((a) => X.map((b) => dot(a, b)));
  const scale = Math.max(...G.map((r, i) => r[i]!));
  for (let i = 0; i < k; i++) G[i]![i]! += lambda * scale;
  const Ginv = invert(G);
  const outDim = Y[0]!.length;
  // W = Ginv · Y (k × outDim); M x = Yᵀ Ginv (X x)
  const W = Ginv.map((row) => {
    const w = new Float64Array(outDim);
    row.forEach((g, j) => {
      for (let d = 0; d < outDim; d++) w[d]! += g * Y[j]![d]!;
    });
    return w;
  });
  return (x) => {
    const out = new Float64Array(outDim);
    X.forEach((a, j) => {
      const c = dot(a, x);
      for (let d = 0; d < outDim; d++) out[d]! += c * W[j]![d]!;
    });
    return out;
  };
}

/** Gauss–Jordan inverse of a small symmetric positive definite matrix. */
function invert(m: number[][]): number[][] {
  const n = m.length;
  const a = m.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    const pivot = a[c]![c]!;
    for (let j = 0; j < 2 * n; j++) a[c]![j]! /= pivot;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]!;
      if (f) for (let j = 0; j < 2 * n; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  return a.map((r) => r.slice(n));
}

/** A cubic least-squares fit y ≈ p(x), for the attacker's similarity → cosine curve. */
function cubicFit(xs: number[], ys: number[]): (x: number) => number {
  const powers = (x: number) => [1, x, x * x, x * x * x];
  const A = [0, 1, 2, 3].map((i) =>
    [0, 1, 2, 3].map((j) => xs.reduce((s, x) => s + powers(x)[i]! * powers(x)[j]!, 0) + (i === j ? 1e-9 : 0)),
  );
  const b = [0, 1, 2, 3].map((i) => xs.reduce((s, x, n) => s + powers(x)[i]! * ys[n]!, 0));
  const inv = invert(A);
  const c = inv.map((row) => dot(row, b));
  return (x) => dot(c, powers(x));
}

/** Index of the row of `rows` nearest to `v` by cosine. */
function nearest(v: Vec, rows: Vec[]): number {
  const u = unit(v);
  let best = -Infinity;
  let at = -1;
  rows.forEach((r, i) => {
    const c = dot(u, r);
    if (c > best) [best, at] = [c, i];
  });
  return at;
}

/** How many shared people the attacker links with k anchors, per attack. */
function linkage(
  schemeA: Scheme,
  schemeB: Scheme,
  shared: { a: Float32Array; b: Float32Array }[],
  anchors: { a: Float32Array; b: Float32Array }[],
  populationB: Float32Array[],
) {
  const A = shared.map((s) => schemeA.stored(s.a));
  // B's database: the shared people first (row i is shared person i), then everyone else.
  const B = [...shared.map((s) => schemeB.stored(s.b)), ...populationB.map((e) => schemeB.stored(e))];
  const Bunit = B.map(unit);
  const anchorsA = anchors.map((x) => schemeA.stored(x.a));
  const anchorsB = anchors.map((x) => schemeB.stored(x.b));
  const linked = (guess: (i: number) => number) => shared.reduce((n, _, i) => n + (guess(i) === i ? 1 : 0), 0);
  const result: Record<string, number> = {};

  // Anchor profile: similarity to each anchor, centred and normalised.
  const profile = (s: Scheme, v: Vec, an: Vec[]) => {
    const p = Float64Array.from(an, (x) => s.similarity(v, x));
    const m = mean([...p]);
    return unit(p.map((x) => x - m));
  };
  const profilesB = B.map((v) => profile(schemeB, v, anchorsB));
  result.anchorProfile = linked((i) => nearest(profile(schemeA, A[i]!, anchorsA), profilesB));

  // Least-squares linear map A → B fitted on the anchors.
  const map = leastSquaresMap(anchorsA, anchorsB);
  result.leastSquares = linked((i) => nearest(map(A[i]!), Bunit));

  if (schemeA.name === 'transform') {
    // The split is public: fit the leading block and the rest separately.
    const head = (v: Vec) => v.slice(0, COARSE_DIMENSIONS);
    const tail = (v: Vec) => v.slice(COARSE_DIMENSIONS);
    const mapHead = leastSquaresMap(anchorsA.map(head), anchorsB.map(head));
    const mapTail = leastSquaresMap(anchorsA.map(tail), anchorsB.map(tail));
    result.blockwise = linked((i) => {
      const v = new Float64Array(A[i]!.length);
      v.set(mapHead(head(A[i]!)));
      v.set(mapTail(tail(A[i]!)), COARSE_DIMENSIONS);
      return nearest(v, Bunit);
    });
  }
  return { best: Math.max(...Object.values(result)), ...result };
}

/** Mean cosine of each reconstruction of `others` from `known` (embedding, stored) pairs. */
function reconstruction(scheme: Scheme, known: Float32Array[], others: Float32Array[]) {
  const K = known.map((e) => Float64Array.from(e));
  const Ks = known.map((e) => scheme.stored(e));
  const Os = others.map((e) => scheme.stored(e));
  const score = (guess: (i: number) => Vec) => +mean(others.map((e, i) => cosine(guess(i), e))).toFixed(3);
  const result: Record<string, number> = {};

  const knownMean = new Float64Array(K[0]!.length);
  for (const k of K) for (let d = 0; d < k.length; d++) knownMean[d]! += k[d]! / K.length;
  result.baselineKnownMean = score(() => knownMean);

  const toEmbedding = leastSquaresMap(Ks, K);
  result.leastSquares = score((i) => toEmbedding(Os[i]!));

  // Gram: similarities → cosines (curve fitted on the known pairs), solved in the known palms' span.
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < K.length; i++)
    for (let j = i + 1; j < K.length; j++) {
      xs.push(scheme.similarity(Ks[i]!, Ks[j]!));
      ys.push(dot(K[i]!, K[j]!));
    }
  const toCosine = cubicFit(xs, ys);
  const gram = invert(K.map((a) => K.map((b) => dot(a, b) + (a === b ? 1e-9 : 0))));
  result.gram = score((i) => {
    const c = Ks.map((k) => toCosine(scheme.similarity(Os[i]!, k)));
    const alpha = gram.map((row) => dot(row, c));
    const v = new Float64Array(K[0]!.length);
    alpha.forEach((a, j) => {
      for (let d = 0; d < v.length; d++) v[d]! += a * K[j]![d]!;
    });
    return v;
  });

  result.nearestKnown = score(
    (i) =>
      K[
        Ks.reduce((best, k, j) => (scheme.similarity(Os[i]!, k) > scheme.similarity(Os[i]!, Ks[best]!) ? j : best), 0)
      ]!,
  );

  if (scheme.name === 'transform') {
    const head = (v: ArrayLike<number>) => Float64Array.from({ length: COARSE_DIMENSIONS }, (_, d) => v[d]!);
    const tail = (v: ArrayLike<number>) =>
      Float64Array.from({ length: v.length - COARSE_DIMENSIONS }, (_, d) => v[COARSE_DIMENSIONS + d]!);
    const mapHead = leastSquaresMap(Ks.map(head), K.map(head));
    const mapTail = leastSquaresMap(Ks.map(tail), K.map(tail));
    result.blockwise = score((i) => {
      const v = new Float64Array(K[0]!.length);
      v.set(mapHead(head(Os[i]!)));
      v.set(mapTail(tail(Os[i]!)), COARSE_DIMENSIONS);
      return v;
    });
    // The leading dimensions alone: exact when there are as many known pairs as dimensions.
    result.blockwiseLeading32 = +mean(others.map((e, i) => cosine(mapHead(head(Os[i]!)), head(e)))).toFixed(3);
  }
  return {
    best: Math.max(
      ...Object.entries(result)
        .filter(([k]) => k !== 'baselineKnownMean' && k !== 'blockwiseLeading32')
        .map(([, v]) => v),
    ),
    ...result,
  };
}

async function main() {
  const maxAnchors = Math.max(...ANCHORS);
  // Identities: shared [0, S), anchors [S, S+A), known [S+A, S+A+K), others after them, the pool last.
  const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  const sharedIds = ids(0, SHARED);
  const anchorIds = ids(SHARED, maxAnchors);
  const knownIds = ids(SHARED + maxAnchors, KNOWN);
  const otherIds = ids(SHARED + maxAnchors + KNOWN, OTHERS);
  const poolIds = ids(SHARED + maxAnchors + KNOWN + OTHERS, POOL);
  log(`extracting ${SHARED + maxAnchors} palms x 6 captures, ${KNOWN + OTHERS} x 3, ${POOL} pool palms…`);
  const twice = async (list: number[]) => {
    const [a, b] = await Promise.all([synthTemplates(list, [0, 1, 2], SEED), synthTemplates(list, [3, 4, 5], SEED)]);
    return list.map((_, i) => ({ a: fuse(a[i]!).embedding, b: fuse(b[i]!).embedding }));
  };
  const shared = await twice(sharedIds);
  const anchors = await twice(anchorIds);
  const known = (await synthTemplates(knownIds, [0, 1, 2], SEED)).map((t) => fuse(t).embedding);
  const others = (await synthTemplates(otherIds, [0, 1, 2], SEED)).map((t) => fuse(t).embedding);
  const pool = await synthPoolResponses(poolIds, SEED);
  const populationB = derivedTemplates(pool, POPULATION, SEED + 2).map((t) => t.embedding);
  const dim = shared[0]!.a.length;

  // The model's common mean, over the derived population: if it were large, any guess near it would score well.
  const commonMean = new Float64Array(dim);
  for (const e of populationB) for (let d = 0; d < dim; d++) commonMean[d]! += e[d]! / populationB.length;
  const commonMeanNorm = +Math.sqrt(dot(commonMean, commonMean)).toFixed(3);
  const genuineCosine = +mean(shared.map((s) => dot(s.a, s.b))).toFixed(3);

  const report = [];
  for (const make of [projectionScheme, transformScheme]) {
    const A = make(MasterKey.fromBytes(randomBytes(32)), dim);
    const B = make(MasterKey.fromBytes(randomBytes(32)), dim);
    log(
      `${A.name}: linkage with ${ANCHORS.join('/')} anchors among ${POPULATION + SHARED} people, reconstruction of ${OTHERS} from ${KNOWN} known pairs…`,
    );
    const link = Object.fromEntries(ANCHORS.map((k) => [k, linkage(A, B, shared, anchors.slice(0, k), populationB)]));
    // Unlinkability without anchors: how alike the same palm's stored forms are at A and B, against two different palms'.
    const samePalm = +mean(shared.map((s) => A.similarity(A.stored(s.a), B.stored(s.b)))).toFixed(3);
    const otherPalm = +mean(
      shared.map((s, i) => A.similarity(A.stored(s.a), B.stored(shared[(i + 1) % SHARED]!.b))),
    ).toFixed(3);
    const rebuilt = reconstruction(A, known, others);
    report.push({
      scheme: A.name,
      linkage: link,
      crossDeploymentSimilarity: { samePalm, otherPalm },
      reconstruction: rebuilt,
    });
  }
  const result = {
    population: POPULATION + SHARED,
    shared: SHARED,
    known: KNOWN,
    others: OTHERS,
    commonMeanNorm,
    genuineCosine,
    schemes: report,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const lines = [
    `bench:protection  ${SHARED} shared people among ${POPULATION + SHARED} at each of two deployments; ${KNOWN} known pairs, ${OTHERS} others`,
    `  model's common mean: norm ${commonMeanNorm} (embeddings are unit vectors); same palm, two enrolments: mean cosine ${genuineCosine}`,
  ];
  for (const r of report) {
    lines.push(`  ${r.scheme}:`);
    lines.push(
      `    same palm at two deployments, stored-form similarity ${r.crossDeploymentSimilarity.samePalm} (two different palms ${r.crossDeploymentSimilarity.otherPalm})`,
    );
    for (const [k, l] of Object.entries(r.linkage)) {
      const { best, ...attacks } = l;
      lines.push(
        `    linkage, ${k} anchors: ${best}/${SHARED} linked (${Object.entries(attacks)
          .map(([a, n]) => `${a} ${n}`)
          .join(', ')})`,
      );
    }
    const { best, ...attacks } = r.reconstruction;
    lines.push(
      `    reconstruction from ${KNOWN} known pairs: mean cosine ${best} (${Object.entries(attacks)
        .map(([a, c]) => `${a} ${c}`)
        .join(', ')})`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
