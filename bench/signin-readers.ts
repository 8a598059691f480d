/**
 * The readers of bench:signin, in a worker thread of their own: readers are separate devices,
 * so building envelopes, signing client assertions and checking ID tokens must not share the
 * provider's event loop (on the same 2 cores it still shares the CPU, as a real test rig would).
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { connectReader, readerSignIn, type ReaderKeyFile, type ReaderSession } from '../dist/src/readers/client.js';

export interface ReadersInput {
  issuer: string;
  readers: ReaderKeyFile[];
  captures: Uint8Array[];
}

export interface RunRequest {
  concurrency: number;
  /** capture index per sign-in, in order */
  jobs: number[];
}

export interface RunResult {
  latencies: number[];
  /** per sign-in: the subject signed in, or null when refused */
  subs: { capture: number; sub: string | null; error?: string }[];
  seconds: number;
}

const input = workerData as ReadersInput;
const sessions: ReaderSession[] = [];
for (const reader of input.readers) sessions.push(await connectReader(input.issuer, reader));

async function run(req: RunRequest): Promise<RunResult> {
  const jobs = [...req.jobs];
  const latencies: number[] = [];
  const subs: RunResult['subs'] = [];
  const started = performance.now();
  await Promise.all(
    sessions.slice(0, req.concurrency).map(async (session) => {
      for (let capture = jobs.shift(); capture !== undefined; capture = jobs.shift()) {
        const t0 = performance.now();
        const r = await readerSignIn({ issuer: input.issuer, reader: session.reader, session, images: [input.captures[capture]!], scope: 'openid' });
        latencies.push(performance.now() - t0);
        subs.push({ capture, sub: r.ok ? r.sub! : null, ...(r.ok ? {} : { error: r.error }) });
      }
    }),
  );
  return { latencies, subs, seconds: (performance.now() - started) / 1000 };
}

parentPort!.on('message', (req: RunRequest) => {
  run(req).then(
    (result) => parentPort!.postMessage({ ok: true, result }),
    (err: Error) => parentPort!.postMessage({ ok: false, error: err.stack ?? String(err) }),
  );
});
parentPort!.postMessage({ ready: true });
