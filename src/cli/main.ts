import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.js';
import { MasterKeyError } from '../crypto/masterKey.js';
import { KeyStoreError } from '../crypto/keyStore.js';
import { DataDirLockedError } from '../db/lock.js';
import { DatabaseError } from '../db/database.js';
import { MigrationError } from '../db/migrate.js';
import { canDelegate, runInServer, socketPath } from './delegate.js';
import { UserError, io } from './output.js';
import fs from 'node:fs';
import * as biometrics from './commands/biometrics.js';
import * as cards from './commands/cards.js';
import * as client from './commands/client.js';
import * as readers from './commands/readers.js';
import * as invite from './commands/invite.js';
import * as keys from './commands/keys.js';
import * as migrate from './commands/migrate.js';
import * as palm from './commands/palm.js';
import * as serve from './commands/serve.js';

/** The `palmid` command. Each command lives in its own module under commands/. */
export function buildProgram(): Command {
  const program = new Command('palmid')
    .description('palmid: a self-hosted OpenID Provider with passkeys and palm sign-in')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io().out(s), writeErr: (s) => io().err(s) });
  for (const command of [serve, migrate, client, invite, keys, biometrics, cards, readers, palm])
    command.register(program);
  return program;
}

const EXPECTED_ERRORS = [
  UserError,
  ConfigError,
  MasterKeyError,
  KeyStoreError,
  DataDirLockedError,
  DatabaseError,
  MigrationError,
];

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof DataDirLockedError && canDelegate(argv) && fs.existsSync(socketPath(err.dataDir))) {
      // `palmid serve` holds the embedded database: let it run the command.
      return runInServer(err.dataDir, argv);
    }
    if (EXPECTED_ERRORS.some((E) => err instanceof E)) {
      // A command that already reported its outcome (e.g. `reader signin` refused) exits non-zero quietly.
      if (!(err as { silent?: boolean }).silent) io().err(`palmid: ${(err as Error).message}\n`);
      return err instanceof UserError ? err.exitCode : 1;
    }
    io().err(`palmid: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
