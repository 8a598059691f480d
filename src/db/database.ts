import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/prisma/client.js';
import { acquireDataDirLock, type DataDirLock } from './lock.js';
import { SETUP, errorKind } from '../errors.js';

export type { PrismaClient };

/** The one handle the rest of palmid gets on the database, whichever engine is behind it. */
export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly prisma: PrismaClient;
  /** hnsw.ef_search of every connection: also the length of stage one's coarse shortlist. */
  readonly hnswEfSearch: number;
  /**
   * Raw SQL with positional parameters ($1, $2, ...), for migrations, pgvector and hot paths.
   * `name` makes it a prepared statement on PostgreSQL (parsed once per connection).
   */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], name?: string): Promise<T[]>;
  /** Several statements in one transaction (a migration file). */
  execScript(sql: string): Promise<void>;
  /** A cheap round trip, for readiness checks. */
  ping(): Promise<void>;
  /**
   * LISTEN on a channel (NOTIFY from any process on the same database reaches it). `onLost` is
   * called if the listening connection drops, so a cache relying on it can stop trusting itself.
   */
  listen(channel: string, onMessage: (payload: string) => void, onLost?: () => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgresql:// URL; without it the embedded PGlite under dataDir is used. */
  url?: string | undefined;
  dataDir: string;
  poolSize?: number;
  /** In-memory PGlite (tests): nothing is written to dataDir. */
  memory?: boolean;
  /** HNSW search list length for palm identification (see DEFAULT_HNSW_EF_SEARCH). */
  hnswEfSearch?: number;
}

/**
 * The HNSW search list for palm identification (PALMID_HNSW_EF_SEARCH), which is also how many
 * references the coarse index shortlists for re-ranking: a longer list finds more right palms and
 * costs latency. The keyed codes' Hamming index (src/biometrics/protection.ts) needs a longer list
 * than the coarse index for every right palm among the candidates, hence 200 (figures in the
 * README, "Development"; `npm run bench:identify -- --db postgres --gallery N --ef-search 100,200`).
 */
export const DEFAULT_HNSW_EF_SEARCH = 200;

/**
 * Session settings for every connection: the HNSW search list, and the iterative index scan so
 * that filters (tenant, consent) do not starve the candidate list.
 */
function sessionSettings(ef: number): Record<string, string> {
  // pgvector accepts 1 to 1000; a bad value must not reach a connection string.
  if (!Number.isInteger(ef) || ef < 1 || ef > 1000)
    throw new DatabaseError(`hnsw.ef_search must be an integer from 1 to 1000, not ${ef}`);
  return { 'hnsw.ef_search': String(ef), 'hnsw.iterative_scan': 'relaxed_order' };
}

export class DatabaseError extends errorKind(SETUP) {}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const ef = options.hnswEfSearch ?? DEFAULT_HNSW_EF_SEARCH;
  return options.url ? openPostgres(options.url, options.poolSize ?? 10, ef) : openPGlite(options, ef);
}

async function openPostgres(url: string, poolSize: number, ef: number): Promise<Database> {
  const settings = sessionSettings(ef);
  const options = Object.entries(settings)
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ');
  const pool = new pg.Pool({ connectionString: url, max: poolSize, options });
  // A dropped idle connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  try {
    await pool.query('select 1');
  } catch (err) {
    await pool.end().catch(() => {});
    throw new DatabaseError(`cannot connect to PostgreSQL: ${(err as Error).message}`);
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    kind: 'postgres',
    prisma,
    hnswEfSearch: ef,
    async query<T>(sql: string, params: unknown[] = [], name?: string) {
      return (await pool.query(name ? { name, text: sql, values: params } : { text: sql, values: params })).rows as T[];
    },
    async execScript(sql: string) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(sql);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async ping() {
      await pool.query('select 1');
    },
    async listen(channel, onMessage, onLost) {
      const client = new pg.Client({ connectionString: url });
      let closed = false;
      client.on('notification', (msg) => msg.channel === channel && onMessage(msg.payload ?? ''));
      client.on('error', () => {
        if (!closed) onLost?.();
      });
      client.on('end', () => {
        if (!closed) onLost?.();
      });
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      return async () => {
        closed = true;
        await client.end().catch(() => {});
      };
    },
    async notify(channel, payload) {
      await pool.query('select pg_notify($1, $2)', [channel, payload]);
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

/**
 * PGlite runs each statement on this thread, and hands its lock to the next queued statement
 * without a turn of the event loop in between: a burst of requests that queue hundreds of
 * statements would hold every other request (health checks included) until the queue drains.
 * Each statement first waits for the event loop's next check phase, so I/O that arrived
 * meanwhile is served between statements.
 */
function yieldBeforeEachStatement(pglite: PGlite): void {
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  const query = pglite.query.bind(pglite);
  const exec = pglite.exec.bind(pglite);
  const transaction = pglite.transaction.bind(pglite);
  Object.assign(pglite, {
    query: async (...args: Parameters<typeof query>) => {
      await turn();
      return query(...args);
    },
    exec: async (...args: Parameters<typeof exec>) => {
      await turn();
      return exec(...args);
    },
    transaction: async (...args: Parameters<typeof transaction>) => {
      await turn();
      return transaction(...args);
    },
  });
}

async function openPGlite(options: DatabaseOptions, ef: number): Promise<Database> {
  const settings = sessionSettings(ef);
  let lock: DataDirLock | undefined;
  let pglite: PGlite;
  if (options.memory) {
    pglite = await PGlite.create({ extensions: { vector } });
  } else {
    const dir = path.join(options.dataDir, 'pglite');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // PGlite is single-process: a second process opening the same folder would corrupt it.
    lock = acquireDataDirLock(options.dataDir);
    try {
      pglite = await PGlite.create({ dataDir: dir, extensions: { vector } });
    } catch (err) {
      lock.release();
      throw new DatabaseError(`cannot open the embedded database in ${dir}: ${(err as Error).message}`);
    }
  }
  for (const [k, v] of Object.entries(settings)) await pglite.query(`SET ${k} = '${v}'`);
  yieldBeforeEachStatement(pglite);
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    kind: 'pglite',
    prisma,
    hnswEfSearch: ef,
    async query<T>(sql: string, params: unknown[] = []) {
      return (await pglite.query(sql, params)).rows as T[];
    },
    async execScript(sql: string) {
      await pglite.transaction(async (tx) => {
        await tx.exec(sql);
      });
    },
    async ping() {
      await pglite.query('select 1');
    },
    async listen(channel, onMessage) {
      const unlisten = await pglite.listen(channel, onMessage);
      return async () => {
        await unlisten().catch(() => {});
      };
    },
    async notify(channel, payload) {
      await pglite.query('select pg_notify($1, $2)', [channel, payload]);
    },
    async close() {
      await prisma.$disconnect();
      await pglite.close();
      lock?.release();
    },
  };
}
