/**
 * 1:N identification at gallery sizes no real data set reaches.
 *
 *   npm run bench:identify -- --gallery 10000 [--db pglite|postgres] [--probes 100] [--candidates 20]
 *                             [--recall-probes 30] [--pool 300] [--seed 7] [--exact] [--explain] [--json]
 *                             [--hnsw-m 32] [--ef-construction 200] [--ef-search 200,400]
 *
 * Gallery. `--probes` synthetic identities are enrolled for real: three synthetic ROI captures
 * each, extracted by the palm engine and fused. The rest of the gallery is derived from a pool
 * of `--pool` other synthetic identities (disjoint from the probes): the pool palms themselves
 * come first (three captures fused), and each further reference is a mosaic of four pool ROIs
 * (2x2, smooth seams, a random flip/rotation; see bench/gallery.ts) run through the real feature
 * model: a distinct palm-like image that costs no image synthesis (~1 ms instead of ~25 ms), so
 * a million references take minutes, and no probe's palm is part of any of them. Every reference
 * belongs to its own person, with a consent and a data key, stored exactly as enrolment stores it
 * (protected embedding, sealed fine template), loaded in bulk, then the HNSW index is rebuilt.
 *
 * Probes. A fourth capture of each enrolled identity (closed set) and as many captures of
 * identities nobody enrolled (open set). Reported: p50/p95 of stage one (the pgvector query) and
 * of identification after extraction (search + unsealing + fine matching + decision), the
 * closed-set hit rate and open-set false matches, how often the right palm is among stage one's
 * candidates, stage-one recall against exhaustive fine matching over the whole gallery (on
 * `--recall-probes` closed-set probes: when exhaustive matching accepts a reference, is it among
 * stage one's candidates?), the agreement of the decisions on as many open-set probes, and the
 * database size per enrolled palm (table + HNSW index + keys + consent rows).
 *
 * `--ef-search` takes a list: the gallery is loaded and indexed once, then every measurement
 * below is repeated for each value (PALMID_HNSW_EF_SEARCH, default 200), side by side.
 *
 * `--exact` also runs stage one as an exact search (sequential scan, no index) to tell the
 * embedding's misses from the HNSW index's.
 *
 * It runs the compiled code in dist/ (the npm script builds first), as `npm start` does.
 * PostgreSQL comes from BENCH_DATABASE_URL or TEST_DATABASE_URL (default
 * postgresql://postgres@127.0.0.1:5432/postgres); a fresh database is created and dropped.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { addTenant } from '../dist/src/accounts/tenants.js';
import { BiometricContext } from '../dist/src/biometrics/context.js';
import { identifyProbe } from '../dist/src/biometrics/identification.js';
import { thresholdForFmr } from '../dist/src/biometrics/threshold.js';
import { STAGE_ONE_SQL, searchReferences, vectorLiteral } from '../dist/src/biometrics/references.js';
import { MasterKey } from '../dist/src/crypto/masterKey.js';
import { DEFAULT_HNSW_EF_SEARCH, openDatabase } from '../dist/src/db/database.js';
import { migrate } from '../dist/src/db/migrate.js';
import { compareProbe, fuse, type Probe } from '../dist/src/palm/index.js';
import { loadGallery, openBenchDatabase, percentile, synthPoolRois, synthProbes, synthTemplates } from './gallery.js';

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
    exact: { type: 'boolean', default: false },
    'hnsw-m': { type: 'string', default: '32' },
    'ef-construction': { type: 'string', default: '200' },
    'ef-search': { type: 'string', default: String(DEFAULT_HNSW_EF_SEARCH) },
  },
});
const N = Number(values.gallery);
const P = Math.min(Number(values.probes), N);
const K = Number(values.candidates);
const POOL = Number(values.pool);
const SEED = Number(values.seed);
const EF_SEARCH = values['ef-search'].split(',').map(Number);
if (!EF_SEARCH.every((x) => Number.isInteger(x) && x >= 1 && x <= 1000)) throw new Error('--ef-search: integers from 1 to 1000, comma-separated');
const RECALL_PROBES = Math.min(Number(values['recall-probes']), P);
if (![N, P, K, POOL, SEED].every((x) => Number.isInteger(x) && x > 0)) throw new Error('numbers must be positive integers');
if (values.db !== 'pglite' && values.db !== 'postgres') throw new Error('--db is pglite or postgres');

const log = (msg: string) => !values.json && process.stderr.write(`${msg}\n`);

async function main() {
  const { db, url, dispose } = await openBenchDatabase(values.db as 'pglite' | 'postgres');
  try {
    await migrate(db);
    const master = MasterKey.fromBytes(randomBytes(32));
    const ctx = new BiometricContext(db, master);
    const tenant = await addTenant(db.prisma, { id: 'bench', name: 'Bench' });

    // Identities: [0, P) enrolled and probed; [P, P+POOL) the pool; [P+POOL, 2P+POOL) never enrolled.
    let t = performance.now();
    log(`extracting ${P} enrolled identities x 3 samples + a probe, ${POOL} pool identities x 3, ${P} open-set probes…`);
    const enrolled = await synthTemplates([...Array(P).keys()], [0, 1, 2], SEED);
    const probes = await synthProbes([...Array(P).keys()], 3, SEED);
    const poolIds = [...Array(POOL).keys()].map((i) => P + i);
    const pool = (await synthTemplates(poolIds, [0, 1, 2], SEED)).map((ts) => fuse(ts));
    const poolRois = synthPoolRois(poolIds, SEED);
    const strangers = await synthProbes([...Array(P).keys()].map((i) => P + POOL + i), 3, SEED);
    const extractSeconds = (performance.now() - t) / 1000;

    const transform = ctx.transform(tenant.id, tenant.keyVersion, enrolled[0]![0]!.embedding.length);
    const { referenceIds, personIds, fineByReference, loadSeconds, indexSeconds } = await loadGallery(db, ctx, tenant, {
      size: N,
      enrolled: enrolled.map((ts) => fuse(ts)),
      pool,
      poolRois,
      seed: SEED,
      log,
      hnsw: { m: Number(values['hnsw-m']), efConstruction: Number(values['ef-construction']) },
    });

    if (values.explain) {
      const plan = await db.query<Record<string, string>>(
        `EXPLAIN ANALYZE ${STAGE_ONE_SQL(K, { consentedOnly: true, excludePerson: false, model: { model: probes[0]!.template.model, dimensions: probes[0]!.template.embedding.length } })}`,
        [vectorLiteral(transform.protect(probes[0]!.template.embedding)), tenant.id, tenant.keyVersion],
      );
      process.stderr.write(`${plan.map((r) => String(Object.values(r)[0]).replace(/'\[[^\]]*\]'/, "'[…]'")).join('\n')}\n`);
    }
    // Exhaustive fine matching over the whole gallery, once per recall probe: the reference it
    // would accept (best score at or above the threshold), against which each stage one is judged.
    log(`exhaustive fine matching over ${N} for ${RECALL_PROBES} + ${RECALL_PROBES} probes…`);
    const exhaustiveBest = (probe: Probe) => {
      let best = { id: '', score: -1 };
      for (const [id, ref] of fineByReference) {
        const score = compareProbe(probe, ref);
        if (score > best.score) best = { id, score };
      }
      return best;
    };
    const threshold = thresholdForFmr(tenant.targetFmr, N);
    const closedBest = probes.slice(0, RECALL_PROBES).map(exhaustiveBest);
    const openBest = strangers.slice(0, RECALL_PROBES).map(exhaustiveBest);
    const personOf = async (referenceId: string) =>
      (await db.query<{ person_id: string }>(`SELECT person_id FROM palm_reference WHERE id = $1`, [referenceId]))[0]!.person_id;

    const runs = [];
    for (const efSearch of EF_SEARCH) {
      // Each ef_search gets its own connections (PostgreSQL) or session setting (PGlite).
      const searchDb = url ? await openDatabase({ url, dataDir: os.tmpdir(), poolSize: 2, hnswEfSearch: efSearch }) : db;
      if (!url) await db.query(`SET hnsw.ef_search = ${efSearch}`);
      try {
        runs.push({ efSearch, ...(await measure(new BiometricContext(searchDb, master))) });
      } finally {
        if (searchDb !== db) await searchDb.close();
      }
    }

    async function measure(c: BiometricContext) {
      const search = (probe: Probe) =>
        searchReferences(c.db, { tenantId: tenant.id, keyVersion: tenant.keyVersion, embedding: transform.protect(probe.template.embedding), model: probe.template.model, limit: K, consentedOnly: true });
      for (let i = 0; i < Math.min(10, P); i++) await identifyProbe(c, tenant, probes[i]!, K); // warm-up
      const searchMs: number[] = [];
      const identifyMs: number[] = [];
      let hits = 0;
      let mates = 0;
      for (let i = 0; i < P; i++) {
        const probe = probes[i]!;
        const s0 = performance.now();
        const found = await search(probe);
        searchMs.push(performance.now() - s0);
        if (found.some((f) => f.id === referenceIds[i])) mates++;
        const i0 = performance.now();
        const r = await identifyProbe(c, tenant, probe, K);
        identifyMs.push(performance.now() - i0);
        if (r.match && r.personId === personIds[i]) hits++;
      }
      let falseMatches = 0;
      for (const probe of strangers) if ((await identifyProbe(c, tenant, probe, K)).match) falseMatches++;
      // Stage-one recall: when exhaustive matching accepts a reference, is it among the candidates?
      let recalled = 0;
      let accepted = 0;
      for (const [i, best] of closedBest.entries()) {
        if (best.score < threshold) continue;
        accepted++;
        if ((await search(probes[i]!)).some((f) => f.id === best.id)) recalled++;
      }
      // Open set: do the two-stage and the exhaustive search reach the same decision?
      let openAgreed = 0;
      for (const [i, best] of openBest.entries()) {
        const twoStage = await identifyProbe(c, tenant, strangers[i]!, K);
        const exhaustivePerson = best.score >= twoStage.threshold ? await personOf(best.id) : null;
        if (exhaustivePerson === twoStage.personId) openAgreed++;
      }
      return {
        searchP50Ms: +percentile(searchMs, 50).toFixed(2),
        searchP95Ms: +percentile(searchMs, 95).toFixed(2),
        identifyP50Ms: +percentile(identifyMs, 50).toFixed(2),
        identifyP95Ms: +percentile(identifyMs, 95).toFixed(2),
        hits,
        falseMatches,
        mates,
        recalled,
        accepted,
        openAgreed,
      };
    }

    // The same searches without the index: what the embedding alone puts in the top K.
    let exactMates: number | null = null;
    if (values.exact) {
      exactMates = 0;
      const model = { model: probes[0]!.template.model, dimensions: probes[0]!.template.embedding.length };
      // "(distance) + 0" is an ordering no index serves: a sequential scan and a top-K sort. Only
      // the reference table: every bench person has a consent and a data key, and joining both
      // for a million rows made each query take ~10 s.
      const distance = `embedding::vector(${model.dimensions}) <=> $1::vector(${model.dimensions})`;
      const exactSql = `SELECT id FROM palm_reference WHERE model = '${model.model}' AND tenant_id = $2 AND key_version = $3 ORDER BY (${distance}) + 0 LIMIT ${K}`;
      for (let i = 0; i < P; i++) {
        const found = await db.query<{ id: string }>(exactSql, [vectorLiteral(transform.protect(probes[i]!.template.embedding)), tenant.id, tenant.keyVersion]);
        if (found.some((c) => c.id === referenceIds[i])) exactMates++;
      }
    }
    const [size] = await db.query<{ bytes: string }>(
      `SELECT (pg_total_relation_size('palm_reference') + pg_total_relation_size('person_data_key') + pg_total_relation_size('consent'))::text AS bytes`,
    );
    const result = {
      database: db.kind,
      gallery: N,
      candidates: K,
      probes: P,
      threshold: +threshold.toFixed(4),
      hnsw: { m: Number(values['hnsw-m']), efConstruction: Number(values['ef-construction']) },
      ...(exactMates !== null ? { mateInExactTopK: exactMates / P } : {}),
      recallProbes: RECALL_PROBES,
      runs: runs.map((r) => ({
        efSearch: r.efSearch,
        searchP50Ms: r.searchP50Ms,
        searchP95Ms: r.searchP95Ms,
        identifyP50Ms: r.identifyP50Ms,
        identifyP95Ms: r.identifyP95Ms,
        closedSetHitRate: r.hits / P,
        openSetFalseMatches: r.falseMatches,
        mateInCandidates: r.mates / P,
        stageOneRecall: r.accepted ? r.recalled / r.accepted : null,
        exhaustiveAccepted: r.accepted,
        openSetDecisionAgreement: r.openAgreed / RECALL_PROBES,
      })),
      bytesPerPalm: Math.round(Number(size!.bytes) / N),
      seconds: { extract: +extractSeconds.toFixed(1), load: +loadSeconds.toFixed(1), index: +indexSeconds.toFixed(1) },
    };
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      const lines = [
        `bench:identify  ${result.database}  gallery ${N}  candidates ${K}  HNSW m ${result.hnsw.m} ef_construction ${result.hnsw.efConstruction}  (load ${result.seconds.load}s, index ${result.seconds.index}s)`,
        `  decision threshold ${result.threshold} (target ${tenant.targetFmr} per search, ${N} references)`,
        `  database per enrolled palm: ${result.bytesPerPalm} bytes (reference + HNSW index + data key + consent)`,
      ];
      if (exactMates !== null) lines.push(`  exact search (no index): right palm among the top ${K} for ${exactMates}/${P}`);
      for (const r of runs)
        lines.push(
          `  ef_search ${r.efSearch}:`,
          `    stage one (pgvector HNSW)      p50 ${r.searchP50Ms} ms   p95 ${r.searchP95Ms} ms`,
          `    identification after extract  p50 ${r.identifyP50Ms} ms   p95 ${r.identifyP95Ms} ms`,
          `    closed set: ${r.hits}/${P} found   open set: ${r.falseMatches}/${strangers.length} false matches`,
          `    right palm among stage one's ${K} candidates: ${r.mates}/${P}`,
          `    stage-one recall vs exhaustive fine matching: ${r.recalled}/${r.accepted} (of ${RECALL_PROBES} closed-set probes, those exhaustive matching accepts)`,
          `    open set, same decision as exhaustive: ${r.openAgreed}/${RECALL_PROBES}`,
        );
      process.stdout.write(`${lines.join('\n')}\n`);
    }
  } finally {
    await dispose();
  }
}

await main();
