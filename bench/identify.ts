/**
 * 1:N identification at gallery sizes no real data set reaches.
 *
 *   npm run bench:identify -- --gallery 10000 [--db pglite|postgres] [--probes 100] [--candidates 20]
 *                             [--recall-probes 30] [--pool 300] [--seed 7] [--exact] [--explain] [--json]
 *                             [--hnsw-m 32] [--ef-construction 200]
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
 * `--exact` also runs stage one as an exact search (sequential scan, no index) to tell the
 * embedding's misses from the HNSW index's.
 *
 * It runs the compiled code in dist/ (the npm script builds first), as `npm start` does.
 * PostgreSQL comes from BENCH_DATABASE_URL or TEST_DATABASE_URL (default
 * postgresql://postgres@127.0.0.1:5432/postgres); a fresh database is created and dropped.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { addTenant } from '../dist/src/accounts/tenants.js';
import { BiometricContext } from '../dist/src/biometrics/context.js';
import { identifyTemplate } from '../dist/src/biometrics/identification.js';
import { thresholdForFmr } from '../dist/src/biometrics/threshold.js';
import { STAGE_ONE_SQL, searchReferences, vectorLiteral } from '../dist/src/biometrics/references.js';
import { MasterKey } from '../dist/src/crypto/masterKey.js';
import { migrate } from '../dist/src/db/migrate.js';
import { compare, fuse, type PalmTemplate } from '../dist/src/palm/index.js';
import { loadGallery, openBenchDatabase, percentile, synthPoolRois, synthTemplates } from './gallery.js';

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

async function main() {
  const { db, dispose } = await openBenchDatabase(values.db as 'pglite' | 'postgres');
  try {
    await migrate(db);
    const master = MasterKey.fromBytes(randomBytes(32));
    const ctx = new BiometricContext(db, master);
    const tenant = await addTenant(db.prisma, { id: 'bench', name: 'Bench' });

    // Identities: [0, P) enrolled and probed; [P, P+POOL) the pool; [P+POOL, 2P+POOL) never enrolled.
    let t = performance.now();
    log(`extracting ${P} enrolled identities x 4 samples, ${POOL} pool identities x 3, ${P} open-set probes…`);
    const enrolled = await synthTemplates([...Array(P).keys()], [0, 1, 2, 3], SEED);
    const poolIds = [...Array(POOL).keys()].map((i) => P + i);
    const pool = (await synthTemplates(poolIds, [0, 1, 2], SEED)).map((ts) => fuse(ts));
    const poolRois = synthPoolRois(poolIds, SEED);
    const strangers = (await synthTemplates([...Array(P).keys()].map((i) => P + POOL + i), [3], SEED)).map((ts) => ts[0]!);
    const extractSeconds = (performance.now() - t) / 1000;

    const transform = ctx.transform(tenant.id, tenant.keyVersion, enrolled[0]![0]!.embedding.length);
    const { referenceIds, fineByReference, loadSeconds, indexSeconds } = await loadGallery(db, ctx, tenant, {
      size: N,
      enrolled: enrolled.map((ts) => fuse(ts.slice(0, 3))),
      pool,
      poolRois,
      seed: SEED,
      log,
      hnsw: { m: Number(values['hnsw-m']), efConstruction: Number(values['ef-construction']) },
    });

    if (values.explain) {
      const plan = await db.query<Record<string, string>>(
        `EXPLAIN ANALYZE ${STAGE_ONE_SQL(K, { consentedOnly: true, excludePerson: false, model: { model: enrolled[0]![3]!.model, dimensions: enrolled[0]![3]!.embedding.length } })}`,
        [vectorLiteral(transform.protect(enrolled[0]![3]!.embedding)), tenant.id, tenant.keyVersion],
      );
      process.stderr.write(`${plan.map((r) => String(Object.values(r)[0]).replace(/'\[[^\]]*\]'/, "'[…]'")).join('\n')}\n`);
    }
    // Warm-up.
    for (let i = 0; i < Math.min(10, P); i++) await identifyTemplate(ctx, tenant, enrolled[i]![3]!, K);

    const searchMs: number[] = [];
    const identifyMs: number[] = [];
    let hits = 0;
    let mateInCandidates = 0;
    for (let i = 0; i < P; i++) {
      const probe = enrolled[i]![3]!;
      const s0 = performance.now();
      const found = await searchReferences(db, { tenantId: tenant.id, keyVersion: tenant.keyVersion, embedding: transform.protect(probe.embedding), model: probe.model, limit: K, consentedOnly: true });
      searchMs.push(performance.now() - s0);
      if (found.some((c) => c.id === referenceIds[i])) mateInCandidates++;
      const i0 = performance.now();
      const r = await identifyTemplate(ctx, tenant, probe, K);
      identifyMs.push(performance.now() - i0);
      if (r.match && r.personId !== null) {
        const expected = await db.query<{ person_id: string }>(`SELECT person_id FROM palm_reference WHERE id = $1`, [referenceIds[i]]);
        if (expected[0]?.person_id === r.personId) hits++;
      }
    }
    // The same searches without the index: what the embedding alone puts in the top K.
    let exactMates: number | null = null;
    if (values.exact) {
      exactMates = 0;
      const model = { model: enrolled[0]![3]!.model, dimensions: enrolled[0]![3]!.embedding.length };
      // "(distance) + 0" is an ordering no index serves: a sequential scan and a full sort.
      const exactSql = STAGE_ONE_SQL(K, { consentedOnly: true, excludePerson: false, model }).replace(/ORDER BY (.*)\n/, 'ORDER BY ($1) + 0\n');
      for (let i = 0; i < P; i++) {
        const found = await db.query<{ id: string }>(exactSql, [vectorLiteral(transform.protect(enrolled[i]![3]!.embedding)), tenant.id, tenant.keyVersion]);
        if (found.some((c) => c.id === referenceIds[i])) exactMates++;
      }
    }
    let falseMatches = 0;
    for (const probe of strangers) if ((await identifyTemplate(ctx, tenant, probe, K)).match) falseMatches++;

    // Stage-one recall against exhaustive fine matching (closed-set probes): when fine matching
    // over the whole gallery would accept a reference (best score at or above the threshold),
    // is that reference among stage one's candidates? Open-set probes: do both reach the same
    // decision (no match, or the same reference)?
    log(`stage-one recall on ${RECALL_PROBES} + ${RECALL_PROBES} probes (exhaustive fine matching over ${N})…`);
    const exhaustiveBest = (probe: PalmTemplate) => {
      let best = { id: '', score: -1 };
      for (const [id, ref] of fineByReference) {
        const score = compare(probe, ref);
        if (score > best.score) best = { id, score };
      }
      return best;
    };
    const threshold = thresholdForFmr(tenant.targetFmr, N);
    let recalled = 0;
    let accepted = 0;
    for (const ts of enrolled.slice(0, RECALL_PROBES)) {
      const probe = ts[3]!;
      const best = exhaustiveBest(probe);
      if (best.score < threshold) continue;
      accepted++;
      const candidates = await searchReferences(db, { tenantId: tenant.id, keyVersion: tenant.keyVersion, embedding: transform.protect(probe.embedding), model: probe.model, limit: K, consentedOnly: true });
      if (candidates.some((c) => c.id === best.id)) recalled++;
    }
    let openAgreed = 0;
    for (const probe of strangers.slice(0, RECALL_PROBES)) {
      const best = exhaustiveBest(probe);
      const twoStage = await identifyTemplate(ctx, tenant, probe, K);
      const exhaustivePerson = best.score >= twoStage.threshold ? (await db.query<{ person_id: string }>(`SELECT person_id FROM palm_reference WHERE id = $1`, [best.id]))[0]!.person_id : null;
      if (exhaustivePerson === twoStage.personId) openAgreed++;
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
      threshold: +threshold.toFixed(4),
      mateInCandidates: mateInCandidates / P,
      ...(exactMates !== null ? { mateInExactTopK: exactMates / P } : {}),
      stageOneRecall: accepted ? recalled / accepted : null,
      recallProbes: RECALL_PROBES,
      exhaustiveAccepted: accepted,
      openSetDecisionAgreement: openAgreed / RECALL_PROBES,
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
          `  decision threshold ${result.threshold} (target ${tenant.targetFmr} per search, ${N} references)`,
          `  right palm among stage one's ${K} candidates: ${mateInCandidates}/${P} closed-set probes${exactMates !== null ? ` (exact search: ${exactMates}/${P})` : ''}`,
          `  stage-one recall vs exhaustive fine matching: ${recalled}/${accepted} (closed-set probes of ${RECALL_PROBES} that exhaustive matching accepts: its reference among the ${K} candidates)`,
          `  open set, same decision as exhaustive: ${openAgreed}/${RECALL_PROBES}`,
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
