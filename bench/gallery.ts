/**
 * Shared by the identification and sign-in benchmarks: synthetic templates, a fresh benchmark
 * database, and a gallery loaded in bulk exactly as enrolment stores references (own person,
 * consent, data key, protected embedding, sealed fine template), then indexed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { BiometricContext } from '../dist/src/biometrics/context.js';
import { sealTemplate } from '../dist/src/biometrics/dataKeys.js';
import { vectorLiteral } from '../dist/src/biometrics/references.js';
import { openDatabase, type Database } from '../dist/src/db/database.js';
import { prepareImage, serializeTemplate, synthRoi, templatesFromSamples, type PalmTemplate } from '../dist/src/palm/index.js';

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

function chimera(a: PalmTemplate, b: PalmTemplate, rand: () => number): PalmTemplate {
  const code = a.code.slice();
  const rows = a.code.length;
  for (let r = 0; r < rows; r++) if (rand() < 0.5) code[r] = b.code[r]!;
  const e = new Float32Array(a.embedding.length);
  let norm = 0;
  for (let i = 0; i < e.length; i++) {
    e[i] = a.embedding[i]! + b.embedding[i]! + (rand() - 0.5) * 0.02;
    norm += e[i]! * e[i]!;
  }
  for (let i = 0; i < e.length; i++) e[i]! /= Math.sqrt(norm);
  return { ...a, code, embedding: e, samples: 3 };
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

/** A fresh database: in-memory PGlite, or a new PostgreSQL database dropped afterwards. */
export async function openBenchDatabase(kind: 'pglite' | 'postgres'): Promise<{ db: Database; url?: string; dispose(): Promise<void> }> {
  if (kind === 'pglite') {
    const db = await openDatabase({ memory: true, dataDir: os.tmpdir() });
    return { db, dispose: () => db.close() };
  }
  const base = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const name = `palmid_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const db = await openDatabase({ url: url.toString(), dataDir: os.tmpdir(), poolSize: 10 });
  return {
    db,
    url: url.toString(),
    async dispose() {
      await db.close();
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface GalleryOptions {
  size: number;
  /** Fused references of the identities that will be probed: they come first. */
  enrolled: PalmTemplate[];
  /** Fused pool palms: next, then chimeras of two of them (a code row from either, the embeddings' sum). */
  pool: PalmTemplate[];
  seed: number;
  log: (msg: string) => void;
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
  await db.query('DROP INDEX IF EXISTS palm_reference_embedding_hnsw');
  const BATCH = 500;
  const referenceIds: string[] = [];
  const fineByReference = new Map<string, PalmTemplate>();
  for (let start = 0; start < N; start += BATCH) {
    const people: unknown[] = [];
    const refs: unknown[] = [];
    const keys: unknown[] = [];
    const consents: unknown[] = [];
    for (let i = start; i < Math.min(N, start + BATCH); i++) {
      // Real synthetic identities first (the probes' own palms, then the pool), chimeras beyond.
      let template = gallery[i] ?? (i - P < POOL ? pool[i - P] : undefined);
      if (!template) {
        const a = Math.floor(rand() * POOL);
        const b = (a + 1 + Math.floor(rand() * (POOL - 1))) % POOL;
        template = chimera(pool[a]!, pool[b]!, rand);
      }
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
    const rows = (n: number, width: number, cast: (col: number) => string = () => '') =>
      Array.from({ length: n }, (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}${cast(c)}`).join(',')})`).join(',');
    const n = people.length / 3;
    await db.query(`INSERT INTO person (id, email, webauthn_id) VALUES ${rows(n, 3)}`, people);
    await db.query(`INSERT INTO person_data_key (person_id, wrapped_key) VALUES ${rows(n, 2)}`, keys);
    await db.query(`INSERT INTO consent (id, person_id, tenant_id, notice_version) VALUES ${rows(n, 3, (c) => (c === 2 ? ', 1' : ''))}`, consents);
    await db.query(
      `INSERT INTO palm_reference (id, person_id, tenant_id, hand, model, key_version, embedding, fine_template, samples, quality) VALUES ${Array.from(
        { length: n },
        (_, r) => `($${r * 9 + 1},$${r * 9 + 2},$${r * 9 + 3},'right',$${r * 9 + 4},$${r * 9 + 5},$${r * 9 + 6}::vector,$${r * 9 + 7},$${r * 9 + 8},$${r * 9 + 9})`,
      ).join(',')}`,
      refs,
    );
    if (start % 20_000 === 0) log(`  ${start + n} / ${N}`);
  }
  const loadSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  log('building the HNSW index…');
  if (db.kind === 'postgres') await db.query(`SET maintenance_work_mem = '1GB'`);
  await db.query(`CREATE INDEX palm_reference_embedding_hnsw ON palm_reference USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)`);
  await db.query('ANALYZE');
  const indexSeconds = (performance.now() - t) / 1000;
  return { referenceIds, personIds, fineByReference, loadSeconds, indexSeconds };
}
