/**
 * Payment cards and loyalty numbers. The card number is read from standard input, never from
 * the command line, so it does not land in shell history or the process list.
 */
import type { Command } from 'commander';
import { LocalCardVault } from '../../../adapters/card-vault.js';
import { linkCard, setLoyaltyNumber } from '../../accounts/cards.js';
import { personByEmail, readSecretLine, withContext } from '../context.js';
import { UserError, print, printJson } from '../output.js';

export function register(program: Command): void {
  const card = program.command('card').description('payment cards (tokenised in the card vault)');
  card
    .command('link')
    .description('link a payment card to a person; reads the card number from standard input')
    .requiredOption('--person <email>', 'the person')
    .requiredOption('--exp <MM/YY>', 'expiry month and year')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      const m = /^(\d{1,2})\/(\d{2}|\d{4})$/.exec(String(opts.exp));
      if (!m) throw new UserError('--exp must look like 08/29', 2);
      const number = await readSecretLine('card number');
      await withContext(async (ctx) => {
        const person = await personByEmail(ctx, opts.person);
        const vault = new LocalCardVault(ctx.db, ctx.master.derive('card-vault'));
        const linked = await linkCard(ctx.db, vault, person.id, {
          number,
          expMonth: Number(m[1]),
          expYear: Number(m[2]),
        });
        if (opts.json) printJson(linked);
        else print(`${linked.brand} ending ${linked.last4} linked to ${person.email}`);
      });
    });

  program
    .command('loyalty')
    .description("set a person's loyalty number at a tenant")
    .requiredOption('--person <email>', 'the person')
    .requiredOption('--tenant <id>', 'the tenant')
    .requiredOption('--number <number>', 'the loyalty number')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        const person = await personByEmail(ctx, opts.person);
        await setLoyaltyNumber(ctx.db, person.id, opts.tenant, opts.number);
        if (opts.json) printJson({ person: person.email, tenant: opts.tenant, number: opts.number });
        else print(`loyalty number set for ${person.email} at ${opts.tenant}`);
      });
    });
}
