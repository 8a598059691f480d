import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../log.js';
import { startServer } from '../../server.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the OpenID Provider (PORT, PALMID_ISSUER, PALMID_DATA_DIR, DATABASE_URL)')
    .action(async () => {
      const config = loadConfig();
      const log = createLogger(config.logLevel);
      const server = await startServer({ config, log, printSetupLink: true });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutting down');
        server.close().then(
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
