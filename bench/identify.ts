/**
 * 1:N identification at gallery sizes no real data set reaches.
 *
 *   npm run bench:identify -- --gallery 10000 [--db pglite|postgres] [--probes 100] [--candidates 20]
 *                             [--recall-probes 30] [--pool 300] [--seed 7] [--json]
 *
 * Gallery. `--probes` synthetic identities are enrolled for real: three synthetic ROI captures
 * each, extracted by the palm engine and fused. The rest of the gallery is derived from a pool
 * of `--pool` other synthetic identities (disjoint from the probes): the pool palms themselves
 * come first, and each further reference is a chimera of two pool palms — its orientation code takes each code row from one of the two
 * (a random mask per reference), its embedding is the normalised sum of theirs plus noise — so
 * every derived reference is a distinct palm that costs no image synthesis. Every reference
 * belongs to its own person, with a consent and a data key, stored exactly as enrolment stores it
 * (protected embedding, sealed fine template), loaded in bulk, then the HNSW index is rebuilt.
 *
 * Probes. A fourth capture of each enrolled identity (closed set) and as many captures of
 * identities nobody enrolled (open set). Reported: p50/p95 of stage one (the pgvector query) and
 * of identification after extraction (search + unsealing + fine matching + decision), the
 * closed-set hit rate and open-set false matches, stage-one recall against exhaustive fine
 * matching over the whole gallery (on `--recall-probes` probes), and the database size per
 * enrolled palm (table + HNSW index + keys + consent rows).
 *
 * PostgreSQL comes from BENCH_DATABASE_URL or TEST_DATABASE_URL (default
 * postgresql://postgres@127.0.0.1:5432/postgres); a fresh database is created and dropped.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { addTenant } from '../src/accounts/tenants.js';
import { BiometricContext } from '../src/biometrics/context.js';
import { sealTemplate } from '../src/biometrics/dataKeys.js';
import { identifyTemplate } from '../src/biometrics/identification.js';
import { STAGE_ONE_SQL, searchReferences, vectorLiteral } from '../src/biometrics/references.js';
import { MasterKey } from '../src/crypto/masterKey.js';
import { openDatabase, type Database } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { compare, fuse, prepareImage, serializeTemplate, synthRoi, templatesFromSamples, type PalmTemplate } from '../src/palm/index.js';

const { values } = parseArgs({
  options: {
    gallery: { type: 'string', default: '10000' },
    db: { type: 'string', default: 'pglite' },
    probes: { type: 'string', default: '100' },
    candidates: { type: 'string', default: '20' },
    'recall-probes': { type: 'string', default: '30' },
    pool: { type: 'string', default: '300' },
    seed: { type: 'string', default: '7' },
    json: { type: 'boolean', default: false },
    explain: { type: 'boolean', default: false },
  },
});
const N = Number(values.gallery);
const P = Math.min(Number(values.probes), N);
const K = Number(values.candidates);
const POOL = Number(values.pool);
const SEED = Number(values.seed);
const RECALL_PROBES = Math.min(Number(values['recall-probes']), P);
if (![N, P, K, POOL, SEED].every((x) => Number.isInteger(x) && x > 0)) throw new Error('numbers must be positive integers');
if (values.db !== 'pglite' && values.db !== 'postgres') throw new Error('--db is pglite or postgres');

const log = (msg: string) => !values.json && process.stderr.write(`${msg}\n`);
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

/** Templates of synthetic identities `ids`, samples `samples`, extracted in batches. */
async function extract(ids: number[], samples: number[]): Promise<PalmTemplate[][]> {
  const out: PalmTemplate[][] = [];
  for (const id of ids) {
    const prepared = samples.map((s) => prepareImage(synthRoi(id, s, { seed: SEED }), { kind: 'roi' }));
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

async function openBenchDatabase(): Promise<{ db: Database; dispose(): Promise<void> }> {
  if (values.db === 'pglite') {
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
  const db = await openDatabase({ url: url.toString(), dataDir: os.tmpdir(), poolSize: 4 });
  return {
    db,
    async dispose() {
      await db.close();
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function main() {
  const { db, dispose } = await openBenchDatabase();
  try {
    await migrate(db);
    const master = MasterKey.fromBytes(randomBytes(32));
    const ctx = new BiometricContext(db, master);
    const tenant = await addTenant(db.prisma, { id: 'bench', name: 'Bench' });

    // Identities: [0, P) enrolled and probed; [P, P+POOL) the pool; [P+POOL, 2P+POOL) never enrolled.
    let t = performance.now();
    log(`extracting ${P} enrolled identities x 4 samples, ${POOL} pool identities x 3, ${P} open-set probes…`);
    const enrolled = await extract([...Array(P).keys()], [0, 1, 2, 3]);
    const pool = (await extract([...Array(POOL).keys()].map((i) => P + i), [0, 1, 2])).map((ts) => fuse(ts));
    const strangers = (await extract([...Array(P).keys()].map((i) => P + POOL + i), [3])).map((ts) => ts[0]!);
    const extractSeconds = (performance.now() - t) / 1000;

    const gallery: PalmTemplate[] = enrolled.map((ts) => fuse(ts.slice(0, 3)));
    const rand = mulberry(SEED);
    const transform = ctx.transform(tenant.id, tenant.keyVersion, gallery[0]!.embedding.length);

    log(`loading ${N} references…`);
    t = performance.now();
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

    if (values.explain) {
      const plan = await db.query<Record<string, string>>(
        `EXPLAIN ANALYZE ${STAGE_ONE_SQL(K, { consentedOnly: true, excludePerson: false })}`,
        [vectorLiteral(transform.protect(enrolled[0]![3]!.embedding)), tenant.id, tenant.keyVersion],
      );
      process.stderr.write(`${plan.map((r) => String(Object.values(r)[0]).replace(/'\[[^\]]*\]'/, "'[…]'")).join('\n')}\n`);
    }
    // Warm-up.
    for (let i = 0; i < Math.min(10, P); i++) await identifyTemplate(ctx, tenant, enrolled[i]![3]!, K);

    const searchMs: number[] = [];
    const identifyMs: number[] = [];
    let hits = 0;
    for (let i = 0; i < P; i++) {
      const probe = enrolled[i]![3]!;
      const s0 = performance.now();
      await searchReferences(db, { tenantId: tenant.id, keyVersion: tenant.keyVersion, embedding: transform.protect(probe.embedding), limit: K, consentedOnly: true });
      searchMs.push(performance.now() - s0);
      const i0 = performance.now();
      const r = await identifyTemplate(ctx, tenant, probe, K);
      identifyMs.push(performance.now() - i0);
      if (r.match && r.personId !== null) {
        const expected = await db.query<{ person_id: string }>(`SELECT person_id FROM palm_reference WHERE id = $1`, [referenceIds[i]]);
        if (expected[0]?.person_id === r.personId) hits++;
      }
    }
    let falseMatches = 0;
    for (const probe of strangers) if ((await identifyTemplate(ctx, tenant, probe, K)).match) falseMatches++;

    // Stage-one recall: does the two-stage search reach the decision exhaustive fine matching
    // over the whole gallery reaches (the same reference above the threshold, or no match)?
    log(`stage-one recall on ${RECALL_PROBES} probes (exhaustive fine matching over ${N})…`);
    let recalled = 0;
    const recallProbes = [...enrolled.slice(0, Math.ceil(RECALL_PROBES / 2)).map((ts) => ts[3]!), ...strangers.slice(0, Math.floor(RECALL_PROBES / 2))];
    for (const probe of recallProbes) {
      let bestId = '';
      let bestScore = -1;
      for (const [id, ref] of fineByReference) {
        const score = compare(probe, ref);
        if (score > bestScore) {
          bestScore = score;
          bestId = id;
        }
      }
      const twoStage = await identifyTemplate(ctx, tenant, probe, K);
      const exhaustivePerson = bestScore >= twoStage.threshold
        ? (await db.query<{ person_id: string }>(`SELECT person_id FROM palm_reference WHERE id = $1`, [bestId]))[0]!.person_id
        : null;
      if (exhaustivePerson === twoStage.personId) recalled++;
    }
    const [size] = await db.query<{ bytes: string }>(
      `SELECT (pg_total_relation_size('palm_reference') + pg_total_relation_size('person_data_key') + pg_total_relation_size('consent'))::text AS bytes`,
    );
    const result = {
      database: db.kind,
      gallery: N,
      candidates: K,
      probes: P,
      searchP50Ms: +percentile(searchMs, 50).toFixed(2),
      searchP95Ms: +percentile(searchMs, 95).toFixed(2),
      identifyP50Ms: +percentile(identifyMs, 50).toFixed(2),
      identifyP95Ms: +percentile(identifyMs, 95).toFixed(2),
      closedSetHitRate: hits / P,
      openSetFalseMatches: falseMatches,
      openSetProbes: strangers.length,
      stageOneRecall: recalled / recallProbes.length,
      recallProbes: RECALL_PROBES,
      bytesPerPalm: Math.round(Number(size!.bytes) / N),
      seconds: { extract: +extractSeconds.toFixed(1), load: +loadSeconds.toFixed(1), index: +indexSeconds.toFixed(1) },
    };
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      process.stdout.write(
        [
          `bench:identify  ${result.database}  gallery ${N}  candidates ${K}  (load ${result.seconds.load}s, index ${result.seconds.index}s)`,
          `  stage one (pgvector HNSW)      p50 ${result.searchP50Ms} ms   p95 ${result.searchP95Ms} ms`,
          `  identification after extract  p50 ${result.identifyP50Ms} ms   p95 ${result.identifyP95Ms} ms`,
          `  closed set: ${hits}/${P} found   open set: ${falseMatches}/${strangers.length} false matches`,
          `  stage-one recall vs exhaustive fine matching: ${(result.stageOneRecall * 100).toFixed(1)} % (${recalled}/${recallProbes.length} probes, half closed, half open set)`,
          `  database per enrolled palm: ${result.bytesPerPalm} bytes (reference + HNSW index + data key + consent)`,
          '',
        ].join('\n'),
      );
    }
  } finally {
    await dispose();
  }
}

await main();
