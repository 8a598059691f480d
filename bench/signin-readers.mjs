/**
 * The readers of bench:signin, in a worker thread of their own: readers are separate devices,
 * so building envelopes, signing client assertions and checking ID tokens must not share the
 * provider's event loop (on the same 2 cores it still shares the CPU, as a real test rig would).
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { connectReader, readerSignIn } from '../dist/src/readers/client.js';

/**
 * workerData: { issuer, readers: ReaderKeyFile[], captures: Uint8Array[] }.
 * Each message { concurrency, jobs: capture index per sign-in } is answered with
 * { ok, result: { latencies, subs: [{ capture, sub | null, error? }], seconds } }.
 */
const input = workerData;
const sessions = [];
for (const reader of input.readers) sessions.push(await connectReader(input.issuer, reader));

async function run(req) {
  const jobs = [...req.jobs];
  const latencies = [];
  const subs = [];
  const started = performance.now();
  await Promise.all(
    sessions.slice(0, req.concurrency).map(async (session) => {
      for (let capture = jobs.shift(); capture !== undefined; capture = jobs.shift()) {
        const t0 = performance.now();
        const r = await readerSignIn({
          issuer: input.issuer,
          reader: session.reader,
          session,
          images: [input.captures[capture]],
          scope: 'openid',
        });
        latencies.push(performance.now() - t0);
        subs.push({ capture, sub: r.ok ? r.sub : null, ...(r.ok ? {} : { error: r.error }) });
      }
    }),
  );
  return { latencies, subs, seconds: (performance.now() - started) / 1000 };
}

parentPort.on('message', (req) => {
  run(req).then(
    (result) => parentPort.postMessage({ ok: true, result }),
    (err) => parentPort.postMessage({ ok: false, error: err.stack ?? String(err) }),
  );
});
parentPort.postMessage({ ready: true });
