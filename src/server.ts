import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import { purgeExpiredPayloads } from '../adapters/oidc-adapter.js';
import { countAdministrators } from './accounts/people.js';
import { invitationUrl, issueSetupInvitation } from './accounts/invitations.js';
import { untrustedProxyWarning, type Config } from './config.js';
import type { MasterKey } from './crypto/masterKey.js';
import { openInstallationKeys } from './installation.js';
import { SigningKeyStore } from './crypto/signingKeys.js';
import { openDatabase, type Database } from './db/database.js';
import { migrate } from './db/migrate.js';
import { createApp } from './http/app.js';
import { Metrics, startMetricsServer } from './http/metrics.js';
import { createLogger, type Logger } from './log.js';
import { ClientCache } from './clients/cache.js';
import { createProvider } from './oidc/provider.js';
import { purgeExpiredChallenges } from './webauthn/challenges.js';
import { purgeExpiredAttempts } from './throttling/attemptLimits.js';
import { purgeUnusedPalmData } from './biometrics/lifecycle.js';
import { BiometricContext } from './biometrics/context.js';
import { referencesOfOtherModels, tenantsToConvert } from './biometrics/references.js';
import { loadManifest } from './palm/index.js';
import { cibaFeature, purgeEnvelopeReplays } from './readers/ciba.js';
import { admitCaptures } from './readers/frameAdmission.js';
import { FramePool } from './biometrics/framePool.js';
import { relyingPartyFor } from './webauthn/relyingParty.js';

export interface RunningServer {
  url: string;
  issuer: string;
  db: Database;
  master: MasterKey;
  /** The one-time link for the first administrator, when none exists yet. */
  setupLink: string | undefined;
  /** The metrics listener's base URL, when PALMID_METRICS_PORT is set. */
  metricsUrl?: string;
  provider(): Provider;
  /** Re-reads signing keys now (normally polled). */
  reloadKeys(): Promise<boolean>;
  close(): Promise<void>;
}

export interface ServerOptions {
  config: Config;
  log?: Logger;
  /** Use an already opened database (tests). */
  db?: Database;
  /** Print the setup link to stderr (the CLI does; tests read it from the result). */
  printSetupLink?: boolean;
  /** How often to purge expired rows and look for rotated keys. */
  maintenanceIntervalMs?: number;
  /** Outgoing requests of the provider (CIBA pings); tests pass one that trusts their own CA. */
  fetch?: typeof fetch;
}

/**
 * Starts palmid: database (migrated), master key, signing keys, provider, HTTP server. The HTTP
 * server listens first so that, with PORT=0, the issuer can name the port actually bound.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config } = options;
  const log = options.log ?? createLogger(config.logLevel);
  const db =
    options.db ??
    (await openDatabase({
      url: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.dbPoolSize,
      hnswEfSearch: config.hnswEfSearch,
    }));
  const ownsDb = !options.db;
  let server: http.Server | undefined;
  try {
    const migrations = await migrate(db);
    if (migrations.applied.length) log.info({ applied: migrations.applied }, 'database migrated');

    // The key store wrapping people's data keys, in agreement with the database before anything reads them.
    const master = await openInstallationKeys(config, db, log);
    const bio = new BiometricContext(db, master);
    const keyStore = new SigningKeyStore(db, master);
    await keyStore.ensureActiveKeys();

    const httpServer = http.createServer({ requestTimeout: 30_000, headersTimeout: 15_000 });
    server = httpServer;
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(config.port, config.host, () => resolve());
    });
    const port = (httpServer.address() as AddressInfo).port;
    const issuer = config.issuerFromEnv ? config.issuer : `http://localhost:${port}`;

    const metrics = new Metrics();
    let keys = await keyStore.load();
    const frames = new FramePool({ concurrency: config.frameConcurrency, queue: config.frameQueue });
    const ciba = admitCaptures(cibaFeature({ bio, issuer, captureKeys: () => keys.capture }), frames);
    const clientCache = await ClientCache.start(db);
    const build = () => {
      const p = createProvider({
        issuer,
        db,
        clientCache,
        master,
        signingKeys: keys.signing,
        trustProxy: config.trustProxy,
        ciba,
        notifyPrivateNetworks: config.notifyPrivateNetworks,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
      for (const event of [
        'grant.success',
        'grant.error',
        'server_error',
        'authorization.error',
        'backchannel.error',
      ] as const) {
        (p.on as (e: string, l: (...args: unknown[]) => void) => void)(event, (_ctx: unknown, err?: unknown) => {
          metrics.oidcEvents.inc({ event });
          if (event === 'server_error') log.error({ err }, 'oidc-provider server error');
        });
      }
      return p;
    };
    let provider = build();
    const reloadKeys = async () => {
      const next = await keyStore.load();
      if (next.version === keys.version) return false;
      keys = next;
      provider = build();
      log.info({ kids: keys.keys.map((k) => k.kid) }, 'signing keys reloaded');
      return true;
    };

    let shuttingDown = false;
    const app = createApp({
      db,
      bio,
      frames,
      log,
      rp: relyingPartyFor(issuer),
      issuer,
      cookieKeys: [master.derive('admin-cookies').toString('base64url')],
      provider: () => provider,
      jwks: () => keys.publicJwks,
      metrics,
      metricsExposure: config.metrics,
      bodyLimitBytes: config.bodyLimitBytes,
      trustProxy: config.trustProxy,
      isShuttingDown: () => shuttingDown,
    });
    httpServer.on('request', app.callback());

    let setupLink: string | undefined;
    if ((await countAdministrators(db)) === 0) {
      const invitation = await issueSetupInvitation(db);
      setupLink = invitationUrl(issuer, invitation.token);
      if (options.printSetupLink) {
        process.stderr.write(
          "\nNo administrator yet. Open this one-time link to register the first administrator's passkey\n" +
            `(valid until ${invitation.expiresAt.toISOString()}):\n\n  ${setupLink}\n\n`,
        );
      }
      log.info({ expiresAt: invitation.expiresAt }, 'first-administrator setup link issued');
    }

    let lastRetentionRun = 0;
    const maintenance = setInterval(() => {
      void (async () => {
        try {
          // Retention: palm data unused for a tenant's retention period is deleted (hourly check).
          if (Date.now() - lastRetentionRun > 3_600_000) {
            lastRetentionRun = Date.now();
            for (const purge of await purgeUnusedPalmData(bio)) log.info(purge, 'palm data past retention deleted');
          }
          const purged = await purgeExpiredPayloads(db, 60);
          await purgeEnvelopeReplays(db);
          await purgeExpiredChallenges(db);
          await purgeExpiredAttempts(db);
          if (purged) log.debug({ purged }, 'expired OIDC rows purged');
          await reloadKeys();
        } catch (err) {
          log.warn({ err }, 'maintenance failed');
        }
      })();
    }, options.maintenanceIntervalMs ?? 60_000);
    maintenance.unref();

    const { port: metricsPort } = config.metrics;
    const metricsServer =
      metricsPort === undefined
        ? undefined
        : await startMetricsServer(metrics, { ...config.metrics, port: metricsPort });
    if (metricsServer)
      log.info(
        { url: `${metricsServer.url}/metrics`, token: config.metrics.token !== undefined },
        'metrics served on their own port',
      );
    else if (config.metrics.token) log.info({ token: true }, 'metrics served at /metrics with the bearer token');
    else log.info('metrics are not served: set PALMID_METRICS_PORT and/or PALMID_METRICS_TOKEN');
    const proxyWarning = untrustedProxyWarning({ issuer, trustProxy: config.trustProxy });
    if (proxyWarning) log.warn(proxyWarning);

    log.info({ issuer, port, database: db.kind }, 'palmid listening');
    // Counting references by model reads the whole table: not on the start-up path.
    const model = loadManifest().models[0]!;
    const current = `${model.name}@${model.version}`;
    referencesOfOtherModels(db, current).then(
      (stale) => {
        for (const s of stale)
          log.warn(
            { ...s, current },
            'palm references made by another model are found by no search: those people must enrol again',
          );
      },
      (err: unknown) => log.warn({ err }, 'could not count palm references of other models'),
    );
    tenantsToConvert(db).then(
      (tenants) => {
        for (const t of tenants)
          log.warn(
            { tenant: t.id, references: t.references },
            "this tenant's palm references are stored under the old linear transform, which known palms give away: " +
              'run `palmid tenant rekey` to convert them',
          );
      },
      (err: unknown) => log.warn({ err }, 'could not check tenant template protection'),
    );

    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        shuttingDown = true;
        clearInterval(maintenance);
        await new Promise<void>((resolve) => {
          httpServer.close(() => resolve());
          httpServer.closeIdleConnections();
          // In-flight requests get a grace period, then the rest are cut.
          setTimeout(() => httpServer.closeAllConnections(), 10_000).unref();
        });
        await metricsServer?.close();
        await clientCache.close();
        if (ownsDb) await db.close();
        log.info('palmid stopped');
      })());

    return {
      url: `http://127.0.0.1:${port}`,
      issuer,
      db,
      master,
      setupLink,
      ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
      provider: () => provider,
      reloadKeys,
      close,
    };
  } catch (err) {
    server?.close();
    if (ownsDb) await db.close().catch(() => {});
    throw err;
  }
}
