/**
 * Runtime configuration, read once from the environment. Every variable is documented in
 * .env.example; anything invalid stops start-up with a message naming the variable.
 */
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_HNSW_EF_SEARCH } from './db/database.js';
import { DEFAULT_FRAME_QUEUE } from './biometrics/framePool.js';
import { z } from 'zod';
import { SETUP, errorKind } from './errors.js';

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  PALMID_ISSUER: z.url().optional(),
  PALMID_DATA_DIR: z.string().default('./data'),
  PALMID_KEY_STORE: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
    .optional(),
  PALMID_MASTER_KEY: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PALMID_TRUST_PROXY: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  PALMID_BODY_LIMIT: z.coerce
    .number()
    .int()
    .positive()
    .default(64 * 1024),
  PALMID_DB_POOL_SIZE: z.coerce.number().int().positive().default(10),
  PALMID_HNSW_EF_SEARCH: z.coerce.number().int().min(20).max(1000).default(DEFAULT_HNSW_EF_SEARCH),
  PALMID_FRAME_CONCURRENCY: z.coerce.number().int().min(1).max(1024).optional(),
  PALMID_FRAME_QUEUE: z.coerce.number().int().min(0).max(100_000).default(DEFAULT_FRAME_QUEUE),
  PALMID_NOTIFY_PRIVATE_NETWORKS: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  // 0: any free port (tests).
  PALMID_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  PALMID_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  PALMID_METRICS_TOKEN: z.string().min(32, 'at least 32 characters, e.g. openssl rand -hex 32').optional(),
});

export interface Config {
  port: number;
  host: string;
  /** Public base URL of the provider; no trailing slash. */
  issuer: string;
  /** False when the issuer is the default http://localhost:PORT (then the bound port is used). */
  issuerFromEnv: boolean;
  dataDir: string;
  /**
   * Folder of the bucket key store (and a generated master key file), outside the data folder:
   * <data folder>-keys by default.
   */
  keyStoreDir: string;
  databaseUrl: string | undefined;
  masterKey: string | undefined;
  logLevel: string;
  trustProxy: boolean;
  bodyLimitBytes: number;
  dbPoolSize: number;
  /**
   * pgvector's hnsw.ef_search for palm identification, also the coarse shortlist's length: recall
   * against latency at large galleries.
   */
  hnswEfSearch: number;
  /**
   * Palm sign-in attempts reading camera frames at once (default: the CPUs), and how many may wait;
   * beyond that, 503.
   */
  frameConcurrency: number;
  frameQueue: number;
  /**
   * Let CIBA ping notifications reach private and loopback addresses (readers' controllers on
   * an office or stadium network). Off by default: oidc-provider refuses such targets (SSRF).
   */
  notifyPrivateNetworks: boolean;
  /** Prometheus /metrics: its own port (loopback by default) and/or a bearer token; neither, not served. */
  metrics: { port: number | undefined; host: string; token: string | undefined };
}

/** A bad setting: the operator fixes the environment. */
export class ConfigError extends errorKind(SETUP) {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  const issuer = (e.PALMID_ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  return {
    port: e.PORT,
    host: e.HOST,
    issuer,
    issuerFromEnv: e.PALMID_ISSUER !== undefined,
    dataDir: path.resolve(e.PALMID_DATA_DIR),
    keyStoreDir: path.resolve(e.PALMID_KEY_STORE ?? `${path.resolve(e.PALMID_DATA_DIR)}-keys`),
    databaseUrl: e.DATABASE_URL,
    masterKey: e.PALMID_MASTER_KEY,
    logLevel: e.LOG_LEVEL,
    trustProxy: e.PALMID_TRUST_PROXY,
    bodyLimitBytes: e.PALMID_BODY_LIMIT,
    dbPoolSize: e.PALMID_DB_POOL_SIZE,
    hnswEfSearch: e.PALMID_HNSW_EF_SEARCH,
    frameConcurrency: e.PALMID_FRAME_CONCURRENCY ?? os.availableParallelism(),
    frameQueue: e.PALMID_FRAME_QUEUE,
    notifyPrivateNetworks: e.PALMID_NOTIFY_PRIVATE_NETWORKS,
    metrics: { port: e.PALMID_METRICS_PORT, host: e.PALMID_METRICS_HOST, token: e.PALMID_METRICS_TOKEN },
  };
}

/**
 * palmid itself speaks plain HTTP, so an https issuer means a TLS proxy in front of it. Unless
 * PALMID_TRUST_PROXY says to believe that proxy's X-Forwarded-* headers, palmid sees neither that
 * the browser's connection is secure (admin cookies then go out without `Secure`) nor the
 * sender's address (every client then shares the proxy's for attempt limits and logs).
 */
export function untrustedProxyWarning(config: Pick<Config, 'issuer' | 'trustProxy'>): string | undefined {
  if (config.trustProxy || new URL(config.issuer).protocol !== 'https:') return undefined;
  return (
    `the issuer ${config.issuer} is https but PALMID_TRUST_PROXY is off: behind the TLS proxy this implies, ` +
    "admin cookies are set without Secure and every client shares the proxy's address for attempt limits and logs. " +
    'Set PALMID_TRUST_PROXY=true when the proxy sets X-Forwarded-Proto and X-Forwarded-For ' +
    '(and nothing else can reach palmid directly).'
  );
}
