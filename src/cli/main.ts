import { Command, CommanderError } from 'commander';
import { DataDirLockedError } from '../db/lock.js';
import { PalmidError } from '../errors.js';
import { canDelegate, runInServer, socketPath } from './delegate.js';
import { UserError, io } from './output.js';
import fs from 'node:fs';
import * as auditLog from './commands/audit.js';
import * as biometrics from './commands/biometrics.js';
import * as cards from './commands/cards.js';
import * as client from './commands/client.js';
import * as health from './commands/health.js';
import * as readers from './commands/readers.js';
import * as requests from './commands/requests.js';
import * as invite from './commands/invite.js';
import * as keys from './commands/keys.js';
import * as migrate from './commands/migrate.js';
import * as palm from './commands/palm.js';
import * as person from './commands/person.js';
import * as serve from './commands/serve.js';
import * as staff from './commands/staff.js';

/** The `palmid` command. Each command lives in its own module under commands/. */
export function buildProgram(): Command {
  const program = new Command('palmid')
    .description('palmid: a self-hosted OpenID Provider with passkeys and palm sign-in')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io().out(s), writeErr: (s) => io().err(s) });
  // `serve` runs other processes' commands through main (src/cli/delegate.ts): handed over, not imported.
  serve.register(program, main);
  for (const command of [
    migrate,
    client,
    invite,
    person,
    staff,
    keys,
    biometrics,
    cards,
    readers,
    palm,
    auditLog,
    requests,
    health,
  ])
    command.register(program);
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof DataDirLockedError && canDelegate(argv) && fs.existsSync(socketPath(err.dataDir))) {
      // `palmid serve` holds the embedded database: let it run the command.
      return runInServer(err.dataDir, argv);
    }
    return reportFailure(err);
  }
}

/**
 * How a failed command ends, the one place errors meet the CLI: commander has printed its own
 * message; a PalmidError with an exit code is one line (none for a silent UserError) and that
 * exit status; anything else is unexpected and printed with its stack, exit status 1.
 */
export function reportFailure(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode;
  if (err instanceof PalmidError && err.exitCode !== undefined) {
    if (!(err instanceof UserError && err.silent)) io().err(`palmid: ${err.message}\n`);
    return err.exitCode;
  }
  io().err(`palmid: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
}
