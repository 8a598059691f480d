/**
 * The audit log from the command line: `palmid audit list` (filters, --json, --csv) and
 * `palmid audit verify` (walks the hash chain, exit 1 at the first broken link), `audit head`
 * (the newest link, to keep outside palmid and pass back as `verify --anchor`).
 */
import type { Command } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { formatAnchor, parseAnchor } from '../../audit/chain.js';
import {
  allAuditEvents,
  type AuditEntry,
  type AuditFilter,
  listAuditEvents,
  MAX_AUDIT_PAGE,
} from '../../audit/query.js';
import { describeBreak, readAuditHead, verifyAuditChain } from '../../audit/verify.js';
import { withContext } from '../context.js';
import { io, print, printJson, printTable, UserError } from '../output.js';

function parseTime(text: string, name: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime()))
    throw new UserError(`${name}: not a date or time (e.g. 2026-11-29 or 2026-11-29T17:00:00Z)`);
  return date;
}

/** JSON-safe: ids and sequence numbers as strings (they are 64-bit). */
export function entryView(e: AuditEntry) {
  return {
    id: String(e.id),
    seq: e.seq === null ? null : String(e.seq),
    at: e.at.toISOString(),
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    detail: e.detail ?? null,
  };
}

export const CSV_COLUMNS = ['id', 'seq', 'at', 'actor', 'action', 'subject', 'detail'] as const;

/** One CSV row; the detail as JSON text. A leading = + - @ is quoted away from spreadsheet formulas. */
export function csvRow(e: AuditEntry): string[] {
  const view = entryView(e);
  const cells = [
    view.id,
    view.seq ?? '',
    view.at,
    view.actor ?? '',
    view.action,
    view.subject ?? '',
    view.detail === null ? '' : JSON.stringify(view.detail),
  ];
  return cells.map((c) => (/^[=+\-@\t\r]/.test(c) ? `'${c}` : c));
}

export function register(program: Command): void {
  const auditCommand = program.command('audit').description('the tamper-evident audit log: list, export, verify');

  auditCommand
    .command('list')
    .description('events, newest first')
    .option('--since <time>', 'from this time (ISO 8601)')
    .option('--until <time>', 'before this time (ISO 8601)')
    .option('--actor <id>', 'events by this actor (a person, reader or "cli")')
    .option('--person <id>', 'events by or about this person')
    .option('--tenant <id>', 'events about this tenant')
    .option('--reader <id>', 'events by or through this reader (its client id)')
    .option('--action <type>', 'one event type, or a family: "signin.*"')
    .option('--limit <n>', `at most this many (default 100; --csv: all, unless given)`)
    .option('--before <id>', 'older than this event id (paging)')
    .option('--json', 'print as JSON')
    .option('--csv', 'print as CSV (all matching events)')
    .action(async (opts) => {
      const filter: AuditFilter = {
        since: opts.since ? parseTime(opts.since, '--since') : undefined,
        until: opts.until ? parseTime(opts.until, '--until') : undefined,
        actor: opts.actor,
        person: opts.person,
        tenant: opts.tenant,
        reader: opts.reader,
        action: opts.action,
      };
      let limit: number | undefined;
      if (opts.limit !== undefined) {
        limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UserError('--limit: a whole number of 1 or more');
      }
      if (opts.before !== undefined && !/^\d{1,19}$/.test(opts.before)) throw new UserError('--before: an event id');
      const before = opts.before === undefined ? undefined : BigInt(opts.before);
      await withContext(async (ctx) => {
        if (opts.csv) {
          io().out(stringify([[...CSV_COLUMNS]]));
          let written = 0;
          for await (const e of before === undefined && limit === undefined
            ? allAuditEvents(ctx.db, filter)
            : pageOf(ctx.db, filter, before, limit)) {
            io().out(stringify([csvRow(e)]));
            if (limit !== undefined && ++written >= limit) break;
          }
          return;
        }
        if (limit !== undefined && limit > MAX_AUDIT_PAGE)
          throw new UserError(`--limit: at most ${MAX_AUDIT_PAGE} a page (use --before, or --csv for all)`);
        const page = await listAuditEvents(ctx.db, { ...filter, before, limit });
        if (opts.json) {
          printJson({ events: page.events.map(entryView), next: page.next === null ? null : String(page.next) });
          return;
        }
        printTable(
          page.events.map((e) => ({
            id: String(e.id),
            at: e.at.toISOString(),
            action: e.action,
            actor: e.actor ?? '-',
            subject: e.subject ?? '-',
          })),
        );
        if (page.next !== null) print(`(more: --before ${page.next})`);
      });
    });

  auditCommand
    .command('verify')
    .description(
      'walk the hash chain; exit 1 and name the first broken link if any event was changed, removed or inserted',
    )
    .option('--anchor <seq:hash>', 'a head kept outside palmid (palmid audit head): the chain must still contain it')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      const anchor = opts.anchor === undefined ? undefined : parseAnchor(opts.anchor);
      if (anchor === null) throw new UserError('--anchor: <seq>:<sha-256 in hex>, as palmid audit head prints it');
      await withContext(async (ctx) => {
        const report = await verifyAuditChain(ctx.db, { anchor });
        if (opts.json) {
          printJson({
            ok: report.ok,
            events: report.events,
            head: report.head,
            unchained: report.unchained,
            ...(report.broken
              ? { broken: { ...stringifyBigInts(report.broken), message: describeBreak(report.broken) } }
              : {}),
          });
        } else if (report.ok) {
          print(
            `audit chain intact: ${report.events} events, head ${report.head}` +
              (report.unchained ? `; ${report.unchained} older events written before the chain began` : ''),
          );
        } else {
          print(`audit chain BROKEN after ${report.events} good events: ${describeBreak(report.broken!)}`);
        }
        if (!report.ok) throw new UserError('audit chain broken', 1, { silent: true });
      });
    });

  auditCommand
    .command('head')
    .description(
      'the newest link of the chain, <seq>:<hash>: keep it outside palmid, check it later with verify --anchor',
    )
    .action(async () => {
      await withContext(async (ctx) => {
        const head = await readAuditHead(ctx.db);
        print(formatAnchor(head.seq, head.hash));
      });
    });
}

async function* pageOf(
  db: Parameters<typeof listAuditEvents>[0],
  filter: AuditFilter,
  before: bigint | undefined,
  limit: number | undefined,
) {
  let cursor = before;
  for (;;) {
    const page = await listAuditEvents(db, {
      ...filter,
      before: cursor,
      limit: Math.min(limit ?? MAX_AUDIT_PAGE, MAX_AUDIT_PAGE),
    });
    yield* page.events;
    if (page.next === null) return;
    cursor = page.next;
  }
}

function stringifyBigInts(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeof v === 'bigint' ? String(v) : v]));
}
