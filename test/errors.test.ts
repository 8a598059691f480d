import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountError } from '../src/accounts/accountActions.js';
import { CardError } from '../src/accounts/cards.js';
import { InvitationRefusedError } from '../src/accounts/invitations.js';
import { SubjectRequestError } from '../src/accounts/subjectRequests.js';
import { PersonExistsError, PersonInputError, PersonRemovalError } from '../src/accounts/people.js';
import { TenantError } from '../src/accounts/tenants.js';
import { BiometricError } from '../src/biometrics/context.js';
import { FramePoolFullError } from '../src/biometrics/framePool.js';
import { reportFailure } from '../src/cli/main.js';
import { UserError, ioStorage } from '../src/cli/output.js';
import { ConfigError } from '../src/config.js';
import { DecryptionError } from '../src/crypto/aead.js';
import { KeyStoreError } from '../src/crypto/keyStore.js';
import { MasterKeyError } from '../src/crypto/masterKey.js';
import { DatabaseError } from '../src/db/database.js';
import { DataDirLockedError } from '../src/db/lock.js';
import { MigrationError } from '../src/db/migrate.js';
import { PalmidError } from '../src/errors.js';
import { HttpError, errorHandler } from '../src/http/errors.js';
import { createLogger } from '../src/log.js';
import { ClientInputError } from '../src/oidc/clients.js';
import { ExchangeRefused } from '../src/oidc/tokenExchange.js';
import { PalmImageError, PalmTemplateError } from '../src/palm/errors.js';
import { ActivationError } from '../src/readers/activation.js';
import { EnvelopeError } from '../src/readers/envelope.js';
import { PinError } from '../src/readers/pin.js';
import { ReaderError } from '../src/readers/registry.js';
import { WebauthnError } from '../src/webauthn/errors.js';
import { palmid, type Run } from './support/cli.js';

/**
 * The one error model (src/errors.ts) and its two mappings: src/http/errors.ts for palmid's own
 * routes and reportFailure in src/cli/main.ts for commands.
 */

const GENERIC = 'An unexpected error occurred.';

/** An app with palmid's error handler whose one route throws `err`; the log lines it wrote. */
async function answerTo(err: unknown, init: RequestInit & { path?: string } = {}) {
  const logged = new PassThrough();
  let log = '';
  logged.on('data', (c: Buffer) => (log += c.toString()));
  const app = new Koa();
  app.silent = true;
  app.use(errorHandler(createLogger('info', logged)));
  app.use(() => {
    throw err;
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}${init.path ?? '/x'}`, { method: 'POST', ...init });
    const text = await res.text();
    await new Promise((resolve) => setImmediate(resolve)); // let the logger flush
    return { status: res.status, text, log };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

/** reportFailure as a command would end, with what it printed. */
function cliEnd(err: unknown): { code: number; err: string } {
  let printed = '';
  const io = {
    out: () => {},
    err: (t: string) => {
      printed += t;
    },
  };
  const code = ioStorage.run(io, () => reportFailure(err));
  return { code, err: printed };
}

interface Row {
  error: PalmidError;
  code: string;
  status: number;
  expose: boolean;
  /** undefined: the CLI reports it as unexpected (with its stack), exit status 1. */
  exitCode: number | undefined;
}

// Every error class with what it meant before the model: the HTTP answer palmid's routes gave
// (HttpError, WebauthnError and ActivationError at /kiosk/activate were the ones answered with
// their message; everything else reached no route, or was a 500) and the exit status the CLI gave
// (directly, or after the command turned it into a UserError).
const TABLE: Row[] = [
  {
    error: new HttpError(403, 'access_denied', 'no'),
    code: 'access_denied',
    status: 403,
    expose: true,
    exitCode: undefined,
  },
  {
    error: new HttpError(413, 'invalid_request', 'too big'),
    code: 'invalid_request',
    status: 413,
    expose: true,
    exitCode: undefined,
  },
  {
    error: new WebauthnError('invalid_request', 'm'),
    code: 'invalid_request',
    status: 400,
    expose: true,
    exitCode: undefined,
  },
  {
    error: new WebauthnError('invalid_invitation', 'm'),
    code: 'invalid_invitation',
    status: 410,
    expose: true,
    exitCode: undefined,
  },
  {
    error: new WebauthnError('passkey_rejected', 'm'),
    code: 'passkey_rejected',
    status: 401,
    expose: true,
    exitCode: undefined,
  },
  {
    error: new WebauthnError('unknown_passkey', 'm'),
    code: 'unknown_passkey',
    status: 401,
    expose: true,
    exitCode: undefined,
  },
  { error: new ActivationError('invalid_code', 'm'), code: 'invalid_grant', status: 400, expose: true, exitCode: 1 },
  { error: new ActivationError('unknown_reader', 'm'), code: 'invalid_grant', status: 400, expose: true, exitCode: 1 },
  { error: new ActivationError('invalid_key', 'm'), code: 'invalid_request', status: 400, expose: true, exitCode: 1 },
  { error: new UserError('m'), code: 'invalid_request', status: 400, expose: true, exitCode: 1 },
  { error: new UserError('m', 2), code: 'invalid_request', status: 400, expose: true, exitCode: 2 },
  { error: new CardError('expired', 'm'), code: 'invalid_request', status: 400, expose: true, exitCode: 1 },
  { error: new TenantError('m'), code: 'invalid_request', status: 400, expose: true, exitCode: 1 },
  {
    error: new BiometricError('consent_required', 'm'),
    code: 'invalid_request',
    status: 400,
    expose: true,
    exitCode: 1,
  },
  { error: new PersonExistsError('m'), code: 'invalid_request', status: 400, expose: true, exitCode: 1 },
  { error: new PersonInputError('m'), code: 'invalid_request', status: 400, expose: true, exitCode: 2 },
  { error: new PersonRemovalError('m'), code: 'invalid_request', status: 400, expose: true, exitCode: 1 },
  { error: new AccountError('last_passkey', 'm'), code: 'invalid_request', status: 400, expose: true, exitCode: 1 },
  { error: new InvitationRefusedError('m'), code: 'invalid_request', status: 400, expose: true, exitCode: 2 },
  { error: new SubjectRequestError('m'), code: 'invalid_request', status: 400, expose: true, exitCode: 1 },
  { error: new ReaderError('m'), code: 'invalid_request', status: 400, expose: true, exitCode: 2 },
  { error: new PinError('m'), code: 'invalid_request', status: 400, expose: true, exitCode: 2 },
  { error: new ClientInputError('m'), code: 'invalid_request', status: 400, expose: true, exitCode: 2 },
  { error: new EnvelopeError('expired', 'm'), code: 'invalid_request', status: 400, expose: true, exitCode: undefined },
  {
    error: new PalmImageError('too_dark', 'm'),
    code: 'invalid_request',
    status: 400,
    expose: true,
    exitCode: undefined,
  },
  {
    error: new ExchangeRefused('invalid_scope', 'm', 'x'),
    code: 'invalid_scope',
    status: 400,
    expose: true,
    exitCode: undefined,
  },
  { error: new FramePoolFullError(2), code: 'temporarily_unavailable', status: 503, expose: true, exitCode: undefined },
  { error: new ConfigError('m'), code: 'server_error', status: 500, expose: false, exitCode: 1 },
  { error: new MasterKeyError('m'), code: 'server_error', status: 500, expose: false, exitCode: 1 },
  { error: new KeyStoreError('m'), code: 'server_error', status: 500, expose: false, exitCode: 1 },
  { error: new DatabaseError('m'), code: 'server_error', status: 500, expose: false, exitCode: 1 },
  { error: new MigrationError('m'), code: 'server_error', status: 500, expose: false, exitCode: 1 },
  { error: new DataDirLockedError('/data', 4242), code: 'server_error', status: 500, expose: false, exitCode: 1 },
  { error: new DecryptionError('m'), code: 'server_error', status: 500, expose: false, exitCode: undefined },
  {
    error: new PalmTemplateError('truncated', 'm'),
    code: 'server_error',
    status: 500,
    expose: false,
    exitCode: undefined,
  },
];

describe('the error model', () => {
  it.each(TABLE.map((row) => [row.error.name, row] as const))('%s', (name, row) => {
    const { error } = row;
    expect(error).toBeInstanceOf(PalmidError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(error.constructor.name); // class names are kept (logs, String(err))
    expect(name).toBe(error.constructor.name);
    expect({ code: error.code, status: error.status, expose: error.expose, exitCode: error.exitCode }).toEqual({
      code: row.code,
      status: row.status,
      expose: row.expose,
      exitCode: row.exitCode,
    });
  });

  it('keeps the domain fields the callers read', () => {
    expect(new CardError('expired', 'm').reason).toBe('expired');
    expect(new BiometricError('capture_rejected', 'm', { imageReason: 'too_dark' }).detail).toEqual({
      imageReason: 'too_dark',
    });
    expect(new EnvelopeError('wrong_reader', 'm').failure).toBe('wrong_reader');
    expect(new DataDirLockedError('/data', 7)).toMatchObject({ dataDir: '/data', pid: 7 });
    expect(new FramePoolFullError(3).retryAfterSeconds).toBe(3);
    expect(new ExchangeRefused('invalid_scope', 'why', 'payment')).toMatchObject({
      error: 'invalid_scope',
      reason: 'why',
      scope: 'payment',
      message: 'why',
    });
    expect(new UserError('', 1, { silent: true }).silent).toBe(true);
    const cause = new Error('underneath');
    expect(new ConfigError('m', { cause }).cause).toBe(cause);
  });

  it('leaves no error class outside the model in src/ and adapters/, and this table names them all', () => {
    const outside: string[] = [];
    const inside = new Set<string>();
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== 'generated') walk(file);
        } else if (file.endsWith('.ts')) {
          const text = fs.readFileSync(file, 'utf8');
          for (const m of text.matchAll(/class (\w+) extends Error\b/g)) outside.push(`${file}: ${m[1]}`);
          for (const m of text.matchAll(/class (\w+) extends (PalmidError|errorKind\()/g)) inside.add(m[1]!);
        }
      }
    };
    walk('src');
    walk('adapters');
    expect(outside).toEqual([`${path.join('src', 'errors.ts')}: PalmidError`]);
    expect([...inside].sort()).toEqual([...new Set(TABLE.map((row) => row.error.name))].sort());
  });
});

describe('HTTP answers (src/http/errors.ts)', () => {
  it.each(TABLE.map((row) => [row.error.name, row.error.code, row] as const))('%s %s', async (_n, _c, row) => {
    const { status, text, log } = await answerTo(row.error, { headers: { accept: 'application/json' } });
    if (row.expose) {
      expect(status).toBe(row.status);
      expect(JSON.parse(text)).toEqual({ error: row.code, error_description: row.error.message });
      expect(log).toBe('');
    } else {
      expect(status).toBe(500);
      expect(JSON.parse(text)).toEqual({ error: 'server_error', error_description: GENERIC });
      expect(log).toContain('unhandled error');
    }
  });

  it('answers an internal PalmidError 500 server_error, logs it and shows nothing of it', async () => {
    const secret = 'bucket 17 key file /srv/keys/bucket-keys.sealed is unreadable';
    const { status, text, log } = await answerTo(new KeyStoreError(secret));
    expect(status).toBe(500);
    expect(JSON.parse(text)).toEqual({ error: 'server_error', error_description: GENERIC });
    expect(text).not.toContain('bucket');
    expect(log).toContain(secret);
    expect(log).toContain('KeyStoreError');
  });

  it('answers an exposed PalmidError with its status, code and message (HTML for a page)', async () => {
    const json = await answerTo(new WebauthnError('invalid_invitation', 'This invitation link is invalid.'));
    expect(json.status).toBe(410);
    expect(JSON.parse(json.text)).toEqual({
      error: 'invalid_invitation',
      error_description: 'This invitation link is invalid.',
    });
    const page = await answerTo(new HttpError(403, 'access_denied', 'Not for you.'), {
      method: 'GET',
      headers: { accept: 'text/html' },
    });
    expect(page.status).toBe(403);
    expect(page.text).toContain('Not for you.');
    expect(page.text).toContain('Error: access_denied');
  });

  it('keeps koa / http-errors errors with expose (co-body, ctx.throw) as invalid_request', async () => {
    const app = new Koa();
    app.silent = true;
    app.use(errorHandler(createLogger('silent')));
    app.use((ctx) => ctx.throw(413, 'request entity too large'));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { method: 'POST' });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'request entity too large' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('answers anything else 500 server_error and logs it', async () => {
    const { status, text, log } = await answerTo(new TypeError('x is undefined'));
    expect(status).toBe(500);
    expect(JSON.parse(text)).toEqual({ error: 'server_error', error_description: GENERIC });
    expect(log).toContain('x is undefined');
  });
});

describe('CLI endings (reportFailure in src/cli/main.ts)', () => {
  it.each(TABLE.map((row) => [row.error.name, row] as const))('%s', (_n, row) => {
    const end = cliEnd(row.error);
    if (row.exitCode === undefined) {
      expect(end.code).toBe(1);
      expect(end.err).toMatch(new RegExp(`^palmid: unexpected error: ${row.error.name}: `));
      expect(end.err).toMatch(/\n\s+at /); // with its stack
    } else {
      expect(end).toEqual({ code: row.exitCode, err: `palmid: ${row.error.message}\n` });
    }
  });

  it('prints one line and returns the exit code of the error', () => {
    expect(cliEnd(new ReaderError('unknown tenant nope'))).toEqual({ code: 2, err: 'palmid: unknown tenant nope\n' });
    expect(cliEnd(new ConfigError('invalid configuration: PORT'))).toEqual({
      code: 1,
      err: 'palmid: invalid configuration: PORT\n',
    });
  });

  it('prints nothing for a silent UserError', () => {
    expect(cliEnd(new UserError('', 1, { silent: true }))).toEqual({ code: 1, err: '' });
  });

  it('reports anything else as unexpected, with its stack', () => {
    const end = cliEnd(new TypeError('x is undefined'));
    expect(end.code).toBe(1);
    expect(end.err).toMatch(/^palmid: unexpected error: TypeError: x is undefined\n\s+at /);
  });
});

describe('CLI commands end with their error (embedded database)', () => {
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-errors-'));
    env = { PALMID_DATA_DIR: dataDir, LOG_LEVEL: 'error', PORT: '4456' };
  });
  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(`${dataDir}-keys`, { recursive: true, force: true });
  });

  function expectOneLine(run: Run, code: number, line: string) {
    expect(run.code, run.stderr).toBe(code);
    expect(run.stdout).toBe('');
    const lines = run.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{"level":'));
    expect(lines).toEqual([line]);
  }

  it('a TenantError: exit 1', async () => {
    expectOneLine(
      await palmid(env, 'tenant', 'add', '--id', 'Bad Id', '--name', 'x'),
      1,
      'palmid: a tenant id is 2–63 lowercase letters, digits or dashes',
    );
  });

  it('a ClientInputError: exit 2', async () => {
    expectOneLine(
      await palmid(env, 'client', 'add', '--name', 'X', '--grant-types', 'authorization_code'),
      2,
      'palmid: authorization_code needs at least one --redirect-uri',
    );
  });

  it('a ReaderError: exit 2', async () => {
    expectOneLine(
      await palmid(env, 'reader', 'add', '--tenant', 'nope', '--name', 'Gate'),
      2,
      'palmid: unknown tenant nope',
    );
  });
});
