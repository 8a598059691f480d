import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { createScratchDatabase } from '../../src/db/scratchDatabase.js';
import { createLogger } from '../../src/log.js';
import { addClient, type NewClient } from '../../src/oidc/clients.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server.js';

/**
 * Every database-backed suite runs on the embedded PGlite, and also on PostgreSQL when
 * TEST_DATABASE_URL is set (each run in a database of its own, dropped afterwards).
 */
export interface TestDatabaseKind {
  name: 'pglite' | 'postgres';
  url?: string;
}

export const databaseKinds: TestDatabaseKind[] = [
  { name: 'pglite' },
  ...(process.env.TEST_DATABASE_URL ? [{ name: 'postgres' as const, url: process.env.TEST_DATABASE_URL }] : []),
];

export interface TestDatabase {
  db: Database;
  url: string | undefined;
  dispose(): Promise<void>;
}

export async function createTestDatabase(kind: TestDatabaseKind): Promise<TestDatabase> {
  if (kind.name === 'pglite') {
    const db = await openDatabase({ memory: true, dataDir: os.tmpdir() });
    return { db, url: undefined, dispose: () => db.close() };
  }
  return createScratchDatabase(kind.url!, 'palmid_test');
}

/**
 * For the enclosing describe: a migrated database of `kind`, disposed of after it. The getter
 * gives it once beforeAll has run.
 */
export function useMigratedDatabase(kind: TestDatabaseKind): () => TestDatabase {
  let testDb: TestDatabase | undefined;
  beforeAll(async () => {
    testDb = await createTestDatabase(kind);
    await migrate(testDb.db);
  });
  afterAll(async () => {
    await testDb?.dispose();
  });
  return () => testDb!;
}

export interface TestServer extends RunningServer {
  dataDir: string;
  addClient(
    input: Partial<NewClient> & { name?: string },
  ): Promise<{ client_id: string; client_secret: string | undefined }>;
  stop(): Promise<void>;
}

export const TEST_MASTER_KEY = randomBytes(32).toString('base64');

export async function startTestServer(
  kind: TestDatabaseKind,
  env: Record<string, string> = {},
  options: Pick<ServerOptions, 'fetch'> = {},
): Promise<TestServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-test-'));
  const testDb = await createTestDatabase(kind);
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    PALMID_DATA_DIR: dataDir,
    PALMID_MASTER_KEY: TEST_MASTER_KEY,
    LOG_LEVEL: 'silent',
    ...(testDb.url ? { DATABASE_URL: testDb.url } : {}),
    ...env,
  });
  // Without PALMID_ISSUER the issuer is http://localhost:<bound port>: a name browsers and
  // WebAuthn accept as a secure context.
  const server = await startServer({ config, db: testDb.db, log: createLogger('silent'), ...options });
  const provider = server.provider;
  return {
    ...server,
    dataDir,
    async addClient(input) {
      const { client, clientSecret } = await addClient(testDb.db, provider(), {
        name: input.name ?? 'Test RP',
        redirectUris: input.redirectUris ?? ['http://127.0.0.1:9/cb'],
        postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
        grantTypes: input.grantTypes ?? ['authorization_code', 'refresh_token'],
        authMethod: input.authMethod ?? 'client_secret_basic',
        subjectType: input.subjectType ?? 'public',
        ...(input.exchangeAudiences ? { exchangeAudiences: input.exchangeAudiences } : {}),
        ...(input.exchangeScopes ? { exchangeScopes: input.exchangeScopes } : {}),
        ...(input.exchangeSubjectClients ? { exchangeSubjectClients: input.exchangeSubjectClients } : {}),
        ...(input.tenant ? { tenant: input.tenant } : {}),
        ...(input.requirePad ? { requirePad: true } : {}),
      });
      return { client_id: client.client_id, client_secret: clientSecret };
    },
    async stop() {
      await server.close();
      await testDb.dispose();
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(`${dataDir}-keys`, { recursive: true, force: true }); // the default key store folder
    },
  };
}
