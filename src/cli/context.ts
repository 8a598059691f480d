import { AsyncLocalStorage } from 'node:async_hooks';
import { loadConfig, type Config } from '../config.js';
import type { MasterKey } from '../crypto/masterKey.js';
import { openInstallationKeys } from '../installation.js';
import { SigningKeyStore } from '../crypto/signingKeys.js';
import { openDatabase, type Database } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { findPersonByEmail } from '../accounts/people.js';
import { UserError } from './output.js';
import { createLogger } from '../log.js';
import type { Provider } from '../oidc/provider.js';

/**
 * What a one-shot command needs, found the way `serve` finds it (PALMID_DATA_DIR, DATABASE_URL,
 * PALMID_MASTER_KEY, PORT, PALMID_ISSUER). The schema is brought up to date first.
 */
export interface CommandContext {
  config: Config;
  db: Database;
  master: MasterKey;
  keys: SigningKeyStore;
  /** A provider built like the server's, for validating client metadata. */
  provider(): Promise<Provider>;
}

/** Set while `palmid serve` runs a command for another process: use the server's database. */
export const serverContext = new AsyncLocalStorage<CommandContext>();

export async function withContext<T>(fn: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const shared = serverContext.getStore();
  if (shared) return fn(shared);
  const config = loadConfig();
  const db = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: 2,
    hnswEfSearch: config.hnswEfSearch,
  });
  try {
    await migrate(db);
    // A generated master key file is worth a warning: the operator must know it exists.
    const log = createLogger(config.logLevel, process.stderr);
    // Commands that touch palm data use the installation's key store, as the server does.
    const master = await openInstallationKeys(config, db, log);
    const keys = new SigningKeyStore(db, master);
    return await fn({
      config,
      db,
      master,
      keys,
      async provider() {
        await keys.ensureActiveKeys();
        const { signing: jwks } = await keys.load();
        // Loaded on demand: only `client add` needs oidc-provider, and importing it has a cost.
        const [{ createProvider }, { cibaFeature }, { BiometricContext }] = await Promise.all([
          import('../oidc/provider.js'),
          import('../readers/ciba.js'),
          import('../biometrics/context.js'),
        ]);
        const ciba = cibaFeature({
          bio: new BiometricContext(db, master),
          issuer: config.issuer,
          captureKeys: () => [],
        });
        return createProvider({
          issuer: config.issuer,
          db,
          master,
          signingKeys: jwks,
          trustProxy: config.trustProxy,
          ciba,
        });
      },
    });
  } finally {
    await db.close();
  }
}

/** The person a command names by email, or a clear error. */
export async function personByEmail(ctx: CommandContext, email: string) {
  const person = await findPersonByEmail(ctx.db, email);
  if (!person)
    throw new UserError(`no person with email ${email} (add them first: palmid person add --email ${email})`);
  return person;
}

/**
 * One line from standard input, for secrets (card numbers, PINs) that must not appear on the
 * command line, in shell history or in the process list.
 */
export async function readSecretLine(prompt: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(`${prompt}: `);
  let data = '';
  for await (const chunk of process.stdin) {
    data += chunk;
    if (data.includes('\n') || data.length > 64) break;
  }
  return data.split('\n')[0]!.trim();
}
