import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { openDatabase, type Database } from './database.js';

/**
 * A throwaway PostgreSQL database next to `baseUrl` (tests and benchmarks): created empty under
 * a random name, dropped (even with connections left open) by dispose().
 */
export interface ScratchDatabase {
  db: Database;
  url: string;
  dispose(): Promise<void>;
}

export async function createScratchDatabase(baseUrl: string, prefix: string, poolSize = 10): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: baseUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const db = await openDatabase({ url: url.toString(), dataDir: os.tmpdir(), poolSize });
  return {
    db,
    url: url.toString(),
    async dispose() {
      await db.close();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
