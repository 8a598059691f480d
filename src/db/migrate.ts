/**
 * Applies prisma/migrations/<name>/migration.sql in order and records each one in Prisma's own
 * `_prisma_migrations` table (same columns, same sha256 checksum), so `prisma migrate deploy`
 * and this runner agree on what has been applied. Running it twice is a no-op.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../paths.js';
import type { Database } from './database.js';
import { SETUP, errorKind } from '../errors.js';

export const defaultMigrationsDir = path.join(packageRoot, 'prisma', 'migrations');

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

export class MigrationError extends errorKind(SETUP) {}

export function readMigrations(dir = defaultMigrationsDir): Migration[] {
  if (!fs.existsSync(dir)) throw new MigrationError(`migrations folder not found: ${dir}`);
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

// Two servers starting at once on one PostgreSQL: the transaction-scoped advisory lock makes the
// second wait for the first; its own attempt then fails and is recognised as already applied.
const LOCK_ID = 72707369;

export async function migrate(db: Database, dir = defaultMigrationsDir): Promise<MigrationResult> {
  const migrations = readMigrations(dir);
  {
    await db.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`);
    let done = await appliedMigrations(db);
    const result: MigrationResult = { applied: [], alreadyApplied: [] };
    for (const m of migrations) {
      const recorded = done.get(m.name);
      if (recorded !== undefined) {
        if (recorded !== m.checksum) {
          throw new MigrationError(`migration ${m.name} was changed after it was applied (checksum differs)`);
        }
        result.alreadyApplied.push(m.name);
        continue;
      }
      try {
        // The migration and its record commit together: a failure leaves no half-applied state.
        const lock = db.kind === 'postgres' ? `SELECT pg_advisory_xact_lock(${LOCK_ID});\n` : '';
        await db.execScript(
          `${lock}${m.sql}\n;INSERT INTO "_prisma_migrations"
             (id, checksum, finished_at, migration_name, applied_steps_count)
           VALUES ('${randomUUID()}', '${m.checksum}', now(), '${m.name.replace(/'/g, "''")}', 1);`,
        );
      } catch (err) {
        done = await appliedMigrations(db);
        if (done.get(m.name) === m.checksum) {
          result.alreadyApplied.push(m.name);
          continue;
        }
        throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      result.applied.push(m.name);
    }
    return result;
  }
}

async function appliedMigrations(db: Database): Promise<Map<string, string>> {
  const rows = await db.query<{ migration_name: string; checksum: string }>(
    `select migration_name, checksum from "_prisma_migrations"
      where rolled_back_at is null and finished_at is not null`,
  );
  return new Map(rows.map((r) => [r.migration_name, r.checksum]));
}
