/**
 * `palmid health`: recognition health per tenant and reader (src/biometrics/recognitionStats.ts):
 * attempts, matches, refusals, failures to acquire by reason, and the genuine margin over the
 * threshold, per hour or day.
 */
import type { Command } from 'commander';
import { recognitionHealth } from '../../biometrics/recognitionStats.js';
import { withContext } from '../context.js';
import { parseDuration, printJson, printTable, UserError } from '../output.js';

export function register(program: Command): void {
  program
    .command('health')
    .description('palm recognition health: sign-ins, refusals, failures to acquire and genuine margins over time')
    .option('--tenant <id>', 'one tenant')
    .option('--reader <id>', "one reader (its client id), or a relying party's browser logins")
    .option('--since <duration>', 'how far back, e.g. 24h, 7d', '7d')
    .option('--by <bucket>', 'hour | day', 'day')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      if (opts.by !== 'hour' && opts.by !== 'day') throw new UserError('--by: hour or day', 2);
      const since = new Date(Date.now() - parseDuration(opts.since) * 1000);
      await withContext(async (ctx) => {
        const points = await recognitionHealth(ctx.db, {
          tenantId: opts.tenant,
          source: opts.reader,
          since,
          bucket: opts.by,
        });
        if (opts.json) {
          printJson(points.map((p) => ({ ...p, at: p.at.toISOString() })));
          return;
        }
        printTable(
          points.map((p) => ({
            [opts.by]: opts.by === 'day' ? p.at.toISOString().slice(0, 10) : p.at.toISOString().slice(0, 13) + 'h',
            attempts: String(p.attempts),
            matched: String(p.matched),
            'not matched': String(p.notMatched),
            throttled: String(p.throttled),
            'failed to acquire':
              Object.entries(p.unusable)
                .map(([reason, n]) => `${reason} ${n}`)
                .join(', ') || '0',
            'margin mean/min': p.marginMean === null ? '-' : `${p.marginMean}/${p.marginMin}`,
          })),
        );
      });
    });
}
