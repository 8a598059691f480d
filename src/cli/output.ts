import { AsyncLocalStorage } from 'node:async_hooks';
import { PalmidError, invalidRequest } from '../errors.js';

/**
 * Where a command's output goes. Normally the process's stdout/stderr; when `palmid serve` runs a
 * command on behalf of another process (see src/cli/delegate.ts), a buffer sent back to it.
 */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CommandIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

export const ioStorage = new AsyncLocalStorage<CommandIo>();

export function io(): CommandIo {
  return ioStorage.getStore() ?? processIo;
}

export function print(text: string): void {
  io().out(text.endsWith('\n') ? text : `${text}\n`);
}

/** Printing for commands: JSON for machines (--json), aligned text for people. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

export function printTable(rows: Array<Record<string, string>>): void {
  if (rows.length === 0) {
    print('(none)');
    return;
  }
  const columns = Object.keys(rows[0]!);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  print(line(columns.map((c) => c.toUpperCase())));
  for (const r of rows) print(line(columns.map((c) => r[c] ?? '')));
}

/**
 * An error the user caused: printed as one line, exit status 1 (2 for usage errors). A silent one
 * prints nothing: the command has already reported its outcome (e.g. `reader signin` refused).
 */
export class UserError extends PalmidError {
  readonly silent: boolean;
  constructor(message: string, exitCode = 1, options: { silent?: boolean } = {}) {
    super(message, invalidRequest(exitCode));
    this.silent = options.silent ?? false;
  }
}

/** Parses durations like 30m, 12h, 7d into seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (!m) throw new UserError(`invalid duration "${text}" (use e.g. 30m, 12h, 7d)`, 2);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
