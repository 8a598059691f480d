/**
 * People, with or without passkey: add, list, show, remove (`palmid person …`), and import from
 * CSV (personImport.ts). Removal is the full erasure: palm data with its key destroyed first,
 * then the person and everything that refers to them.
 */
import readline from 'node:readline/promises';
import type { Command } from 'commander';
import { LocalCardVault } from '../../../adapters/card-vault.js';
import {
  countAdministrators,
  createPerson,
  describePerson,
  findPerson,
  listPeople,
  type PersonRecord,
} from '../../accounts/people.js';
import { exportAccount } from '../../accounts/accountData.js';
import { findTenant } from '../../accounts/tenants.js';
import { audit } from '../../audit/audit.js';
import { BiometricContext } from '../../biometrics/context.js';
import { removePersonAndData } from '../../biometrics/personRemoval.js';
import { type CommandContext, serverContext, withContext } from '../context.js';
import { UserError, print, printJson, printTable } from '../output.js';
import * as personImport from './personImport.js';

/** What commands print of a person: never the WebAuthn handle or the PIN hash. */
export function personView(p: PersonRecord) {
  return { id: p.id, email: p.email, name: p.name, phone: p.phone, role: p.role, createdAt: p.createdAt };
}

async function personByRef(ctx: CommandContext, ref: string): Promise<PersonRecord> {
  const person = await findPerson(ctx.db, ref);
  if (!person) throw new UserError(`no person ${ref.includes('@') ? 'with email' : 'with id'} ${ref}`);
  return person;
}

/** A yes/no question on a terminal; anything but y or yes is no. */
export async function askYesNo(
  question: string,
  streams: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream } = {
    input: process.stdin,
    output: process.stderr,
  },
): Promise<boolean> {
  const rl = readline.createInterface({ ...streams, terminal: false });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

const date = (d: Date | null) => (d ? d.toISOString() : '-');

export function register(program: Command): void {
  const person = program
    .command('person')
    .description('people (a passkey is optional: palm-only people are added here)');

  person
    .command('add')
    .description('add a person without passkey (invite them for one: palmid invite --email)')
    .requiredOption('--email <email>', 'email address (unique; stored lower-case)')
    .option('--name <name>', 'display name')
    .option('--phone <phone>', 'phone number in international format, e.g. +41446681800')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        const created = await createPerson(ctx.db, {
          email: opts.email,
          name: opts.name,
          phone: opts.phone,
          role: 'user',
          actor: 'cli',
          via: 'cli',
        });
        if (opts.json) printJson(personView(created));
        else print(`person ${created.email} added (${created.id})`);
      });
    });

  person
    .command('list')
    .description('list people, oldest first, with their passkeys and palms')
    .option('--tenant <id>', 'only people with an active consent to this tenant (palms counted there)')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        if (opts.tenant && !(await findTenant(ctx.db, opts.tenant)))
          throw new UserError(`unknown tenant ${opts.tenant}`);
        const people = await listPeople(ctx.db, opts.tenant ? { tenant: opts.tenant } : {});
        if (opts.json) printJson(people);
        else
          printTable(
            people.map((p) => ({
              id: p.id,
              email: p.email,
              name: p.name ?? '',
              phone: p.phone ?? '',
              role: p.role,
              passkeys: String(p.passkeys),
              palms: String(p.palms),
              created: date(p.createdAt),
            })),
          );
      });
    });

  person
    .command('show')
    .description('a person: profile, passkeys, palms per tenant, consents (no biometric data)')
    .argument('<person>', 'id or email address')
    .option('--json', 'print as JSON')
    .action(async (ref: string, opts) => {
      await withContext(async (ctx) => {
        const found = await personByRef(ctx, ref);
        const p = (await describePerson(ctx.db, found.id))!;
        if (opts.json) return printJson(p);
        const lines = [
          `id:          ${p.id}`,
          `email:       ${p.email}`,
          `name:        ${p.name ?? '-'}`,
          `phone:       ${p.phone ?? '-'}`,
          `role:        ${p.role}`,
          `created:     ${date(p.createdAt)}`,
          `passkeys:    ${p.passkeys.length}${p.pendingInvitations ? ` (${p.pendingInvitations} invitation(s) pending)` : ''}`,
          `pin:         ${p.pin ? 'set' : 'not set'}`,
          `cards:       ${p.cards}`,
          `loyalty:     ${p.loyaltyTenants.join(', ') || '-'}`,
          'palms:',
          ...(p.palms.length
            ? p.palms.map(
                (r) => `  ${r.tenant}: ${r.hand} (enrolled ${date(r.enrolledAt)}, last used ${date(r.lastUsedAt)})`,
              )
            : ['  (none)']),
          'consents:',
          ...(p.consents.length
            ? p.consents.map(
                (c) =>
                  `  ${c.tenant}: notice version ${c.noticeVersion}, granted ${date(c.grantedAt)}` +
                  (c.withdrawnAt ? `, withdrawn ${date(c.withdrawnAt)}` : ''),
              )
            : ['  (none)']),
        ];
        print(lines.join('\n'));
      });
    });

  person
    .command('remove')
    .description(
      'remove a person and erase their data: palm data with the key that opened it (as palmid erase), ' +
        'passkeys, consents, cards, sessions and tokens',
    )
    .argument('<person>', 'id or email address')
    .option('--yes', 'do not ask for confirmation')
    .option('--force', 'remove the last administrator too (a new one then needs the setup link printed at start-up)')
    .option('--json', 'print as JSON')
    .action(async (ref: string, opts) => {
      await withContext(async (ctx) => {
        const found = await personByRef(ctx, ref);
        if (found.role === 'admin' && !opts.force && (await countAdministrators(ctx.db)) <= 1)
          throw new UserError(`${found.email} is the last administrator; remove them anyway with --force`, 2);
        if (!opts.yes) {
          // Run by `palmid serve` for another process, or without a terminal: nobody to ask.
          if (serverContext.getStore() || !process.stdin.isTTY)
            throw new UserError(`removing ${found.email} erases all their data; confirm with --yes`, 2);
          if (!(await askYesNo(`Remove ${found.email} and erase all their data? This cannot be undone.`)))
            throw new UserError('nothing removed');
        }
        // Sessions, then palm data with its key destroyed, then the rest (src/biometrics/personRemoval.ts).
        const removed = await removePersonAndData(new BiometricContext(ctx.db, ctx.master), found.id, {
          vault: new LocalCardVault(ctx.db, ctx.master.derive('card-vault')),
          actor: 'cli',
          allowLastAdministrator: true, // checked above, with --force
        });
        if (opts.json) printJson({ id: found.id, email: found.email, removed: true, ...removed });
        else
          print(
            `${found.email} removed: ${removed.palmReferences} palm reference(s) erased, ${removed.passkeys} passkey(s), ` +
              `${removed.consents} consent(s), ${removed.cards} card(s) deleted`,
          );
      });
    });

  person
    .command('export')
    .description(
      'everything palmid holds about a person as one JSON document (the account page\'s "download my data"; ' +
        'palm templates are described, not included)',
    )
    .argument('<person>', 'id or email address')
    .action(async (ref: string) => {
      await withContext(async (ctx) => {
        const found = await personByRef(ctx, ref);
        printJson(await exportAccount(ctx.db, found.id));
        await audit(ctx.db, { action: 'person.exported', actor: 'cli', subject: found.id });
      });
    });

  personImport.register(person);
}
