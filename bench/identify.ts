/**
 * 1:N identification at gallery sizes no real data set reaches.
 *
 *   npm run bench:identify -- --gallery 10000 [--db pglite|postgres] [--probes 100] [--candidates 20]
 *                             [--recall-probes 30] [--agreement-probes 30] [--pool 300] [--seed 7]
 *                             [--exact] [--exact-probes 100] [--explain] [--json]
 *                             [--hnsw-m 32] [--ef-construction 200] [--ef-search 200,400]
 *                             [--protection projection,transform]
 *
 * Gallery. `--probes` synthetic identities are enrolled for real: three synthetic ROI captures
 * each, extracted by the palm engine and fused. The rest of the gallery is derived from a pool
 * of `--pool` other synthetic identities (disjoint from the probes): the pool palms themselves
 * come first (three captures fused), and each further reference is a mosaic of four pool
 * captures' Gabor responses (2x2, cut on the embedding's cell boundaries, each quarter in place;
 * code and embedding computed from those responses as the model does; see bench/gallery.ts): a
 * distinct palm that costs no image synthesis or model run, so a million references take
 * minutes, and no probe's palm is part of any of them. The report compares how spread derived
 * and real synthetic palms are (cosine distances among 500 of each). Every reference
 * belongs to its own person, with a consent and a data key, stored exactly as enrolment stores it
 * (protected embedding, sealed fine template), loaded in bulk, then the coarse HNSW index is
 * rebuilt.
 *
 * Probes. A fourth capture of each enrolled identity (closed set) and as many captures of
 * identities nobody enrolled (open set). Reported: p50/p95 of stage one (the pgvector query) and
 * of identification after extraction (search + unsealing + fine matching + decision), the
 * closed-set hit rate and open-set false matches, how often the right palm is among stage one's
 * candidates, stage-one recall against exhaustive fine matching over the whole gallery (on
 * `--recall-probes` closed-set probes: when exhaustive matching accepts a reference, is it among
 * stage one's candidates?; exhaustive matching decides as identification does, trying the
 * probe's variants only when the capture as taken matches nothing), the agreement of the
 * decisions on `--agreement-probes` open-set probes, and the
 * database size per enrolled palm (table + HNSW index + keys + consent rows).
 *
 * `--protection` takes a list of template protection schemes (src/biometrics/protection.ts):
 * for each, the same gallery is loaded afresh under it and measured, side by side (default
 * projection, the keyed bit code; transform: the linear scheme of references stored before it).
 *
 * `--ef-search` takes a list: the gallery is loaded and indexed once, then every measurement
 * below is repeated for each value (PALMID_HNSW_EF_SEARCH, default 200), side by side.
 *
 * `--exact` also runs stage one as exact searches (sequential scans, no index) on the first
 * `--exact-probes` probes, to tell the embedding's misses from the index's: over all dimensions,
 * and as the coarse shortlist (leading dimensions, as long as each ef_search) re-ranked by the
 * full vector, which is the best the coarse index could do.
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
import { coarse, STAGE_ONE_SQL, searchReferences, vectorLiteral } from '../dist/src/biometrics/references.js';
import { bitLiteral, PROTECTED_CODE_BITS } from '../dist/src/biometrics/protection.js';
import { MasterKey } from '../dist/src/crypto/masterKey.js';
import { DEFAULT_HNSW_EF_SEARCH, openDatabase } from '../dist/src/db/database.js';
import { migrate } from '../dist/src/db/migrate.js';
import { bestMatch, fuse, type Probe } from '../dist/src/palm/index.js';
import {
  derivedTemplates,
  embeddingSpread,
  loadGallery,
  openBenchDatabase,
  percentile,
  synthPoolResponses,
  synthProbes,
  synthTemplates,
} from './gallery.js';

const { values } = parseArgs({
  options: {
    gallery: { type: 'string', default: '10000' },
    db: { type: 'string', default: 'pglite' },
    probes: { type: 'string', default: '100' },
    candidates: { type: 'string', default: '20' },
    'recall-probes': { type: 'string', default: '30' },
    'agreement-probes': { type: 'string' },
    'exact-probes': { type: 'string' },
    pool: { type: 'string', default: '300' },
    seed: { type: 'string', default: '7' },
    json: { type: 'boolean', default: false },
    explain: { type: 'boolean', default: false },
    exact: { type: 'boolean', default: false },
    'hnsw-m': { type: 'string', default: '32' },
    'ef-construction': { type: 'string', default: '200' },
    'ef-search': { type: 'string', default: String(DEFAULT_HNSW_EF_SEARCH) },
    protection: { type: 'string', default: 'projection' },
  },
});
const SCHEMES = values.protection.split(',');
if (!SCHEMES.every((x) => x === 'projection' || x === 'transform'))
  throw new Error('--protection: projection and/or transform, comma-separated');
const N = Number(values.gallery);
const P = Math.min(Number(values.probes), N);
const K = Number(values.candidates);
const POOL = Number(values.pool);
const SEED = Number(values.seed);
const EF_SEARCH = values['ef-search'].split(',').map(Number);
if (!EF_SEARCH.every((x) => Number.isInteger(x) && x >= 1 && x <= 1000))
  throw new Error('--ef-search: integers from 1 to 1000, comma-separated');
const RECALL_PROBES = Math.min(Number(values['recall-probes']), P);
const EXACT_PROBES = Math.min(Number(values['exact-probes'] ?? P), P);
const AGREEMENT_PROBES = Math.min(Number(values['agreement-probes'] ?? RECALL_PROBES), P);
if (![N, P, K, POOL, SEED, RECALL_PROBES, AGREEMENT_PROBES, EXACT_PROBES].every((x) => Number.isInteger(x) && x > 0))
  throw new Error('numbers must be positive integers');
if (values.db !== 'pglite' && values.db !== 'postgres') throw new Error('--db is pglite or postgres');

const log = (msg: string) => !values.json && process.stderr.write(`${msg}\n`);

async function main() {
  const { db, url, dispose } = await openBenchDatabase(values.db as 'pglite' | 'postgres');
  try {
    await migrate(db);
    const master = MasterKey.fromBytes(randomBytes(32));
    const ctx = new BiometricContext(db, master);
    const tenant = await addTenant(db, { id: 'bench', name: 'Bench' });

    // Identities: [0, P) enrolled and probed; [P, P+POOL) the pool; [P+POOL, 2P+POOL) never enrolled.
    const t = performance.now();
    log(
      `extracting ${P} enrolled identities x 3 samples + a probe, ${POOL} pool identities x 3, ${P} open-set probes…`,
    );
    const enrolled = await synthTemplates([...Array(P).keys()], [0, 1, 2], SEED);
    const probes = await synthProbes([...Array(P).keys()], 3, SEED);
    const poolIds = [...Array(POOL).keys()].map((i) => P + i);
    const pool = (await synthTemplates(poolIds, [0, 1, 2], SEED)).map((ts) => fuse(ts));
    const poolResponses = await synthPoolResponses(poolIds, SEED);
    const strangers = await synthProbes(
      [...Array(P).keys()].map((i) => P + POOL + i),
      3,
      SEED,
    );
    const extractSeconds = (performance.now() - t) / 1000;
    // Derived palms must be spread like real ones (a crowded gallery is easier and harder in the wrong ways).
    const spreadSample = Math.min(POOL, 500);
    const spread = {
      real: embeddingSpread(poolResponses.embedding.slice(0, spreadSample)),
      derived: embeddingSpread(derivedTemplates(poolResponses, spreadSample, SEED + 1).map((d) => d.embedding)),
    };

    const reports: string[] = [];
    const results: unknown[] = [];
    for (const [s, scheme] of SCHEMES.entries()) {
      // Each scheme gets the same gallery, loaded afresh at the same tenant under its protection.
      if (s > 0) await db.query('TRUNCATE palm_reference, consent, person_data_key, person CASCADE');
      await db.query(`UPDATE tenant SET template_protection = $1 WHERE id = $2`, [scheme, tenant.id]);
      tenant.templateProtection = scheme;
      const protect = (probe: Probe) => ctx.protect(tenant, probe.template.embedding);
      const literal = (probe: Probe) =>
        ((p) => ('code' in p ? bitLiteral(p.code) : vectorLiteral(p.embedding)))(protect(probe));
      const dimensions = enrolled[0]![0]!.embedding.length;
      log(`template protection: ${scheme}`);
      const { referenceIds, personIds, fineByReference, loadSeconds, indexSeconds } = await loadGallery(
        db,
        ctx,
        tenant,
        {
          size: N,
          enrolled: enrolled.map((ts) => fuse(ts)),
          pool,
          poolResponses,
          seed: SEED,
          log,
          hnsw: { m: Number(values['hnsw-m']), efConstruction: Number(values['ef-construction']) },
        },
      );

      if (values.explain) {
        const plan = await db.query<Record<string, string>>(
          `EXPLAIN ANALYZE ${STAGE_ONE_SQL(K, { consentedOnly: true, excludePerson: false, model: { model: probes[0]!.template.model, dimensions }, by: scheme === 'projection' ? 'code' : 'embedding', shortlist: db.hnswEfSearch })}`,
          [literal(probes[0]!), tenant.id, tenant.keyVersion],
        );
        process.stderr.write(
          `${plan.map((r) => String(Object.values(r)[0]).replace(/'\[[^\]]*\]'/, "'[…]'")).join('\n')}\n`,
        );
      }
      // Exhaustive fine matching over the whole gallery, once per recall probe: the reference it
      // would accept (best score at or above the threshold), against which each stage one is judged.
      log(`exhaustive fine matching over ${N} for ${RECALL_PROBES} + ${AGREEMENT_PROBES} probes…`);
      const threshold = thresholdForFmr(tenant.targetFmr, N);
      // bestMatch, as identification decides: the variants are tried only when the capture as
      // taken reaches the threshold with no reference (so a genuine probe costs ~1 µs per reference).
      const fineIds = [...fineByReference.keys()];
      const fineTemplates = [...fineByReference.values()];
      const exhaustiveBest = async (probe: Probe) => {
        const best = await bestMatch(probe, fineTemplates, threshold);
        return { id: fineIds[best.index] ?? '', score: best.score };
      };
      const closedBest = [];
      for (const probe of probes.slice(0, RECALL_PROBES)) closedBest.push(await exhaustiveBest(probe));
      const openBest = [];
      for (const probe of strangers.slice(0, AGREEMENT_PROBES)) openBest.push(await exhaustiveBest(probe));
      const personOf = async (referenceId: string) =>
        (await db.query<{ person_id: string }>(`SELECT person_id FROM palm_reference WHERE id = $1`, [referenceId]))[0]!
          .person_id;

      const runs = [];
      for (const efSearch of EF_SEARCH) {
        // Each ef_search gets its own connections (PostgreSQL) or session setting (PGlite).
        const searchDb = url
          ? await openDatabase({ url, dataDir: os.tmpdir(), poolSize: 2, hnswEfSearch: efSearch })
          : db;
        if (!url) await db.query(`SET hnsw.ef_search = ${efSearch}`);
        try {
          runs.push({ efSearch, ...(await measure(new BiometricContext(searchDb, master, ctx.dataKeys.store))) }); // the key store that wrapped the gallery's keys
        } finally {
          if (searchDb !== db) await searchDb.close();
        }
      }

      async function measure(c: BiometricContext) {
        const search = (probe: Probe) =>
          searchReferences(c.db, {
            tenant,
            probe: protect(probe),
            model: probe.template.model,
            dimensions,
            limit: K,
            consentedOnly: true,
          });
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

      // The same searches without the index. Full: what the whole embedding puts in the top K.
      // Coarse: the exact shortlist of the leading dimensions (as long as each ef_search),
      // re-ranked by the full vector as stage one does: what the coarse index could at best give.
      let exactMates: number | null = null;
      let exactCoarseMates: Map<number, number> | null = null;
      if (values.exact) {
        exactMates = 0;
        exactCoarseMates = new Map(EF_SEARCH.map((ef) => [ef, 0]));
        const model = { model: probes[0]!.template.model, dimensions: probes[0]!.template.embedding.length };
        // "(distance) + 0" is an ordering no index serves: a sequential scan and a top-K sort. Only
        // the reference table: every bench person has a consent and a data key, and joining both
        // for a million rows made each query take ~10 s.
        const d = model.dimensions;
        // For codes: the exact Hamming ranking (no index), and no separate coarse shortlist.
        const full =
          scheme === 'projection'
            ? `code <~> $1::bit(${PROTECTED_CODE_BITS})`
            : `embedding::vector(${d}) <=> $1::vector(${d})`;
        const coarseDistance = scheme === 'projection' ? full : `${coarse('embedding')} <=> ${coarse('$1::vector')}`;
        const where = `WHERE model = '${model.model}' AND tenant_id = $2 AND key_version = $3`;
        const exactSql = `SELECT id FROM palm_reference ${where} ORDER BY (${full}) + 0 LIMIT ${K}`;
        const coarseSql = `SELECT id, ${full} AS distance FROM palm_reference ${where} ORDER BY (${coarseDistance}) + 0 LIMIT ${Math.max(...EF_SEARCH, K)}`;
        for (let i = 0; i < EXACT_PROBES; i++) {
          const params = [literal(probes[i]!), tenant.id, tenant.keyVersion];
          const found = await db.query<{ id: string }>(exactSql, params);
          if (found.some((c) => c.id === referenceIds[i])) exactMates++;
          const shortlist = await db.query<{ id: string; distance: number }>(coarseSql, params);
          for (const ef of EF_SEARCH) {
            const top = shortlist
              .slice(0, Math.max(ef, K))
              .sort((a, b) => a.distance - b.distance)
              .slice(0, K);
            if (top.some((c) => c.id === referenceIds[i])) exactCoarseMates.set(ef, exactCoarseMates.get(ef)! + 1);
          }
        }
      }
      const [size] = await db.query<{ bytes: string }>(
        `SELECT (pg_total_relation_size('palm_reference') + pg_total_relation_size('person_data_key') + pg_total_relation_size('consent'))::text AS bytes`,
      );
      const result = {
        database: db.kind,
        protection: scheme,
        gallery: N,
        candidates: K,
        probes: P,
        threshold: +threshold.toFixed(4),
        hnsw: { m: Number(values['hnsw-m']), efConstruction: Number(values['ef-construction']) },
        ...(exactMates !== null ? { exactProbes: EXACT_PROBES, mateInExactTopK: exactMates / EXACT_PROBES } : {}),
        recallProbes: RECALL_PROBES,
        runs: runs.map((r) => ({
          efSearch: r.efSearch,
          ...(exactCoarseMates ? { mateInExactCoarseShortlist: exactCoarseMates.get(r.efSearch)! / EXACT_PROBES } : {}),
          searchP50Ms: r.searchP50Ms,
          searchP95Ms: r.searchP95Ms,
          identifyP50Ms: r.identifyP50Ms,
          identifyP95Ms: r.identifyP95Ms,
          closedSetHitRate: r.hits / P,
          openSetFalseMatches: r.falseMatches,
          mateInCandidates: r.mates / P,
          stageOneRecall: r.accepted ? r.recalled / r.accepted : null,
          exhaustiveAccepted: r.accepted,
          openSetDecisionAgreement: r.openAgreed / AGREEMENT_PROBES,
        })),
        bytesPerPalm: Math.round(Number(size!.bytes) / N),
        embeddingSpread: spread,
        seconds: {
          extract: +extractSeconds.toFixed(1),
          load: +loadSeconds.toFixed(1),
          index: +indexSeconds.toFixed(1),
        },
      };
      results.push(result);
      {
        const lines = [
          `bench:identify  ${result.database}  protection ${scheme}  gallery ${N}  candidates ${K}  HNSW m ${result.hnsw.m} ef_construction ${result.hnsw.efConstruction}  (load ${result.seconds.load}s, index ${result.seconds.index}s)`,
          `  decision threshold ${result.threshold} (target ${tenant.targetFmr} per search, ${N} references)`,
          `  database per enrolled palm: ${result.bytesPerPalm} bytes (reference + HNSW index + data key + consent)`,
          `  embedding spread, median cosine distance to the others / to the nearest (${spreadSample} each): real synthetic palms ${spread.real.medianDistance} / ${spread.real.medianNearest}, derived ${spread.derived.medianDistance} / ${spread.derived.medianNearest}`,
        ];
        if (exactMates !== null)
          lines.push(
            `  exact search (no index, all ${probes[0]!.template.embedding.length} dimensions): right palm among the top ${K} for ${exactMates}/${EXACT_PROBES}`,
          );
        for (const r of runs)
          lines.push(
            `  ef_search ${r.efSearch}:`,
            ...(exactCoarseMates
              ? [
                  `    exact coarse shortlist of ${Math.max(r.efSearch, K)} re-ranked (no index): right palm among the top ${K} for ${exactCoarseMates.get(r.efSearch)}/${EXACT_PROBES}`,
                ]
              : []),
            `    stage one (pgvector HNSW)      p50 ${r.searchP50Ms} ms   p95 ${r.searchP95Ms} ms`,
            `    identification after extract  p50 ${r.identifyP50Ms} ms   p95 ${r.identifyP95Ms} ms`,
            `    closed set: ${r.hits}/${P} found   open set: ${r.falseMatches}/${strangers.length} false matches`,
            `    right palm among stage one's ${K} candidates: ${r.mates}/${P}`,
            `    stage-one recall vs exhaustive fine matching: ${r.recalled}/${r.accepted} (of ${RECALL_PROBES} closed-set probes, those exhaustive matching accepts)`,
            `    open set, same decision as exhaustive: ${r.openAgreed}/${AGREEMENT_PROBES}`,
          );
        reports.push(lines.join('\n'));
      }
    }
    if (values.json) process.stdout.write(`${JSON.stringify(results.length === 1 ? results[0] : results)}\n`);
    else process.stdout.write(`${reports.join('\n\n')}\n`);
  } finally {
    await dispose();
  }
}

await main();
