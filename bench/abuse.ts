/**
 * Hostile camera frames against a running server: for each kind of frame (a JPEG whose header
 * lies about its size, an interlaced PNG zlib bomb, an honest frame over the camera limits, a
 * JPEG of noise), `--per-kind` frames at once at the browser palm login and as many reader
 * envelopes at the CIBA endpoint, while /healthz is polled and legitimate sign-ins (a browser
 * login and a reader) keep going; a legitimate sign-in told 503 waits Retry-After and tries again.
 *
 *   npm run bench:abuse -- [--per-kind 100] [--db pglite|postgres] [--root DIR] [--json]
 *
 * The server is `palmid serve` from the compiled dist/ of `--root` (this checkout by default;
 * another checkout's root, built, measures that code), in a process of its own, on a fresh
 * database (embedded, or a scratch PostgreSQL database on BENCH_DATABASE_URL / TEST_DATABASE_URL
 * / the local server), with the default configuration: its resident memory is read from
 * /proc/<pid>/status (VmRSS) every 20 ms. All traffic goes to 127.0.0.1; attackers and the
 * legitimate users are told apart by X-Forwarded-For (the server trusts the proxy header here),
 * as they would arrive from different addresses. Reported per kind: the server's peak RSS growth
 * over its RSS just before the burst, /healthz p50/p95/max, legitimate sign-ins ok/total, and the
 * hostile requests' answers by status.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { SignJWT, importJWK, type JWK } from 'jose';
import * as oidc from 'openid-client';
import sharp from 'sharp';
import { UserAgent } from '../test/support/browserless.js';
import { flatJpeg, jpegGarbled, jpegSizeLie, pngZlibBomb } from '../test/palm/hostile.js';
import { percentile } from './gallery.js';

const { values } = parseArgs({
  options: {
    'per-kind': { type: 'string', default: '100' },
    db: { type: 'string', default: 'pglite' },
    root: { type: 'string' },
    json: { type: 'boolean', default: false },
    // Seconds a hostile request may take before it counts as timed out.
    timeout: { type: 'string', default: '120' },
    // The server is stopped if its RSS passes this (MiB): the machine is shared.
    'rss-cap': { type: 'string', default: '8192' },
    // Extra Node.js options for the server process (e.g. --cpu-prof).
    'node-arg': { type: 'string', multiple: true, default: [] },
  },
});
const PER_KIND = Number(values['per-kind']);
const TIMEOUT_MS = Number(values.timeout) * 1000;
const RSS_CAP_MB = Number(values['rss-cap']);
const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(values.root ?? path.join(here, '..'));
const DATA = path.resolve(here, '../../shared/data/palm');
const log = (msg: string) => !values.json && process.stderr.write(`${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The palmid modules of the measured checkout (typed as this checkout's). */
const lib = <T>(p: string): Promise<T> => import(pathToFileURL(path.join(ROOT, 'dist/src', p)).href) as Promise<T>;

interface Reader {
  client_id: string;
  key: JWK;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Tenant, two enrolled people, a relying party with palm sign-in, a gate and a rogue reader. */
async function setUp(env: Record<string, string>) {
  const { loadConfig } = await lib<typeof import('../dist/src/config.js')>('config.js');
  const { startServer } = await lib<typeof import('../dist/src/server.js')>('server.js');
  const { createLogger } = await lib<typeof import('../dist/src/log.js')>('log.js');
  const { addTenant, recordConsent } =
    await lib<typeof import('../dist/src/accounts/tenants.js')>('accounts/tenants.js');
  const { createPerson } = await lib<typeof import('../dist/src/accounts/people.js')>('accounts/people.js');
  const { BiometricContext } = await lib<typeof import('../dist/src/biometrics/context.js')>('biometrics/context.js');
  const { enrolPalm } = await lib<typeof import('../dist/src/biometrics/enrolment.js')>('biometrics/enrolment.js');
  const { addClient } = await lib<typeof import('../dist/src/oidc/clients.js')>('oidc/clients.js');
  const { addReader } = await lib<typeof import('../dist/src/readers/registry.js')>('readers/registry.js');

  const server = await startServer({ config: loadConfig({ ...env, PORT: '0' }), log: createLogger('silent') });
  try {
    const bio = new BiometricContext(server.db, server.master);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    const ana = await createPerson(server.db, { email: 'ana@example.org', role: 'user' });
    await recordConsent(server.db, ana.id, 'office', 1);
    const hand = (s: number) => fs.readFileSync(path.join(DATA, 'coep-hands', `002_0${s}.jpg`));
    await enrolPalm(bio, {
      personId: ana.id,
      tenantId: 'office',
      hand: 'right',
      captures: [hand(1), hand(2)],
      kind: 'hand',
      minCaptures: 2,
    });
    const bo = await createPerson(server.db, { email: 'bo@example.org', role: 'user' });
    await recordConsent(server.db, bo.id, 'office', 1);
    const roi = (s: number) => fs.readFileSync(path.join(DATA, 'tongji-roi', `005_0${s}.bmp`));
    await enrolPalm(bio, {
      personId: bo.id,
      tenantId: 'office',
      hand: 'right',
      captures: [roi(1), roi(2), roi(3)],
      kind: 'roi',
    });
    const { client, clientSecret } = await addClient(server.db, server.provider(), {
      name: 'Office portal',
      redirectUris: ['http://127.0.0.1:9/cb'],
      grantTypes: ['authorization_code'],
      authMethod: 'client_secret_basic',
      subjectType: 'public',
      tenant: 'office',
    });
    const gate = (await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Gate' })) as Reader;
    const rogue = (await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Rogue' })) as Reader;
    return {
      client: { client_id: client.client_id, client_secret: clientSecret },
      gate,
      rogue,
      anaId: ana.id,
      boId: bo.id,
    };
  } finally {
    await server.close();
  }
}

function startPalmid(env: Record<string, string>) {
  const child = spawn(process.execPath, [...values['node-arg'], path.join(ROOT, 'bin/palmid.js'), 'serve'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output: () => output };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

let killedAtCap = false;

/** Samples a process' RSS until stopped; returns the peak. Kills the process past RSS_CAP_MB. */
function rssSampler(pid: number) {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    try {
      const now = rssMb(pid);
      if (Number.isFinite(now)) peak = Math.max(peak, now);
      if (peak > RSS_CAP_MB) {
        if (!killedAtCap) log(`palmid passed ${RSS_CAP_MB} MiB of RSS: stopped`);
        killedAtCap = true;
        process.kill(pid, 'SIGKILL');
      }
    } catch {
      // the process is gone; the failure shows elsewhere
    }
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

/**
 * Polls /healthz every 50 ms until stopped; returns the latencies (ms, failures as Infinity).
 * The poller runs in a worker thread of its own: the attackers and the legitimate sign-ins keep
 * this thread busy (sealing envelopes, parsing answers), which would otherwise be counted as the
 * server's latency.
 */
const HEALTH_POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
const latencies = [];
let running = true;
parentPort.on('message', () => { running = false; });
(async () => {
  while (running) {
    const t0 = performance.now();
    try {
      const r = await fetch(workerData.url, { signal: AbortSignal.timeout(30000) });
      await r.arrayBuffer();
      latencies.push(r.ok ? performance.now() - t0 : Infinity);
    } catch {
      latencies.push(Infinity);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  parentPort.postMessage(latencies);
})();
`;
function healthPoller(base: string) {
  const worker = new Worker(HEALTH_POLLER, { eval: true, workerData: { url: `${base}/healthz` } });
  const result = new Promise<number[]>((resolve, reject) => {
    worker.once('message', (latencies: number[]) => resolve(latencies));
    worker.once('error', reject);
  });
  return {
    stop: async () => {
      worker.postMessage('stop');
      const latencies = await result;
      await worker.terminate();
      return latencies;
    },
  };
}

async function main() {
  if (!fs.existsSync(path.join(DATA, 'coep-hands')) || !fs.existsSync(path.join(DATA, 'tongji-roi')))
    throw new Error(`palm images not found under ${DATA}`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-bench-abuse-'));
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    PALMID_ISSUER: issuer,
    PALMID_DATA_DIR: dataDir,
    PALMID_KEY_STORE: `${dataDir}-keys`,
    PALMID_MASTER_KEY: randomBytes(32).toString('base64'),
    PALMID_TRUST_PROXY: 'true',
    LOG_LEVEL: 'warn',
  };
  let scratch: { url: string; dispose(): Promise<void> } | undefined;
  if (values.db === 'postgres') {
    const { createScratchDatabase } = await import('../dist/src/db/scratchDatabase.js');
    scratch = await createScratchDatabase(
      process.env.BENCH_DATABASE_URL ??
        process.env.TEST_DATABASE_URL ??
        'postgresql://postgres@127.0.0.1:5432/postgres',
      'palmid_abuse',
    );
    env.DATABASE_URL = scratch.url;
  } else if (values.db !== 'pglite') throw new Error('--db pglite or postgres');
  let palmid: ReturnType<typeof startPalmid> | undefined;
  try {
    log(`setting up (${ROOT})…`);
    const setup = await setUp(env);
    palmid = startPalmid(env);
    const pid = palmid.child.pid!;
    for (let i = 0; ; i++) {
      if (palmid.child.exitCode !== null || i > 600) throw new Error(`palmid did not start:\n${palmid.output()}`);
      if (
        await fetch(`${issuer}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await sleep(100);
    }

    const rp = await oidc.discovery(new URL(issuer), setup.client.client_id, setup.client.client_secret, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
    const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    const captureKey = ((await (await fetch(`${issuer}/jwks`)).json()) as { keys: JWK[] }).keys.find(
      (k) => k.use === 'enc',
    )!;
    const { sealEnvelope } = await lib<typeof import('../dist/src/readers/envelope.js')>('readers/envelope.js');

    async function startLogin(address: string) {
      const url = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: 'http://127.0.0.1:9/cb',
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      });
      const agent = new UserAgent();
      const { url: page } = await agent.follow(url.href, issuer, { headers: { 'x-forwarded-for': address } });
      return { agent, uid: /\/interaction\/([^/?#]+)$/.exec(page)![1]!, address };
    }
    const postFrame = (login: { agent: UserAgent; uid: string; address: string }, image: Uint8Array, type: string) =>
      login.agent.fetch(`${issuer}/interaction/${login.uid}/palm`, {
        method: 'POST',
        headers: { 'content-type': type, 'x-forwarded-for': login.address },
        body: new Uint8Array(image),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    async function cibaRequest(reader: Reader, loginHintToken: string, address: string): Promise<Response> {
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: reader.key.kid })
        .setIssuer(reader.client_id)
        .setSubject(reader.client_id)
        .setAudience(issuer)
        .setJti(randomUUID())
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(await importJWK(reader.key, 'ES256'));
      return fetch(meta.backchannel_authentication_endpoint!, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': address },
        body: new URLSearchParams({
          client_id: reader.client_id,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
          scope: 'openid',
          login_hint_token: loginHintToken,
        }).toString(),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    }
    const seal = (reader: Reader, image: Uint8Array, kind: 'roi' | 'hand') =>
      sealEnvelope({
        readerId: reader.client_id,
        issuer,
        readerKey: reader.key,
        captureKey,
        images: [image],
        kind,
        lifetimeSeconds: 50,
      });

    // Legitimate traffic: a person at the login page (Ana), a person at the gate (Bo).
    const anaFrame = await sharp(fs.readFileSync(path.join(DATA, 'coep-hands', '002_03.jpg')))
      .resize({ width: 640 })
      .jpeg({ quality: 85 })
      .toBuffer();
    const boCapture = fs.readFileSync(path.join(DATA, 'tongji-roi', '005_18.bmp'));
    /** One sign-in; a 503 is followed, after Retry-After, by another try (at most 5). */
    async function withRetry(attempt: () => Promise<Response>): Promise<{ ok: boolean; tries: number }> {
      for (let tries = 1; ; tries++) {
        const r = await attempt().catch(() => null);
        await r?.arrayBuffer().catch(() => {});
        if (r?.status === 200) return { ok: true, tries };
        if (r?.status !== 503 || tries >= 5) return { ok: false, tries };
        await sleep(1000 * Number(r.headers.get('retry-after') ?? 1));
      }
    }
    const legitBrowser = async () => {
      const login = await startLogin('10.1.0.1').catch(() => null);
      return login ? withRetry(() => postFrame(login, anaFrame, 'image/jpeg')) : { ok: false, tries: 1 };
    };
    const legitReader = async () =>
      withRetry(async () => cibaRequest(setup.gate, await seal(setup.gate, boCapture, 'roi'), '10.1.0.2'));

    // Hostile frames. Sizes fit the default 64 KiB body limit: what reaches the decoder.
    const kinds: {
      name: string;
      browser: Uint8Array;
      browserType: string;
      reader: Uint8Array;
      readerKind: 'roi' | 'hand';
    }[] = [
      {
        name: 'JPEG size lie (5000x5000)',
        browser: await jpegSizeLie(5000, 5000),
        browserType: 'image/jpeg',
        reader: await jpegSizeLie(5000, 5000, 2),
        readerKind: 'hand',
      },
      {
        name: 'interlaced PNG zlib bomb',
        browser: pngZlibBomb({ width: 512, height: 512, inflatedBytes: 56 << 20, interlaced: true }),
        browserType: 'image/png',
        reader: pngZlibBomb({ width: 512, height: 512, inflatedBytes: 18 << 20, interlaced: true }),
        readerKind: 'hand',
      },
      {
        name: 'over the camera limit (3000x3000)',
        browser: await flatJpeg(3000, 3000),
        browserType: 'image/jpeg',
        reader: await flatJpeg(3000, 3000),
        readerKind: 'hand',
      },
      {
        name: 'malformed (JPEG of noise)',
        browser: await jpegGarbled(960, 720),
        browserType: 'image/jpeg',
        reader: await jpegGarbled(960, 720, 9),
        readerKind: 'hand',
      },
    ];

    // Warm-up: the models load on first use.
    log('warming up…');
    for (let i = 0; i < 3; i++) {
      await legitBrowser();
      await legitReader();
    }
    const idleHealth = healthPoller(issuer);
    await sleep(2000);
    const idle = await idleHealth.stop();
    const rows = [];
    rows.push({
      kind: 'idle (no attack)',
      rssBeforeMb: rssMb(pid),
      peakGrowthMb: 0,
      healthP50: percentile(idle, 50),
      healthP95: percentile(idle, 95),
      healthMax: Math.max(...idle),
      legitOk: 0,
      legitTotal: 0,
      browser: {},
      reader: {},
      seconds: 0,
    });

    for (const kind of kinds) {
      log(
        `${kind.name}: ${PER_KIND} frames at the browser login (${kind.browser.length} B) and ${PER_KIND} envelopes (${kind.reader.length} B image)…`,
      );
      // Everything the attackers send is ready before the burst: interactions (one per 50
      // frames, the per-sign-in frame budget), envelopes.
      const logins = [];
      for (let i = 0; i < Math.ceil(PER_KIND / 50); i++) logins.push(await startLogin(`10.66.0.${i + 1}`));
      const envelopes = await Promise.all(
        [...Array(PER_KIND).keys()].map(() => seal(setup.rogue, kind.reader, kind.readerKind)),
      );
      await sleep(1000);
      const rssBefore = rssMb(pid);
      const rss = rssSampler(pid);
      const health = healthPoller(issuer);
      const t0 = performance.now();
      const tally = (into: Record<string, number>) => (r: Response | null) => {
        const key = r ? String(r.status) : 'timeout/error';
        into[key] = (into[key] ?? 0) + 1;
        return r?.arrayBuffer().catch(() => {});
      };
      const browser: Record<string, number> = {};
      const reader: Record<string, number> = {};
      let attacking = true;
      const attack = Promise.all([
        ...[...Array(PER_KIND).keys()].map((i) =>
          postFrame(
            { ...logins[Math.floor(i / 50)]!, address: `10.66.${i >> 8}.${i & 255}` },
            kind.browser,
            kind.browserType,
          )
            .catch(() => null)
            .then(tally(browser)),
        ),
        ...envelopes.map((e, i) =>
          cibaRequest(setup.rogue, e, `10.67.${i >> 8}.${i & 255}`)
            .catch(() => null)
            .then(tally(reader)),
        ),
      ]).then(() => (attacking = false));
      // Legitimate sign-ins alongside, one at a time, while the burst lasts (two of each at least).
      const legit: boolean[] = [];
      while ((attacking || legit.length < 4) && !killedAtCap) {
        legit.push((await legitBrowser()).ok);
        legit.push((await legitReader()).ok);
      }
      await attack;
      const seconds = (performance.now() - t0) / 1000;
      const healthMs = await health.stop();
      const peak = rss.stop();
      rows.push({
        kind: killedAtCap ? `${kind.name} [KILLED >${RSS_CAP_MB} MB]` : kind.name,
        rssBeforeMb: rssBefore,
        peakGrowthMb: peak - rssBefore,
        healthP50: percentile(healthMs, 50),
        healthP95: percentile(healthMs, 95),
        healthMax: Math.max(...healthMs),
        legitOk: legit.filter(Boolean).length,
        legitTotal: legit.length,
        browser,
        reader,
        seconds,
      });
      if (killedAtCap) break;
      if (palmid.child.exitCode !== null || palmid.child.signalCode !== null)
        throw new Error(`palmid exited:\n${palmid.output()}`);
    }

    const out = { root: ROOT, database: values.db, perKind: PER_KIND, cpus: os.availableParallelism(), rows };
    if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`);
    else {
      const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : 'timeout');
      const statuses = (s: Record<string, number>) =>
        Object.entries(s)
          .sort()
          .map(([k, v]) => `${k}:${v}`)
          .join(' ') || '-';
      process.stdout.write(
        `bench:abuse  ${values.db}  ${PER_KIND} frames per kind at each path (browser login, reader envelope), ${os.availableParallelism()} CPUs, ${ROOT}\n`,
      );
      process.stdout.write(
        `  ${'kind'.padEnd(34)} ${'RSS before'.padStart(10)} ${'peak +MB'.padStart(8)} ${'healthz p50/p95/max ms'.padStart(22)} ${'legit ok'.padStart(8)} ${'phase s'.padStart(7)}  browser statuses | reader statuses\n`,
      );
      for (const r of rows) {
        process.stdout.write(
          `  ${r.kind.padEnd(34)} ${f(r.rssBeforeMb).padStart(10)} ${f(r.peakGrowthMb).padStart(8)} ${`${f(r.healthP50)}/${f(r.healthP95)}/${f(r.healthMax)}`.padStart(22)} ${`${r.legitOk}/${r.legitTotal}`.padStart(8)} ${r.seconds.toFixed(1).padStart(7)}  ${statuses(r.browser)} | ${statuses(r.reader)}\n`,
        );
      }
    }
  } finally {
    if (palmid) {
      palmid.child.kill('SIGTERM');
      const child = palmid.child;
      await new Promise((r) =>
        child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r),
      );
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(`${dataDir}-keys`, { recursive: true, force: true });
    await scratch?.dispose();
  }
}

await main();
