/**
 * `palmid person import FILE.csv`: people from a spreadsheet, one per row, with a report per row
 * (created, already exists, invalid and why). A bad row does not stop the others; the exit
 * status says whether every row was imported or already there. Rows are added in batches of 200
 * (each batch all or nothing), so an interrupted import can simply be run again: what it added is
 * then "already exists".
 */
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { CsvError, parse } from 'csv-parse/sync';
import {
  PersonExistsError,
  PersonInputError,
  type PersonInput,
  createPeople,
  createPerson,
  findPeopleByEmail,
  findPersonByEmail,
  parsePersonInput,
} from '../../accounts/people.js';
import { audit } from '../../audit/audit.js';
import type { Database } from '../../db/database.js';
import { serverContext, withContext } from '../context.js';
import { readBoundedFile } from '../files.js';
import { UserError, print, printJson, printTable } from '../output.js';

/** Limits that keep a hostile or mistaken file from taking the memory or the evening. */
export const MAX_IMPORT_BYTES = 10 * 1024 * 1024;
export const MAX_IMPORT_ROWS = 100_000;
/** A valid row (an address of at most 254, a name of 100, a phone number) is far shorter. */
export const MAX_RECORD_CHARS = 1024;

const COLUMNS = ['email', 'name', 'phone'] as const;
type Column = (typeof COLUMNS)[number];

export interface ImportRow {
  /** The file's line the row ends on (1 is the header). */
  line: number;
  /** As stored when the row is valid, as written otherwise. */
  email: string;
  status: 'created' | 'exists' | 'invalid';
  id?: string;
  reason?: string;
}

export interface ImportReport {
  created: number;
  existing: number;
  invalid: number;
  rows: ImportRow[];
}

interface CsvRow {
  line: number;
  fields: string[];
}

/** The file's rows after its header, and which field holds which column; a file that is not such a CSV is refused whole. */
export function readPeopleCsv(text: string | Buffer): { columns: Map<Column, number>; rows: CsvRow[] } {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, {
      bom: true,
      info: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true, // a row with too few or too many fields is that row's problem
      max_record_size: MAX_RECORD_CHARS,
      to: MAX_IMPORT_ROWS + 2, // header, the limit, and one to tell that it was passed
    }) as unknown as typeof records;
  } catch (err) {
    if (err instanceof CsvError) throw new UserError(`not a readable CSV file: ${err.message}; nothing imported`);
    throw err;
  }
  const [header, ...data] = records;
  if (!header) throw new UserError('the file is empty; expected a header row: email,name,phone');
  if (data.length > MAX_IMPORT_ROWS)
    throw new UserError(`more than ${MAX_IMPORT_ROWS} rows; split the file (nothing imported)`);
  const columns = new Map<Column, number>();
  header.record.forEach((raw, i) => {
    const name = raw.toLowerCase();
    if (!(COLUMNS as readonly string[]).includes(name))
      throw new UserError(
        `unknown column "${raw.slice(0, 40)}" in the header; the columns are ${COLUMNS.join(', ')}, ` +
          'separated by commas (nothing imported)',
      );
    if (columns.has(name as Column)) throw new UserError(`column "${name}" appears twice (nothing imported)`);
    columns.set(name as Column, i);
  });
  if (!columns.has('email')) throw new UserError('the header has no email column (nothing imported)');
  return { columns, rows: data.map((r) => ({ line: r.info.lines, fields: r.record })) };
}

/** Rows looked up and added together: one look-up and one transaction per batch, not per row. */
const BATCH = 200;

/**
 * Adds each row's person unless their address is already there. Invalid rows (a bad address or
 * phone, a wrong number of fields, an address a second time in the file) are reported and skipped.
 */
export async function importPeople(
  db: Database,
  csv: { columns: Map<Column, number>; rows: CsvRow[] },
  options: { actor: string; onRows?: (n: number) => void },
): Promise<ImportReport> {
  const rows: ImportRow[] = [];
  const valid: Array<{ row: ImportRow; input: PersonInput }> = [];
  const firstLine = new Map<string, number>();
  const field = (fields: string[], column: Column) => {
    const i = csv.columns.get(column);
    return i === undefined ? undefined : fields[i];
  };
  for (const { line, fields } of csv.rows) {
    const written = (field(fields, 'email') ?? '').slice(0, 254);
    const row: ImportRow = { line, email: written, status: 'invalid' };
    rows.push(row);
    if (fields.length !== csv.columns.size) {
      row.reason = `${fields.length} field(s) where the header has ${csv.columns.size}`;
      continue;
    }
    let input: PersonInput;
    try {
      input = parsePersonInput({ email: written, name: field(fields, 'name'), phone: field(fields, 'phone') });
    } catch (err) {
      if (!(err instanceof PersonInputError)) throw err;
      row.reason = err.message;
      continue;
    }
    row.email = input.email;
    const earlier = firstLine.get(input.email);
    if (earlier !== undefined) {
      row.reason = `same email as line ${earlier}`;
      continue;
    }
    firstLine.set(input.email, line);
    valid.push({ row, input });
  }
  options.onRows?.(rows.length - valid.length);

  for (let i = 0; i < valid.length; i += BATCH) {
    const batch = valid.slice(i, i + BATCH);
    const existing = await findPeopleByEmail(
      db,
      batch.map((v) => v.input.email),
    );
    const fresh = batch.filter(({ row, input }) => {
      const id = existing.get(input.email);
      if (id) Object.assign(row, { status: 'exists', id });
      return !id;
    });
    try {
      const created = await createPeople(
        db,
        fresh.map((v) => v.input),
        { actor: options.actor, via: 'import' },
      );
      const ids = new Map(created.map((p) => [p.email, p.id]));
      for (const { row, input } of fresh) Object.assign(row, { status: 'created', id: ids.get(input.email) });
    } catch (err) {
      if (!(err instanceof PersonExistsError)) throw err;
      // Someone added one of these people since the look-up: this batch one by one.
      for (const { row, input } of fresh) {
        try {
          const person = await createPerson(db, { ...input, role: 'user', actor: options.actor, via: 'import' });
          Object.assign(row, { status: 'created', id: person.id });
        } catch (err) {
          if (!(err instanceof PersonExistsError)) throw err;
          Object.assign(row, { status: 'exists', id: (await findPersonByEmail(db, input.email))?.id });
        }
      }
    }
    options.onRows?.(batch.length);
  }

  const count = (status: ImportRow['status']) => rows.filter((r) => r.status === status).length;
  const report: ImportReport = {
    created: count('created'),
    existing: count('exists'),
    invalid: count('invalid'),
    rows,
  };
  await audit(db, {
    action: 'person.imported',
    actor: options.actor,
    detail: { created: report.created, existing: report.existing, invalid: report.invalid },
  });
  return report;
}

/** A bar only for a person watching a terminal: never in JSON output, a pipe, or a command run by the server. */
export function showsProgress(options: { json: boolean; delegated: boolean; tty: boolean }): boolean {
  return options.tty && !options.json && !options.delegated;
}

function readImportFile(file: string): Buffer {
  // Run by `palmid serve` for another process, a relative path would be the server's.
  if (serverContext.getStore() && !path.isAbsolute(file))
    throw new UserError(`palmid serve runs this command: give the file's absolute path (${file})`, 2);
  return readBoundedFile(file, MAX_IMPORT_BYTES, '; split it (nothing imported)');
}

export function register(person: Command): void {
  person
    .command('import')
    .description(
      'add people from a CSV file with a header row (email, and optionally name and phone); ' +
        'reports each row; exit status 1 if any row was invalid',
    )
    .argument('<file>', `CSV file (UTF-8, at most ${MAX_IMPORT_BYTES / 1024 / 1024} MiB, ${MAX_IMPORT_ROWS} rows)`)
    .option('--json', 'print the report as JSON')
    .action(async (file: string, opts) => {
      const csv = readPeopleCsv(readImportFile(file));
      await withContext(async (ctx) => {
        const progress = showsProgress({
          json: Boolean(opts.json),
          delegated: serverContext.getStore() !== undefined,
          tty: Boolean(process.stderr.isTTY),
        });
        const bar = progress
          ? new cliProgress.SingleBar(
              {
                stream: process.stderr,
                clearOnComplete: true,
                hideCursor: true,
                format: ' {bar} {value}/{total} rows  {eta_formatted} left',
              },
              cliProgress.Presets.shades_classic,
            )
          : null;
        bar?.start(csv.rows.length, 0);
        let report: ImportReport;
        try {
          report = await importPeople(ctx.db, csv, { actor: 'cli', onRows: (n) => bar?.increment(n) });
        } finally {
          bar?.stop();
        }
        if (opts.json) printJson(report);
        else {
          printTable(
            report.rows.map((r) => ({
              line: String(r.line),
              email: r.email,
              result:
                r.status === 'created' ? 'created' : r.status === 'exists' ? 'already exists' : `invalid: ${r.reason}`,
            })),
          );
          print(`${report.created} created, ${report.existing} already existed, ${report.invalid} invalid`);
        }
        if (report.invalid)
          throw new UserError(
            `${report.invalid} of ${report.rows.length} row(s) invalid; the other rows were imported`,
          );
      });
    });
}
