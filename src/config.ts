import path from 'node:path';
import { DEFAULT_HNSW_EF_SEARCH } from './db/database.js';
import { z } from 'zod';

/**
 * Runtime configuration, read once from the environment. Every variable is documented in
 * .env.example; anything invalid stops start-up with a message naming the variable.
 */
const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  PALMID_ISSUER: z.url().optional(),
  PALMID_DATA_DIR: z.string().default('./data'),
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
  PALMID_BODY_LIMIT: z.coerce.number().int().positive().default(64 * 1024),
  PALMID_DB_POOL_SIZE: z.coerce.number().int().positive().default(10),
  PALMID_HNSW_EF_SEARCH: z.coerce.number().int().min(20).max(1000).default(DEFAULT_HNSW_EF_SEARCH),
  PALMID_NOTIFY_PRIVATE_NETWORKS: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
});

export interface Config {
  port: number;
  host: string;
  /** Public base URL of the provider; no trailing slash. */
  issuer: string;
  /** False when the issuer is the default http://localhost:PORT (then the bound port is used). */
  issuerFromEnv: boolean;
  dataDir: string;
  databaseUrl: string | undefined;
  masterKey: string | undefined;
  logLevel: string;
  trustProxy: boolean;
  bodyLimitBytes: number;
  dbPoolSize: number;
  /** pgvector's hnsw.ef_search for palm identification, also the coarse shortlist's length: recall against latency at large galleries. */
  hnswEfSearch: number;
  /**
   * Let CIBA ping notifications reach private and loopback addresses (readers' controllers on
   * an office or stadium network). Off by default: oidc-provider refuses such targets (SSRF).
   */
  notifyPrivateNetworks: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

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
    databaseUrl: e.DATABASE_URL,
    masterKey: e.PALMID_MASTER_KEY,
    logLevel: e.LOG_LEVEL,
    trustProxy: e.PALMID_TRUST_PROXY,
    bodyLimitBytes: e.PALMID_BODY_LIMIT,
    dbPoolSize: e.PALMID_DB_POOL_SIZE,
    hnswEfSearch: e.PALMID_HNSW_EF_SEARCH,
    notifyPrivateNetworks: e.PALMID_NOTIFY_PRIVATE_NETWORKS,
  };
}
