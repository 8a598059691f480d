import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { openDatabase } from '../../db/database.js';
import { migrate } from '../../db/migrate.js';
import { print, printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (also done at every start)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 });
      try {
        const result = await migrate(db);
        if (opts.json) printJson({ database: db.kind, ...result });
        else if (result.applied.length)
          print(`applied ${result.applied.length} migration(s): ${result.applied.join(', ')}\n`);
        else print(`database is up to date (${result.alreadyApplied.length} migration(s) applied earlier)\n`);
      } finally {
        await db.close();
      }
    });
}
