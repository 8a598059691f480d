/**
 * Token endpoint throughput: client-credentials token issuance under concurrent load, side by
 * side for palmid on PGlite, palmid on PostgreSQL and a bare oidc-provider (its default in-memory
 * adapter, one static client with a plain secret) as the ceiling.
 *
 *   npm run bench:oidc -- [--duration 10] [--connections 20] [--warmup 2] [--json] [--only pglite,postgres,ceiling]
 *
 * It runs the compiled code in dist/ (the npm script builds first), as `npm start` does.
 * The servers run in this process; the load (autocannon) runs in a forked child process, so the
 * load generator does not share the servers' event loop. Latencies are recorded per request in
 * the child and p50/p95/p99 are exact. PostgreSQL comes from BENCH_DATABASE_URL or
 * TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres): a fresh database is
 * created and dropped afterwards; the target is skipped with a note when it cannot be reached.
 * PGlite runs in memory (nothing written to disk).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface LoadRequest {
  url: string;
  authorization: string;
  connections: number;
  duration: number;
  warmup: number;
  /** Only load the server (warm-up): no latencies kept. */
  warmupOnly?: boolean;
}

interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  /** CPU time of this process (the server, and PGlite when embedded) per measured request. */
  serverCpuMsPerRequest?: number;
}

interface TargetResult extends Partial<LoadResult> {
  target: string;
  database?: string;
  skipped?: string;
  ratioToCeiling?: number;
}

const BODY = 'grant_type=client_credentials';

type AutocannonRun = Promise<{
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches?: number;
}> & {
  on(
    event: 'response',
    listener: (client: unknown, status: number, bytes: number, responseTimeMs: number) => void,
  ): void;
};
type Autocannon = (options: Record<string, unknown>) => AutocannonRun;

// ---------------------------------------------------------------------------------------------
// Child process: the load generator.
// ---------------------------------------------------------------------------------------------

async function runLoad(req: LoadRequest): Promise<LoadResult> {
  // autocannon ships no types; the little used here is typed by hand.
  const specifier = 'autocannon';
  const { default: autocannon } = (await import(specifier)) as { default: Autocannon };
  const base = {
    url: req.url,
    method: 'POST' as const,
    headers: { authorization: req.authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: BODY,
    connections: req.connections,
    // A 200 without an access token counts as a mismatch.
    verifyBody: (body: string) => body.includes('"access_token"'),
  };
  if (req.warmupOnly) {
    await autocannon({ ...base, duration: req.warmup });
    return {
      requests: 0,
      seconds: 0,
      rps: 0,
      p50: NaN,
      p95: NaN,
      p99: NaN,
      max: NaN,
      non2xx: 0,
      errors: 0,
      timeouts: 0,
      mismatches: 0,
    };
  }

  const latencies: number[] = [];
  const instance = autocannon({ ...base, duration: req.duration });
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
  });
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]! : NaN;
  const seconds = result.duration;
  return {
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50: pct(50),
    p95: pct(95),
    p99: pct(99),
    max: latencies.at(-1) ?? NaN,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    mismatches: result.mismatches ?? 0,
  };
}

if (process.argv.includes('--load-child')) {
  process.once('message', (msg) => {
    runLoad(msg as LoadRequest).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (err: unknown) => process.send!({ error: String((err as Error)?.stack ?? err) }, () => process.exit(1)),
    );
  });
} else {
  await main();
}

function loadInChild(req: LoadRequest): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    // The child needs tsx (inherited) but not a CPU profiler or inspector meant for the servers.
    const execArgv = process.execArgv.filter((a) => !/^--(cpu-prof|heap-prof|inspect)/.test(a));
    const child = fork(fileURLToPath(import.meta.url), ['--load-child'], {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let done = false;
    child.once('message', (msg: { result?: LoadResult; error?: string }) => {
      done = true;
      if (msg.result) resolve(msg.result);
      else reject(new Error(`load generator failed: ${msg.error}`));
    });
    child.once('exit', (code) => {
      if (!done) reject(new Error(`load generator exited with ${code}`));
    });
    child.send(req);
  });
}

// ---------------------------------------------------------------------------------------------
// Parent: the servers.
// ---------------------------------------------------------------------------------------------

function basic(clientId: string, secret: string): string {
  // RFC 6749 §2.3.1: form-urlencode each part before base64.
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString('base64')}`;
}

interface Target {
  url: string;
  authorization: string;
  database?: string;
  close(): Promise<void>;
}

async function startPalmid(databaseUrl: string | undefined): Promise<Target> {
  const [{ loadConfig }, { openDatabase }, { createLogger }, { addClient }, { startServer }] = await Promise.all([
    import('../dist/src/config.js'),
    import('../dist/src/db/database.js'),
    import('../dist/src/log.js'),
    import('../dist/src/oidc/clients.js'),
    import('../dist/src/server.js'),
  ]);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-bench-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    PALMID_DATA_DIR: dataDir,
    PALMID_MASTER_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'silent',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const db = await openDatabase({ url: databaseUrl, dataDir, memory: !databaseUrl, poolSize: config.dbPoolSize });
  const server = await startServer({ config, db, log: createLogger('silent') });
  const { client, clientSecret } = await addClient(db, server.provider(), {
    name: 'Bench service',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    authMethod: 'client_secret_basic',
    subjectType: 'public',
  });
  return {
    url: `${server.url}/token`,
    authorization: basic(client.client_id, clientSecret!),
    database: databaseUrl ? `postgresql (pool ${config.dbPoolSize})` : 'pglite (in memory)',
    async close() {
      await server.close();
      await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startCeiling(): Promise<Target> {
  const [{ default: Provider }, { TTL }] = await Promise.all([
    import('oidc-provider'),
    import('../dist/src/oidc/policy.js'),
  ]);
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const clientId = 'bench-ceiling';
  const secret = randomBytes(32).toString('base64url');
  const provider = new Provider(`http://localhost:${port}`, {
    clients: [
      {
        client_id: clientId,
        client_secret: secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
    ttl: { ClientCredentials: TTL.ClientCredentials },
  });
  server.on('request', provider.callback());
  return {
    url: `http://127.0.0.1:${port}/token`,
    authorization: basic(clientId, secret),
    database: 'memory (oidc-provider default adapter)',
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function createPostgresDatabase(
  baseUrl: string,
): Promise<{ url: string; drop(): Promise<void> } | { skipped: string }> {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: baseUrl, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    return { skipped: `PostgreSQL at ${redact(baseUrl)} unreachable (${(err as Error).message})` };
  }
  const name = `palmid_bench_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** One request by hand first: fail loudly if the target does not issue tokens at all. */
async function probe(target: Target): Promise<void> {
  const response = await fetch(target.url, {
    method: 'POST',
    headers: { authorization: target.authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: BODY,
  });
  const body = (await response.json().catch(() => ({}))) as { access_token?: string };
  if (response.status !== 200 || !body.access_token)
    throw new Error(`${target.url} answered ${response.status} ${JSON.stringify(body)}`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '2' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const warmup = Number(values.warmup);
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  const say = (line: string) => process.stderr.write(`${line}\n`);

  const pgBase =
    process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  say(
    `bench:oidc — POST /token client_credentials (client_secret_basic), ${connections} connections, ${warmup}s warm-up + ${duration}s each`,
  );
  say(
    `host: ${os.cpus().length} CPUs, load average before the run ${load}${os.loadavg()[0]! > os.cpus().length * 0.5 ? ' (busy: figures are noisy)' : ''}; node ${process.version}`,
  );

  const plan: { name: string; start: () => Promise<Target | { skipped: string }> }[] = [
    { name: 'ceiling', start: startCeiling },
    { name: 'pglite', start: () => startPalmid(undefined) },
    {
      name: 'postgres',
      start: async () => {
        const created = await createPostgresDatabase(pgBase);
        if ('skipped' in created) return created;
        try {
          const target = await startPalmid(created.url);
          return {
            ...target,
            async close() {
              await target.close();
              await created.drop();
            },
          };
        } catch (err) {
          await created.drop();
          throw err;
        }
      },
    },
  ];

  const results: TargetResult[] = [];
  for (const step of plan) {
    if (only && !only.has(step.name)) continue;
    const target = await step.start();
    if ('skipped' in target) {
      say(`${step.name}: skipped — ${target.skipped}`);
      results.push({ target: step.name, skipped: target.skipped });
      continue;
    }
    try {
      await probe(target);
      say(`${step.name}: measuring ${target.url} (${target.database})…`);
      const load = { url: target.url, authorization: target.authorization, connections, duration, warmup };
      if (warmup > 0) await loadInChild({ ...load, warmupOnly: true });
      const cpu = process.cpuUsage();
      const r = await loadInChild(load);
      const used = process.cpuUsage(cpu);
      r.serverCpuMsPerRequest = r.requests ? (used.user + used.system) / 1000 / r.requests : undefined;
      results.push({ target: step.name, database: target.database, ...r });
    } finally {
      await target.close();
    }
  }

  const ceiling = results.find((r) => r.target === 'ceiling' && r.rps);
  for (const r of results) if (ceiling?.rps && r.rps) r.ratioToCeiling = r.rps / ceiling.rps;

  const failures = results.filter(
    (r) => !r.skipped && ((r.non2xx ?? 0) > 0 || (r.errors ?? 0) > 0 || (r.mismatches ?? 0) > 0 || !r.requests),
  );
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ connections, durationSeconds: duration, warmupSeconds: warmup, cpus: os.cpus().length, loadAverageBefore: os.loadavg(), node: process.version, results }, null, 2)}\n`,
    );
  } else {
    const f = (n: number | undefined, d = 1) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(d));
    const rows = [
      [
        'target',
        'database',
        'req/s',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'max ms',
        'requests',
        'non-2xx',
        'errors',
        'CPU ms/req',
        '× ceiling',
      ],
      ...results.map((r) =>
        r.skipped
          ? [r.target, `skipped: ${r.skipped}`]
          : [
              r.target,
              r.database ?? '',
              f(r.rps, 0),
              f(r.p50, 2),
              f(r.p95, 2),
              f(r.p99, 2),
              f(r.max, 1),
              String(r.requests),
              String(r.non2xx),
              String((r.errors ?? 0) + (r.mismatches ?? 0)),
              f(r.serverCpuMsPerRequest, 2),
              f(r.ratioToCeiling, 2),
            ],
      ),
    ];
    const widths = rows[0]!.map((_, i) =>
      Math.max(...rows.filter((row) => row.length > 2).map((row) => (row[i] ?? '').length)),
    );
    for (const row of rows) {
      process.stdout.write(
        `${row.length > 2 ? row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ') : row.join('  ')}\n`,
      );
    }
  }
  if (!values.json) {
    say(
      "CPU ms/req: CPU time of the bench process (the server, and PGlite where embedded) per measured request; PostgreSQL's own CPU is not included. Latencies are exact per-request percentiles.",
    );
  }
  if (failures.length) {
    say(
      `FAILED: ${failures.map((r) => `${r.target} (non-2xx ${r.non2xx}, errors ${r.errors}, bodies without access_token ${r.mismatches}, requests ${r.requests})`).join('; ')}`,
    );
    process.exitCode = 1;
  }
}
