/**
 * Data-subject requests from the command line (`palmid request …`): enter one for a person,
 * list the queue (overdue first), carry one out (erasure, withdrawal, export) or refuse it with a
 * reason, and print its receipt.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { LocalCardVault } from '../../../adapters/card-vault.js';
import { findPerson } from '../../accounts/people.js';
import {
  closeSubjectRequest,
  findSubjectRequest,
  isRequestKind,
  listSubjectRequests,
  openSubjectRequest,
  receiptHash,
  requestReceipt,
  type SubjectRequestRecord,
} from '../../accounts/subjectRequests.js';
import { findTenant } from '../../accounts/tenants.js';
import { BiometricContext } from '../../biometrics/context.js';
import { carryOutSubjectRequest } from '../../biometrics/subjectRequests.js';
import { withContext } from '../context.js';
import { print, printJson, printTable, UserError } from '../output.js';

function requestView(r: SubjectRequestRecord) {
  return {
    id: r.id,
    person: r.personId,
    tenant: r.tenantId,
    kind: r.kind,
    source: r.source,
    receivedAt: r.receivedAt.toISOString(),
    dueAt: r.dueAt.toISOString(),
    status: r.status,
    completedAt: r.completedAt?.toISOString() ?? null,
    outcome: r.outcome,
    receipt: r.receiptHash,
  };
}

export function register(program: Command): void {
  const request = program
    .command('request')
    .description('data-subject requests: export, erasure, consent withdrawal (with due dates and receipts)');

  request
    .command('add')
    .description('enter a request a person made (by letter, e-mail, at a desk)')
    .requiredOption('--person <id|email>', 'the person')
    .requiredOption('--kind <kind>', 'export | erasure | withdrawal')
    .option('--tenant <id>', 'the tenant (a withdrawal needs one)')
    .option('--due-days <n>', 'days to answer (default 30)')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      if (!isRequestKind(opts.kind)) throw new UserError('--kind: export, erasure or withdrawal', 2);
      const dueDays = opts.dueDays === undefined ? undefined : Number(opts.dueDays);
      await withContext(async (ctx) => {
        const person = await findPerson(ctx.db, opts.person);
        if (!person) throw new UserError(`no person ${opts.person}`);
        if (opts.tenant && !(await findTenant(ctx.db, opts.tenant))) throw new UserError(`no tenant ${opts.tenant}`);
        const opened = await openSubjectRequest(ctx.db, {
          personId: person.id,
          kind: opts.kind,
          tenantId: opts.tenant,
          source: 'cli',
          enteredBy: 'cli',
          dueDays,
        });
        if (opts.json) printJson(requestView(opened));
        else print(`request ${opened.id} (${opened.kind}) entered, due ${opened.dueAt.toISOString()}`);
      });
    });

  request
    .command('list')
    .description('the queue: open requests by due date, then the handled ones')
    .option('--status <status>', 'open | done | refused')
    .option('--overdue', 'only open requests past their due date')
    .option('--person <id|email>', "one person's requests")
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        const person = opts.person ? await findPerson(ctx.db, opts.person) : null;
        if (opts.person && !person) throw new UserError(`no person ${opts.person}`);
        const requests = await listSubjectRequests(ctx.db, {
          status: opts.status,
          personId: person?.id,
          overdueAt: opts.overdue ? new Date() : undefined,
        });
        if (opts.json) printJson(requests.map(requestView));
        else
          printTable(
            requests.map((r) => ({
              id: r.id,
              kind: r.kind,
              person: r.personId,
              status: r.status,
              due: r.dueAt.toISOString().slice(0, 10),
            })),
          );
      });
    });

  request
    .command('carry-out')
    .description('do what the request asks (an export is written to --out), then close it with a receipt')
    .argument('<id>', 'the request')
    .option('--out <file>', 'where an export is written (mode 0600); it is not kept by palmid')
    .option('--json', 'print the receipt as JSON')
    .action(async (id, opts) => {
      await withContext(async (ctx) => {
        const found = await findSubjectRequest(ctx.db, id);
        if (!found) throw new UserError(`no request ${id}`);
        if (found.kind === 'export' && !opts.out) throw new UserError('an export needs --out FILE', 2);
        const done = await carryOutSubjectRequest(new BiometricContext(ctx.db, ctx.master), id, {
          vault: new LocalCardVault(ctx.db, ctx.master.derive('card-vault')),
          handledBy: 'cli',
        });
        if (done.export) fs.writeFileSync(opts.out, JSON.stringify(done.export, null, 2), { mode: 0o600, flag: 'wx' });
        if (opts.json) printJson({ receipt: done.receipt, sha256: done.hash });
        else print(`request ${id} done: ${done.request.outcome}\nreceipt sha256 ${done.hash}`);
      });
    });

  request
    .command('refuse')
    .description('close a request without doing it, with the reason the person will be given')
    .argument('<id>', 'the request')
    .requiredOption('--reason <text>', 'why (e.g. identity not confirmed)')
    .action(async (id, opts) => {
      await withContext(async (ctx) => {
        const closed = await closeSubjectRequest(ctx.db, id, {
          status: 'refused',
          outcome: opts.reason,
          handledBy: 'cli',
        });
        print(`request ${id} refused; receipt sha256 ${closed.hash}`);
      });
    });

  request
    .command('receipt')
    .description("a handled request's receipt (JSON), checked against its stored hash")
    .argument('<id>', 'the request')
    .action(async (id) => {
      await withContext(async (ctx) => {
        const found = await findSubjectRequest(ctx.db, id);
        if (!found) throw new UserError(`no request ${id}`);
        if (found.status === 'open') throw new UserError(`request ${id} is still open`);
        const receipt = requestReceipt(found);
        const hash = receiptHash(receipt);
        if (hash !== found.receiptHash)
          throw new UserError(`request ${id}: the stored row no longer matches its receipt hash`);
        printJson({ receipt, sha256: hash });
      });
    });
}
