import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createTestDatabase, TEST_MASTER_KEY, type TestDatabase, type TestDatabaseKind } from './server.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export const ENV_KEYS = [
  'PALMID_DATA_DIR',
  'PALMID_MASTER_KEY',
  'DATABASE_URL',
  'LOG_LEVEL',
  'PALMID_ISSUER',
  'PORT',
] as const;

/** Runs `palmid <args>` in this process with the given environment, capturing its output. */
export async function palmid(env: Partial<Record<(typeof ENV_KEYS)[number], string>>, ...args: string[]): Promise<Run> {
  const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) {
    if (env[k] === undefined) delete process.env[k];
    else process.env[k] = env[k];
  }
  let stdout = '';
  let stderr = '';
  const capture =
    (append: (s: string) => void) =>
    (chunk: string | Uint8Array, ...rest: unknown[]) => {
      append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture((s) => (stdout += s)) as never);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture((s) => (stderr += s)) as never);
  try {
    const code = await main(['node', 'palmid', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

export interface CliEnvironment {
  /** The embedded database's folder (PALMID_DATA_DIR); siblings named after it are removed too. */
  dataDir: string;
  env: Record<string, string>;
  /** On PostgreSQL, the database of its own that the commands use. */
  testDb: TestDatabase | undefined;
}

/** A fresh data folder and the command's environment for `kind`; PostgreSQL gets a database of its own. */
export async function createCliEnvironment(
  kind: TestDatabaseKind,
  options: { tmpPrefix: string; port: string; logLevel?: string },
): Promise<CliEnvironment> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), options.tmpPrefix));
  const env: Record<string, string> = {
    PALMID_DATA_DIR: dataDir,
    LOG_LEVEL: options.logLevel ?? 'warn',
    PORT: options.port,
  };
  let testDb: TestDatabase | undefined;
  if (kind.name === 'postgres') {
    testDb = await createTestDatabase(kind);
    env.DATABASE_URL = testDb.url!;
    env.PALMID_MASTER_KEY = TEST_MASTER_KEY;
  }
  return { dataDir, env, testDb };
}

/** Disposes of the database and removes the data folder with every sibling named after it (key store, files). */
export async function removeCliEnvironment(cli: Pick<CliEnvironment, 'dataDir' | 'testDb'>): Promise<void> {
  await cli.testDb?.dispose();
  if (!cli.dataDir) return;
  const parent = path.dirname(cli.dataDir);
  for (const f of fs.readdirSync(parent))
    if (f.startsWith(path.basename(cli.dataDir))) fs.rmSync(path.join(parent, f), { recursive: true, force: true });
}
