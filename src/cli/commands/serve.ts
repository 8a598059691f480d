import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { SigningKeyStore } from '../../crypto/signingKeys.js';
import { createLogger } from '../../log.js';
import { serverContext, type CommandContext } from '../context.js';
import { listenForCommands } from '../delegate.js';
import { UserError } from '../output.js';

/** `runCommand`: how the process runs a command line (main.ts), for the commands other processes send. */
export function register(program: Command, runCommand: (argv: string[]) => Promise<number>): void {
  program
    .command('serve')
    .description('run the OpenID Provider (PORT, PALMID_ISSUER, PALMID_DATA_DIR, DATABASE_URL)')
    .action(async () => {
      const config = loadConfig();
      const log = createLogger(config.logLevel);
      // Imported here so that other commands do not load the whole server (and oidc-provider).
      const { startServer } = await import('../../server.js');
      const server = await startServer({ config, log, printSetupLink: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE')
          throw new UserError(`port ${config.port} on ${config.host} is already in use (set PORT)`);
        if (err.code === 'EACCES') throw new UserError(`not allowed to listen on port ${config.port} (set PORT)`);
        throw err;
      });

      // On the embedded database, other palmid commands run through this process.
      let commands: { close(): Promise<void> } | undefined;
      if (server.db.kind === 'pglite') {
        const context: CommandContext = {
          config: { ...config, issuer: server.issuer },
          db: server.db,
          master: server.master,
          keys: new SigningKeyStore(server.db, server.master),
          provider: async () => server.provider(),
        };
        commands = await listenForCommands(
          config.dataDir,
          (argv) => serverContext.run(context, () => runCommand(argv)),
          log,
        );
      }

      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutting down');
        Promise.resolve(commands?.close())
          .then(() => server.close())
          .then(
            () => process.exit(0),
            (err) => {
              log.error({ err }, 'shutdown failed');
              process.exit(1);
            },
          );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
