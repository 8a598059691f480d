/**
 * Shared by the identification and sign-in benchmarks: synthetic templates, a fresh benchmark
 * database, and a gallery loaded in bulk exactly as enrolment stores references (own person,
 * consent, data key, protected embedding (the tenant's code, or the old transform), sealed fine
 * template), then indexed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { TenantKeying } from '../dist/src/accounts/tenants.js';
import type { BiometricContext } from '../dist/src/biometrics/context.js';
import { sealTemplate } from '../dist/src/biometrics/dataKeys.js';
import {
  codeIndexName,
  codeIndexSql,
  embeddingIndexName,
  embeddingIndexSql,
  insertReferencesSql,
  referenceValues,
} from '../dist/src/biometrics/references.js';
import { openDatabase, type Database } from '../dist/src/db/database.js';
import { createScratchDatabase } from '../dist/src/db/scratchDatabase.js';
import {
  prepareImage,
  probesFromSamples,
  serializeTemplate,
  templatesFromSamples,
  TEMPLATE_VERSION,
  type PalmTemplate,
  type Probe,
} from '../dist/src/palm/index.js';
import { getFeatureModel, synthRoi, codePlanes, encode, type FeatureModel } from '../dist/src/palm/devtools/index.js';

export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

/** Templates of synthetic identities `ids`, samples `samples`. */
export async function synthTemplates(ids: number[], samples: number[], seed: number): Promise<PalmTemplate[][]> {
  const out: PalmTemplate[][] = [];
  for (const id of ids) {
    const prepared = await Promise.all(samples.map((s) => prepareImage(synthRoi(id, s, { seed }), { kind: 'roi' })));
    out.push(await templatesFromSamples(prepared));
  }
  return out;
}

/** Probes (search-time captures, with their turns and zooms made) of synthetic identities `ids`, one sample each. */
export async function synthProbes(ids: number[], sample: number, seed: number): Promise<Probe[]> {
  return probesFromSamples(
    await Promise.all(ids.map((id) => prepareImage(synthRoi(id, sample, { seed }), { kind: 'roi' }))),
  );
}

/**
 * The raw material of derived palms: one capture of each pool identity, as the feature model's
 * Gabor responses ([orientations][grid][grid]), with the model's embedding of it.
 */
export interface PoolResponses {
  model: FeatureModel;
  resp: Float32Array[];
  embedding: Float32Array[];
  projection: EmbeddingProjection;
}

export async function synthPoolResponses(ids: number[], seed: number): Promise<PoolResponses> {
  const model = await getFeatureModel();
  const per = model.orientations * model.grid * model.grid;
  const resp: Float32Array[] = [];
  const embedding: Float32Array[] = [];
  for (let start = 0; start < ids.length; start += 64) {
    const inputs = await Promise.all(
      ids
        .slice(start, start + 64)
        .map(async (id) =>
          Float32Array.from(
            (await prepareImage(synthRoi(id, 0, { seed }), { kind: 'roi' })).roi.roi.data,
            (v) => v / 255,
          ),
        ),
    );
    const out = await model.run(inputs);
    for (let i = 0; i < inputs.length; i++) {
      resp.push(out.resp.slice(i * per, (i + 1) * per));
      embedding.push(out.embedding.slice(i * model.embeddingDim, (i + 1) * model.embeddingDim));
    }
  }
  const projection = loadEmbeddingProjection();
  // The derived palms' embeddings are computed here from their responses, as the model's graph
  // does (training/build_models.py); this replica must agree with the model on real captures.
  for (const [i, r] of resp.entries()) {
    const cos = dot(embedFromResponses(r, model, projection), embedding[i]!);
    if (!(cos > 0.9999))
      throw new Error(
        `the bench's embedding replica disagrees with the model (cosine ${cos}); update bench/gallery.ts`,
      );
  }
  return { model, resp, embedding, projection };
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, x, i) => sum + x * b[i]!, 0);

/** The model's embedding head, mean and projection (stored uncompressed in an .npz: a zip of .npy files). */
interface EmbeddingProjection {
  mean: Float32Array;
  /** row-major [descriptor][embedding] */
  projection: Float32Array;
  dim: number;
}

function loadEmbeddingProjection(): EmbeddingProjection {
  const zip = fs.readFileSync(
    path.join(path.dirname(fileURLToPath(import.meta.url)), '../training/embedding_projection.npz'),
  );
  const arrays = new Map<string, Float32Array>();
  for (let at = 0; zip.readUInt32LE(at) === 0x04034b50; ) {
    const method = zip.readUInt16LE(at + 8);
    let size = zip.readUInt32LE(at + 18);
    const nameLength = zip.readUInt16LE(at + 26);
    const extraLength = zip.readUInt16LE(at + 28);
    // numpy writes zip64 entries: the real size is in the zip64 extra field (id 1).
    for (
      let e = at + 30 + nameLength;
      size === 0xffffffff && e < at + 30 + nameLength + extraLength;
      e += 4 + zip.readUInt16LE(e + 2)
    ) {
      if (zip.readUInt16LE(e) === 1) size = Number(zip.readBigUInt64LE(e + 4 + 8));
    }
    const name = zip.toString('utf8', at + 30, at + 30 + nameLength);
    const data = zip.subarray(at + 30 + nameLength + extraLength, at + 30 + nameLength + extraLength + size);
    if (method !== 0) throw new Error(`${name}: compressed .npz entries are not read here`);
    const headerLength = data.readUInt16LE(8);
    const header = data.toString('latin1', 10, 10 + headerLength);
    if (!header.includes("'descr': '<f4'")) throw new Error(`${name}: expected little-endian float32 (${header})`);
    const body = data.subarray(10 + headerLength);
    arrays.set(
      name.replace(/\.npy$/, ''),
      new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length)),
    );
    at += 30 + nameLength + extraLength + size;
  }
  const mean = arrays.get('mean');
  const projection = arrays.get('projection');
  if (!mean || !projection) throw new Error('embedding_projection.npz: mean and projection expected');
  return { mean, projection, dim: projection.length / mean.length };
}

/** Per-cell orientation histograms of |responses|, square-rooted, centred, projected, normalised. */
function embedFromResponses(resp: Float32Array, model: FeatureModel, p: EmbeddingProjection): Float32Array {
  const O = model.orientations;
  const G = model.grid;
  const CELL = G / Math.sqrt(p.mean.length / O); // 4: an 8x8 grid of cells
  const C = G / CELL;
  const desc = new Float32Array(O * C * C);
  for (let cy = 0; cy < C; cy++) {
    for (let cx = 0; cx < C; cx++) {
      let total = 0;
      for (let k = 0; k < O; k++) {
        let sum = 0;
        for (let y = cy * CELL; y < (cy + 1) * CELL; y++)
          for (let x = cx * CELL; x < (cx + 1) * CELL; x++) sum += Math.abs(resp[k * G * G + y * G + x]!);
        desc[k * C * C + cy * C + cx] = sum / (CELL * CELL);
        total += sum / (CELL * CELL);
      }
      for (let k = 0; k < O; k++)
        desc[k * C * C + cy * C + cx] = Math.sqrt(desc[k * C * C + cy * C + cx]! / (total + 1e-12));
    }
  }
  const out = new Float32Array(p.dim);
  for (let i = 0; i < desc.length; i++) {
    const centred = desc[i]! - p.mean[i]!;
    for (let j = 0; j < p.dim; j++) out[j]! += centred * p.projection[i * p.dim + j]!;
  }
  const norm = Math.sqrt(dot(out, out)) + 1e-12;
  return out.map((v) => v / norm);
}

/**
 * A derived palm, made in response space: the responses of four pool captures joined as a 2x2
 * mosaic, each quarter from the same place of its source, cut on the embedding's cell boundaries
 * (so every cell, and its orientation histogram, comes whole from one real capture). Its code
 * and embedding come from those responses exactly as extraction makes them. Derived palms must
 * be spread like real ones, and two earlier ways were not (median cosine distance to the others /
 * to the nearest, 300 palms, all 128 dimensions; real synthetic palms 1.00 / 0.62): mosaic images
 * run through the model (blended seams gave every one the same featureless cross; 0.64 on the
 * leading 32 dimensions against 1.00) and response mosaics flipped or rotated (palms have a
 * layout, and each of the eight flips shared its own offset from it; 0.77 / 0.24). These: 1.00 /
 * 0.62 (`embeddingSpread`, printed by bench:identify).
 */
function mosaicTemplate(pool: PoolResponses, rand: () => number): PalmTemplate {
  const { model } = pool;
  const O = model.orientations;
  const G = model.grid;
  const CELL = 4;
  const pick: number[] = [];
  while (pick.length < 4) {
    const i = Math.floor(rand() * pool.resp.length);
    if (!pick.includes(i)) pick.push(i);
  }
  const at = () => CELL * (2 + Math.floor(rand() * (G / CELL - 3))); // a cell boundary from 8 to 24
  const cx = at();
  const cy = at();
  const out = new Float32Array(O * G * G);
  for (let y = 0; y < G; y++) {
    for (let x = 0; x < G; x++) {
      const src = pool.resp[pick[(y < cy ? 0 : 2) + (x < cx ? 0 : 1)]!]!;
      for (let k = 0; k < O; k++) out[k * G * G + y * G + x] = src[k * G * G + y * G + x]!;
    }
  }
  return {
    version: TEMPLATE_VERSION,
    method: 'palm',
    model: `${model.manifest.name}@${model.manifest.version}`,
    embedding: embedFromResponses(out, model, pool.projection),
    code: encode('palm', out, O, G),
    planes: codePlanes('palm', O),
    grid: G,
    quality: 1,
    samples: 1,
  };
}

/** How spread a set of embeddings is: median cosine distance to the others, and to the nearest one. */
export function embeddingSpread(embeddings: Float32Array[]): { medianDistance: number; medianNearest: number } {
  const all: number[] = [];
  const nearest: number[] = [];
  for (let i = 0; i < embeddings.length; i++) {
    let best = Infinity;
    for (let j = 0; j < embeddings.length; j++) {
      if (i === j) continue;
      const d = 1 - dot(embeddings[i]!, embeddings[j]!);
      all.push(d);
      best = Math.min(best, d);
    }
    nearest.push(best);
  }
  return { medianDistance: +percentile(all, 50).toFixed(3), medianNearest: +percentile(nearest, 50).toFixed(3) };
}

/** Derived palms only (for the spread check). */
export function derivedTemplates(pool: PoolResponses, count: number, seed: number): PalmTemplate[] {
  const rand = mulberry(seed);
  return Array.from({ length: count }, () => mosaicTemplate(pool, rand));
}

function mulberry(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One batch of bench people, each with a data key, a consent and one palm reference. */
async function insertRows(
  db: Database,
  b: { people: unknown[]; keys: unknown[]; consents: unknown[]; refs: unknown[] },
): Promise<void> {
  const n = b.people.length / 3;
  const rows = (width: number, cast: (col: number) => string = () => '') =>
    Array.from(
      { length: n },
      (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}${cast(c)}`).join(',')})`,
    ).join(',');
  await db.query(`INSERT INTO person (id, email, webauthn_id) VALUES ${rows(3)}`, b.people);
  await db.query(`INSERT INTO person_data_key (person_id, wrapped_key) VALUES ${rows(2)}`, b.keys);
  await db.query(
    `INSERT INTO consent (id, person_id, tenant_id, notice_version) VALUES ${rows(3, (c) => (c === 2 ? ', 1' : ''))}`,
    b.consents,
  );
  await db.query(insertReferencesSql(n), b.refs);
}

/** A fresh database: in-memory PGlite, or a new PostgreSQL database dropped afterwards. */
export async function openBenchDatabase(
  kind: 'pglite' | 'postgres',
): Promise<{ db: Database; url?: string; dispose(): Promise<void> }> {
  if (kind === 'pglite') {
    const db = await openDatabase({ memory: true, dataDir: os.tmpdir() });
    return { db, dispose: () => db.close() };
  }
  const base =
    process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  return createScratchDatabase(base, 'palmid_bench');
}

export interface GalleryOptions {
  size: number;
  /** Fused references of the identities that will be probed: they come first. */
  enrolled: PalmTemplate[];
  /** Fused pool palms: next. */
  pool: PalmTemplate[];
  /** One capture's responses per pool palm: the rest of the gallery are mosaics of them (see mosaicTemplate). */
  poolResponses: PoolResponses;
  seed: number;
  log: (msg: string) => void;
  /** HNSW build parameters other than the shipped ones (experiments). */
  hnsw?: { m: number; efConstruction: number };
}

export interface Gallery {
  referenceIds: string[];
  personIds: string[];
  fineByReference: Map<string, PalmTemplate>;
  loadSeconds: number;
  indexSeconds: number;
}

export async function loadGallery(
  db: Database,
  ctx: BiometricContext,
  tenant: TenantKeying,
  o: GalleryOptions,
): Promise<Gallery> {
  const N = o.size;
  const P = o.enrolled.length;
  const POOL = o.pool.length;
  const gallery = o.enrolled;
  const pool = o.pool;
  const rand = mulberry(o.seed);
  const log = o.log;
  const personIds: string[] = [];
  log(`loading ${N} references…`);
  let t = performance.now();
  const model = { model: gallery[0]!.model, dimensions: gallery[0]!.embedding.length };
  await db.query(`DROP INDEX IF EXISTS "${embeddingIndexName(model)}"`);
  await db.query(`DROP INDEX IF EXISTS "${codeIndexName(model)}"`);
  const BATCH = 500;
  // Each batch is inserted while the next one is derived (the database works on the other core).
  let pending: Promise<void> = Promise.resolve();
  const referenceIds: string[] = [];
  const fineByReference = new Map<string, PalmTemplate>();
  for (let start = 0; start < N; start += BATCH) {
    const people: unknown[] = [];
    const refs: unknown[] = [];
    const keys: unknown[] = [];
    const consents: unknown[] = [];
    const end = Math.min(N, start + BATCH);
    const derivedFrom = Math.max(start, P + POOL);
    const derived =
      end > derivedFrom ? Array.from({ length: end - derivedFrom }, () => mosaicTemplate(o.poolResponses, rand)) : [];
    for (let i = start; i < end; i++) {
      // Real synthetic identities first (the probes' own palms, then the pool), mosaics beyond.
      const template = gallery[i] ?? (i - P < POOL ? pool[i - P]! : derived[i - derivedFrom]!);
      const personId = randomUUID();
      const referenceId = randomUUID();
      const key = randomBytes(32);
      referenceIds.push(referenceId);
      personIds.push(personId);
      if (fineByReference.size < 2_000_000) fineByReference.set(referenceId, template);
      people.push(personId, `bench-${i}@example.org`, randomBytes(16).toString('base64url'));
      keys.push(personId, ctx.dataKeys.wrap(personId, key));
      consents.push(randomUUID(), personId, tenant.id);
      refs.push(
        ...referenceValues({
          id: referenceId,
          personId,
          tenantId: tenant.id,
          hand: 'right',
          model: template.model,
          keyVersion: tenant.keyVersion,
          searchable: ctx.protect(tenant, template.embedding),
          sealedTemplate: sealTemplate(key, serializeTemplate(template), referenceId),
          samples: template.samples,
          quality: template.quality,
        }),
      );
    }
    await pending;
    pending = insertRows(db, { people, keys, consents, refs });
    pending.catch(() => {}); // awaited with the next batch; no unhandled rejection meanwhile
    if (start % 20_000 === 0) log(`  ${end} / ${N}`);
  }
  await pending;
  const loadSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  log('building the HNSW index…');
  if (db.kind === 'postgres') await db.query(`SET maintenance_work_mem = '${N > 200_000 ? '3GB' : '1GB'}'`);
  // The index of the tenant's scheme (the other is not used by its searches).
  await db.query(
    tenant.templateProtection === 'projection' ? codeIndexSql(model, o.hnsw) : embeddingIndexSql(model, o.hnsw),
  );
  // A settled table, as in production after autovacuum: statistics, and the visibility map that
  // lets the reference count read only its index.
  await db.query('VACUUM ANALYZE');
  const indexSeconds = (performance.now() - t) / 1000;
  return { referenceIds, personIds, fineByReference, loadSeconds, indexSeconds };
}
