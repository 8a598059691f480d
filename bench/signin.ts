/**
 * End-to-end palm sign-in at readers: capture envelope built → ID token received, with a gallery
 * of enrolled palms, for 1 and for 20 readers at once.
 *
 *   npm run bench:signin -- [--gallery 10000] [--db postgres|pglite] [--probes 40] [--pool 300]
 *                           [--readers 1,20] [--rounds 3] [--json]
 *
 * It runs the compiled code in dist/ (the npm script builds first), as `npm start` does.
 * The server runs in this process on a fresh database (PostgreSQL by default, see
 * bench/gallery.ts); the gallery is loaded as in bench:identify. The readers run in a worker
 * thread (bench/signin-readers.mjs), as separate devices would: each is a registered CIBA client
 * with its own key, keeps its connection (discovery, capture key) and sends one synthetic
 * capture (PNG) per sign-in. Reported per concurrency: p50/p95 latency, throughput,
 * and how many sign-ins found the right person.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { addTenant } from '../dist/src/accounts/tenants.js';
import { BiometricContext } from '../dist/src/biometrics/context.js';
import { loadConfig } from '../dist/src/config.js';
import { MasterKey } from '../dist/src/crypto/masterKey.js';
import { migrate } from '../dist/src/db/migrate.js';
import { createLogger } from '../dist/src/log.js';
import { fuse } from '../dist/src/palm/index.js';
import { synthRoi } from '../dist/src/palm/devtools/index.js';
import { Worker } from 'node:worker_threads';
import { addReader } from '../dist/src/readers/registry.js';
import { startServer } from '../dist/src/server.js';
import { loadGallery, openBenchDatabase, percentile, synthPoolResponses, synthTemplates } from './gallery.js';
import type { ReaderKeyFile } from '../dist/src/readers/client.js';

/** What bench/signin-readers.mjs (the readers' worker) takes and answers. */
interface ReadersInput {
  issuer: string;
  readers: ReaderKeyFile[];
  captures: Uint8Array[];
}
interface RunRequest {
  concurrency: number;
  /** capture index per sign-in, in order */
  jobs: number[];
}
interface RunResult {
  latencies: number[];
  subs: { capture: number; sub: string | null; error?: string }[];
  seconds: number;
}

interface Row {
  readers: number;
  signIns: number;
  p50Ms: number;
  p95Ms: number;
  perSecond: number;
  rightPerson: number;
  refused: number;
}

/** The readers run in a worker thread (see signin-readers.mjs), driven one run at a time. */
function startReaders(input: ReadersInput) {
  // Plain JavaScript: Node 20 does not pass a worker's entry file through the tsx loader.
  const worker = new Worker(new URL('./signin-readers.mjs', import.meta.url), { workerData: input });
  let pending: { resolve: (r: RunResult) => void; reject: (e: Error) => void } | null = null;
  let onReady: () => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  worker.on('message', (m: { ready?: true; ok?: boolean; result?: RunResult; error?: string }) => {
    if (m.ready) return onReady();
    const p = pending;
    pending = null;
    if (m.ok) p?.resolve(m.result!);
    else p?.reject(new Error(m.error));
  });
  worker.on('error', (err) => {
    onFail(err);
    pending?.reject(err);
  });
  return {
    ready,
    run: (req: RunRequest) =>
      new Promise<RunResult>((resolve, reject) => {
        pending = { resolve, reject };
        worker.postMessage(req);
      }),
    stop: () => worker.terminate(),
  };
}

const { values } = parseArgs({
  options: {
    gallery: { type: 'string', default: '10000' },
    db: { type: 'string', default: 'postgres' },
    probes: { type: 'string', default: '40' },
    pool: { type: 'string', default: '300' },
    readers: { type: 'string', default: '1,20' },
    rounds: { type: 'string', default: '3' },
    seed: { type: 'string', default: '11' },
    json: { type: 'boolean', default: false },
  },
});
const N = Number(values.gallery);
const P = Number(values.probes);
const POOL = Number(values.pool);
const SEED = Number(values.seed);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = values.readers.split(',').map(Number);
const log = (msg: string) => !values.json && process.stderr.write(`${msg}\n`);

async function main() {
  const { db, url, dispose } = await openBenchDatabase(values.db as 'pglite' | 'postgres');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-bench-signin-'));
  const masterKey = randomBytes(32);
  try {
    await migrate(db);
    const tenant = await addTenant(db, { id: 'gate', name: 'Gate' });
    log(`extracting ${P} enrolled identities x 3 samples and ${POOL} pool identities…`);
    const enrolled = await synthTemplates([...Array(P).keys()], [0, 1, 2], SEED);
    const poolIds = [...Array(POOL).keys()].map((i) => P + i);
    const pool = (await synthTemplates(poolIds, [0, 1, 2], SEED)).map((ts) => fuse(ts));
    const poolResponses = await synthPoolResponses(poolIds, SEED);
    const bio = new BiometricContext(db, MasterKey.fromBytes(masterKey));
    const gallery = await loadGallery(db, bio, tenant, {
      size: N,
      enrolled: enrolled.map((ts) => fuse(ts)),
      pool,
      poolResponses,
      seed: SEED,
      log,
    });

    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      PALMID_DATA_DIR: dataDir,
      PALMID_MASTER_KEY: masterKey.toString('base64'),
      LOG_LEVEL: 'silent',
      ...(url ? { DATABASE_URL: url } : {}),
    });
    const server = await startServer({ config, db, log: createLogger('silent') });
    const results: Row[] = [];
    try {
      const maxReaders = Math.max(...CONCURRENCY);
      const readers = [];
      for (let r = 0; r < maxReaders; r++)
        readers.push(await addReader(db, server.provider(), { tenantId: tenant.id, name: `Gate ${r + 1}` }));
      // One capture per enrolled identity, a sample the enrolment never saw, as a reader's PNG.
      const captures = await Promise.all(
        [...Array(P).keys()].map(async (id) => {
          const img = synthRoi(id, 3, { seed: SEED });
          return new Uint8Array(
            await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 1 } })
              .png()
              .toBuffer(),
          );
        }),
      );
      const workers = startReaders({ issuer: server.issuer, readers, captures });
      try {
        await workers.ready;
        // Warm-up: one sign-in per reader.
        await workers.run({ concurrency: maxReaders, jobs: readers.map((_, i) => i % P) });
        for (const concurrency of CONCURRENCY) {
          const { latencies, subs, seconds } = await workers.run({
            concurrency,
            jobs: [...Array(P * ROUNDS).keys()].map((j) => j % P),
          });
          results.push({
            readers: concurrency,
            signIns: latencies.length,
            p50Ms: +percentile(latencies, 50).toFixed(1),
            p95Ms: +percentile(latencies, 95).toFixed(1),
            perSecond: +(latencies.length / seconds).toFixed(1),
            rightPerson: subs.filter((s) => s.sub === gallery.personIds[s.capture]).length,
            refused: subs.filter((s) => s.sub === null).length,
          });
        }
      } finally {
        await workers.stop();
      }
      const out = {
        database: db.kind,
        gallery: N,
        load: { seconds: gallery.loadSeconds, indexSeconds: gallery.indexSeconds },
        results,
      };
      if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`);
      else {
        process.stdout.write(
          `bench:signin  ${db.kind}  gallery ${N}  (envelope built -> ID token received; ${os.cpus().length} CPUs)\n`,
        );
        for (const r of results) {
          process.stdout.write(
            `  ${String(r.readers).padStart(2)} reader(s): ${r.signIns} sign-ins  p50 ${r.p50Ms} ms  p95 ${r.p95Ms} ms  ${r.perSecond}/s  right person ${r.rightPerson}, refused ${r.refused}\n`,
          );
        }
      }
    } finally {
      await server.close();
    }
  } finally {
    await dispose();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
