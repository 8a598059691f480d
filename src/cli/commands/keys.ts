import type { Command } from 'commander';
import { audit } from '../../audit/audit.js';
import { SIGNED_TOKEN_MAX_LIFETIME } from '../../oidc/policy.js';
import { withContext } from '../context.js';
import { print, printJson, printTable } from '../output.js';

export function register(program: Command): void {
  const keys = program.command('keys').description('token signing keys');

  keys
    .command('rotate')
    .description('create new signing keys; the old ones stay published until their tokens expire')
    .option('--json', 'print the result as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        await ctx.keys.ensureActiveKeys();
        const result = await ctx.keys.rotate(SIGNED_TOKEN_MAX_LIFETIME);
        await audit(ctx.db, { action: 'keys.rotated', actor: 'cli', detail: result });
        if (opts.json) printJson({ ...result, retired_published_for_seconds: SIGNED_TOKEN_MAX_LIFETIME });
        else
          print(
            `new keys: ${result.created.join(', ')}\n` +
              `retired (published for ${SIGNED_TOKEN_MAX_LIFETIME} s more): ` +
              `${result.retired.join(', ') || '(none)'}\n` +
              'A running server picks the new keys up within a minute.\n',
          );
      });
    });

  keys
    .command('list')
    .description('list signing keys')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        const list = await ctx.keys.list();
        if (opts.json) printJson(list);
        else
          printTable(
            list.map((k) => ({
              kid: k.kid,
              alg: k.alg,
              status: k.status,
              created: k.createdAt.toISOString(),
              published_until: k.publishUntil?.toISOString() ?? '',
            })),
          );
      });
    });
}
