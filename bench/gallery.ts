/**
 * Shared by the identification and sign-in benchmarks: synthetic templates, a fresh benchmark
 * database, and a gallery loaded in bulk exactly as enrolment stores references (own person,
 * consent, data key, protected embedding, sealed fine template), then indexed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { BiometricContext } from '../dist/src/biometrics/context.js';
import { sealTemplate } from '../dist/src/biometrics/dataKeys.js';
import { embeddingIndexName, embeddingIndexSql, vectorLiteral } from '../dist/src/biometrics/references.js';
import { openDatabase, type Database } from '../dist/src/db/database.js';
import { createScratchDatabase } from '../dist/src/db/scratchDatabase.js';
import { prepareImage, probesFromSamples, serializeTemplate, synthRoi, templatesFromSamples, type GreyImage, type PalmTemplate, type Probe } from '../dist/src/palm/index.js';
import type { PreparedSample } from '../dist/src/palm/extract.js';

export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

/** Templates of synthetic identities `ids`, samples `samples`. */
export async function synthTemplates(ids: number[], samples: number[], seed: number): Promise<PalmTemplate[][]> {
  const out: PalmTemplate[][] = [];
  for (const id of ids) {
    const prepared = samples.map((s) => prepareImage(synthRoi(id, s, { seed }), { kind: 'roi' }));
    out.push(await templatesFromSamples(prepared));
  }
  return out;
}

/** Probes (search-time captures, with their turns and zooms made) of synthetic identities `ids`, one sample each. */
export async function synthProbes(ids: number[], sample: number, seed: number): Promise<Probe[]> {
  return probesFromSamples(ids.map((id) => prepareImage(synthRoi(id, sample, { seed }), { kind: 'roi' })));
}

/** Normalised ROIs (one capture each) of synthetic identities: the raw material of derived palms. */
export function synthPoolRois(ids: number[], seed: number): GreyImage[] {
  return ids.map((id) => prepareImage(synthRoi(id, 0, { seed }), { kind: 'roi' }).roi.roi);
}

/**
 * A derived palm: four pool ROIs joined as a 2x2 mosaic (a random cut point near the centre,
 * 12 px smooth seams, so no edge looks like a crease), then one of the eight flips/rotations of
 * the square. It is a palm-like image no pool palm shares more than a quarter of, at the same
 * place, and it goes through the real feature model, so its code and embedding agree.
 */
function mosaicRoi(pool: GreyImage[], rand: () => number): GreyImage {
  const n = pool[0]!.width;
  const pick: number[] = [];
  while (pick.length < 4) {
    const i = Math.floor(rand() * pool.length);
    if (!pick.includes(i)) pick.push(i);
  }
  const [a, b, c, d] = pick.map((i) => pool[i]!.data);
  const cx = n / 2 + (rand() - 0.5) * 48;
  const cy = n / 2 + (rand() - 0.5) * 48;
  const smooth = (t: number) => (t <= 0 ? 0 : t >= 1 ? 1 : t * t * (3 - 2 * t));
  const flip = Math.floor(rand() * 8);
  const out = new Float32Array(n * n);
  for (let y = 0; y < n; y++) {
    const wy = smooth((y - cy) / 12 + 0.5);
    for (let x = 0; x < n; x++) {
      const wx = smooth((x - cx) / 12 + 0.5);
      const i = y * n + x;
      const v = (1 - wy) * ((1 - wx) * a![i]! + wx * b![i]!) + wy * ((1 - wx) * c![i]! + wx * d![i]!);
      let u = flip & 1 ? n - 1 - x : x;
      let w = flip & 2 ? n - 1 - y : y;
      if (flip & 4) [u, w] = [w, u];
      out[w * n + u] = v;
    }
  }
  return { width: n, height: n, data: out };
}

async function mosaicTemplates(pool: GreyImage[], count: number, rand: () => number): Promise<PalmTemplate[]> {
  const samples: PreparedSample[] = [];
  for (let i = 0; i < count; i++) {
    const roi = mosaicRoi(pool, rand);
    samples.push({ roi: { roi, kind: 'roi', confidence: 1, sourceSide: roi.width }, quality: { score: 1 } as PreparedSample['quality'] });
  }
  return templatesFromSamples(samples);
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
async function insertRows(db: Database, b: { people: unknown[]; keys: unknown[]; consents: unknown[]; refs: unknown[] }): Promise<void> {
  const n = b.people.length / 3;
  const rows = (width: number, cast: (col: number) => string = () => '') =>
    Array.from({ length: n }, (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}${cast(c)}`).join(',')})`).join(',');
  await db.query(`INSERT INTO person (id, email, webauthn_id) VALUES ${rows(3)}`, b.people);
  await db.query(`INSERT INTO person_data_key (person_id, wrapped_key) VALUES ${rows(2)}`, b.keys);
  await db.query(`INSERT INTO consent (id, person_id, tenant_id, notice_version) VALUES ${rows(3, (c) => (c === 2 ? ', 1' : ''))}`, b.consents);
  await db.query(
    `INSERT INTO palm_reference (id, person_id, tenant_id, hand, model, key_version, embedding, fine_template, samples, quality) VALUES ${rows(
      9,
      (c) => (c === 2 ? `,'right'` : c === 5 ? '::vector' : ''),
    )}`,
    b.refs,
  );
}

/** A fresh database: in-memory PGlite, or a new PostgreSQL database dropped afterwards. */
export async function openBenchDatabase(kind: 'pglite' | 'postgres'): Promise<{ db: Database; url?: string; dispose(): Promise<void> }> {
  if (kind === 'pglite') {
    const db = await openDatabase({ memory: true, dataDir: os.tmpdir() });
    return { db, dispose: () => db.close() };
  }
  const base = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  return createScratchDatabase(base, 'palmid_bench');
}

export interface GalleryOptions {
  size: number;
  /** Fused references of the identities that will be probed: they come first. */
  enrolled: PalmTemplate[];
  /** Fused pool palms: next. */
  pool: PalmTemplate[];
  /** One ROI per pool palm: the rest of the gallery are mosaics of them (see mosaicRoi). */
  poolRois: GreyImage[];
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
  tenant: { id: string; keyVersion: number },
  o: GalleryOptions,
): Promise<Gallery> {
  const N = o.size;
  const P = o.enrolled.length;
  const POOL = o.pool.length;
  const gallery = o.enrolled;
  const pool = o.pool;
  const rand = mulberry(o.seed);
  const transform = ctx.transform(tenant.id, tenant.keyVersion, gallery[0]!.embedding.length);
  const log = o.log;
  const personIds: string[] = [];
  log(`loading ${N} references…`);
  let t = performance.now();
  const model = { model: gallery[0]!.model, dimensions: gallery[0]!.embedding.length };
  await db.query(`DROP INDEX IF EXISTS "${embeddingIndexName(model)}"`);
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
    const derived = end > derivedFrom ? await mosaicTemplates(o.poolRois, end - derivedFrom, rand) : [];
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
        referenceId,
        personId,
        tenant.id,
        template.model,
        tenant.keyVersion,
        vectorLiteral(transform.protect(template.embedding)),
        sealTemplate(key, serializeTemplate({ ...template, embedding: new Float32Array(0) }), referenceId),
        template.samples,
        template.quality,
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
  await db.query(embeddingIndexSql(model, o.hnsw));
  // A settled table, as in production after autovacuum: statistics, and the visibility map that
  // lets the reference count read only its index.
  await db.query('VACUUM ANALYZE');
  const indexSeconds = (performance.now() - t) / 1000;
  return { referenceIds, personIds, fineByReference, loadSeconds, indexSeconds };
}
