/**
 * `palmid person …` and the invitation that creates its person: people without passkeys, on the
 * embedded database and (with TEST_DATABASE_URL) on PostgreSQL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askYesNo } from '../../src/cli/commands/person.js';
import { type CommandContext, serverContext } from '../../src/cli/context.js';
import { LocalCardVault } from '../../adapters/card-vault.js';
import { linkCard } from '../../src/accounts/cards.js';
import { createInvitation } from '../../src/accounts/invitations.js';
import pg from 'pg';
import type { CardVault } from '../../adapters/card-vault.js';
import { PersonExistsError, createPeople, createPerson, deletePerson } from '../../src/accounts/people.js';
import { MAX_IMPORT_BYTES, readPeopleCsv, showsProgress } from '../../src/cli/commands/personImport.js';
import { loadMasterKey } from '../../src/crypto/masterKey.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { defaultMigrationsDir, migrate, readMigrations } from '../../src/db/migrate.js';
import { hintedPalmSubject, personSubject } from '../../src/throttling/attemptLimits.js';
import { relyingPartyFor } from '../../src/webauthn/relyingParty.js';
import { finishRegistration, startRegistration } from '../../src/webauthn/registration.js';
import { SoftAuthenticator } from '../support/authenticator.js';
import { createCliEnvironment, palmid, removeCliEnvironment, type Run } from '../support/cli.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/server.js';

const PALMS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/tongji-roi');
const havePalms = fs.existsSync(PALMS);

/** Non-zero, one line on stderr (besides JSON log lines), no stack trace. */
function expectOneLineError(run: Run, pattern: RegExp, code?: number) {
  if (code !== undefined) expect(run.code, run.stderr).toBe(code);
  else expect(run.code).not.toBe(0);
  const lines = run.stderr
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('{"level":') && !l.startsWith('(run with --help'));
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(run.stderr).not.toMatch(/\n\s+at\s|node_modules|\.ts:\d+/);
}

interface PersonJson {
  id: string;
  email: string;
  name: string | null;
  phone: string | null;
  role: string;
  createdAt: string;
}

describe('asking before a removal', () => {
  const ask = async (typed: string) => {
    const input = new PassThrough();
    const output = new PassThrough();
    const answer = askYesNo('Remove?', { input, output });
    input.end(typed);
    return answer;
  };
  it('takes y or yes, and anything else (an empty line, no input) as no', async () => {
    expect(await ask('y\n')).toBe(true);
    expect(await ask(' YES \n')).toBe(true);
    expect(await ask('n\n')).toBe(false);
    expect(await ask('yep\n')).toBe(false);
    expect(await ask('\n')).toBe(false);
  });
});

describe('the import progress bar', () => {
  it('shows only on a terminal, never with --json or for a command run by the server', () => {
    expect(showsProgress({ tty: true, json: false, delegated: false })).toBe(true);
    expect(showsProgress({ tty: false, json: false, delegated: false })).toBe(false);
    expect(showsProgress({ tty: true, json: true, delegated: false })).toBe(false);
    expect(showsProgress({ tty: true, json: false, delegated: true })).toBe(false);
  });
});

describe('reading a people CSV', () => {
  it('refuses a record over 1024 characters (a valid row is far shorter) before holding it', () => {
    expect(() => readPeopleCsv(Buffer.from(`email\n${'a'.repeat(1100)}@example.org\n`))).toThrow(
      /not a readable CSV file: .*nothing imported/,
    );
    expect(readPeopleCsv(Buffer.from(`email\n${'a'.repeat(60)}@example.org\n`)).rows).toHaveLength(1);
  });

  it('takes the columns in any order and case, a BOM, CRLF, quoted fields, blank lines', () => {
    const csv = readPeopleCsv(
      Buffer.from('\uFEFFPhone, EMAIL ,Name\r\n\r\n+41446681800,a@example.org,"Doe, Ana"\r\n,b@example.org,\r\n'),
    );
    expect([...csv.columns]).toEqual([
      ['phone', 0],
      ['email', 1],
      ['name', 2],
    ]);
    expect(csv.rows).toEqual([
      { line: 3, fields: ['+41446681800', 'a@example.org', 'Doe, Ana'] },
      { line: 4, fields: ['', 'b@example.org', ''] },
    ]);
  });
  it('refuses a file that is not such a CSV, whole', () => {
    expect(() => readPeopleCsv('')).toThrow(/the file is empty/);
    expect(() => readPeopleCsv('email;name;phone\na@b.c;A;\n')).toThrow(/unknown column "email;name;phone"/);
    expect(() => readPeopleCsv('name,phone\nA,\n')).toThrow(/no email column/);
    expect(() => readPeopleCsv('email,email\na@b.c,a@b.c\n')).toThrow(/appears twice/);
    expect(() => readPeopleCsv('email,name\na@b.c,"Ana\n')).toThrow(/not a readable CSV file: .*Quote Not Closed/);
    expect(() => readPeopleCsv(`email\n${'x'.repeat(5000)}\n`)).toThrow(/not a readable CSV file/);
    expect(() => readPeopleCsv(`email\n${'a@b.c\n'.repeat(100_001)}`)).toThrow(/more than 100000 rows/);
  });
  it("refuses a relative path when `palmid serve` runs the command (it would be the server's)", async () => {
    const run = await serverContext.run({} as CommandContext, () =>
      palmid({ LOG_LEVEL: 'silent' }, 'person', 'import', 'people.csv'),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toBe("palmid: palmid serve runs this command: give the file's absolute path (people.csv)\n");
  });
});

describe.each(databaseKinds)('the people-without-passkeys migration ($name)', (kind) => {
  it('names the person of an unused invitation to their address, and only that', async () => {
    const MIGRATION = '20261129140000_people_without_passkeys';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-migrations-'));
    const test = await createTestDatabase(kind);
    try {
      for (const m of readMigrations().filter((m) => m.name < MIGRATION))
        fs.cpSync(path.join(defaultMigrationsDir, m.name), path.join(dir, m.name), { recursive: true });
      await migrate(test.db, dir);
      await test.db.query(`INSERT INTO person (id, email, webauthn_id) VALUES ('p1', 'eva@example.org', 'w1')`);
      const invite = (id: string, email: string | null, usedAt: string | null) =>
        test.db.query(
          `INSERT INTO invitation (id, token_hash, email, expires_at, used_at)
           VALUES ($1, $1, $2, now() + interval '1 day', $3::timestamptz)`,
          [id, email, usedAt],
        );
      await invite('pending', 'eva@example.org', null);
      await invite('used', 'eva@example.org', new Date().toISOString());
      await invite('stranger', 'nobody@example.org', null);
      await invite('open', null, null);
      expect((await migrate(test.db)).applied).toContain(MIGRATION);
      const rows = await test.db.query<{ id: string; person_id: string | null }>(
        `SELECT id, person_id FROM invitation ORDER BY id`,
      );
      expect(rows).toEqual([
        { id: 'open', person_id: null },
        { id: 'pending', person_id: 'p1' },
        { id: 'stranger', person_id: null },
        { id: 'used', person_id: null },
      ]);
    } finally {
      await test.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(databaseKinds)('palmid person ($name)', (kind) => {
  let dataDir: string;
  let env: Record<string, string>;
  let testDb: TestDatabase | undefined;
  const file = (name: string, text: string) => {
    const f = path.join(dataDir, '..', `${path.basename(dataDir)}-${name}`);
    fs.writeFileSync(f, text);
    return f;
  };

  beforeAll(async () => {
    ({ dataDir, env, testDb } = await createCliEnvironment(kind, { tmpPrefix: 'palmid-person-', port: '4455' }));
  });
  afterAll(() => removeCliEnvironment({ dataDir, testDb }));

  /** The database the commands used (the embedded one is opened only between commands). */
  async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
    if (testDb) return fn(testDb.db);
    const db = await openDatabase({ dataDir });
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  }

  const json = async <T>(...args: string[]): Promise<T> => {
    const run = await palmid(env, ...args, '--json');
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as T;
  };

  let ana: PersonJson;

  it('person add: normalises the address and phone, with no passkey', async () => {
    ana = await json<PersonJson>(
      'person',
      'add',
      '--email',
      ' Ana@Example.ORG ',
      '--name',
      ' Ana Lima ',
      '--phone',
      '+41 (44) 668-18.00',
    );
    expect(ana).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      email: 'ana@example.org',
      name: 'Ana Lima',
      phone: '+41446681800',
      role: 'user',
      createdAt: expect.any(String),
    });
    const text = await palmid(env, 'person', 'add', '--email', 'bare@example.org');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^person bare@example\.org added \([0-9a-f-]{36}\)\n$/);
  });

  it('person add: refuses a second person with the same address, and bad input, with nothing stored', async () => {
    expectOneLineError(
      await palmid(env, 'person', 'add', '--email', 'ANA@example.org'),
      /^palmid: ana@example\.org already has an account$/,
      1,
    );
    expectOneLineError(
      await palmid(env, 'person', 'add', '--email', 'not-an-email'),
      /^palmid: email: not a valid email address$/,
      2,
    );
    expectOneLineError(await palmid(env, 'person', 'add', '--email', 'a b@example.org'), /email: not a valid/, 2);
    expectOneLineError(
      await palmid(env, 'person', 'add', '--email', 'x@example.org', '--phone', '044 668 18 00'),
      /^palmid: phone: a phone number is \+ and the country code/,
      2,
    );
    expectOneLineError(
      await palmid(env, 'person', 'add', '--email', 'x@example.org', '--phone', '+0123456789'),
      /phone:/,
      2,
    );
    expectOneLineError(
      await palmid(env, 'person', 'add', '--email', 'x@example.org', '--name', 'x'.repeat(101)),
      /^palmid: name: a name has at most 100 characters$/,
      2,
    );
    expectOneLineError(await palmid(env, 'person', 'add', '--name', 'X'), /--email/);
    const people = await json<PersonJson[]>('person', 'list');
    expect(people.map((p) => p.email)).toEqual(['ana@example.org', 'bare@example.org']);
  });

  it('person list and show: by id or email, profile and counts, nothing secret', async () => {
    const [listed] = await json<Array<Record<string, unknown>>>('person', 'list');
    expect(listed).toEqual({ ...ana, passkeys: 0, palms: 0 });
    const table = await palmid(env, 'person', 'list');
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+EMAIL\s+NAME\s+PHONE\s+ROLE\s+PASSKEYS\s+PALMS\s+CREATED$/);
    expect(table.stdout).toContain('+41446681800');

    const byEmail = await json<Record<string, unknown>>('person', 'show', 'ANA@example.org');
    const byId = await json<Record<string, unknown>>('person', 'show', ana.id);
    expect(byId).toEqual(byEmail);
    expect(byEmail).toEqual({
      ...ana,
      pin: false,
      passkeys: [],
      palms: [],
      consents: [],
      cards: 0,
      loyaltyTenants: [],
      pendingInvitations: 0,
    });
    const text = await palmid(env, 'person', 'show', 'ana@example.org');
    expect(text.stdout).toMatch(/^email:\s+ana@example\.org$/m);
    expect(text.stdout).toMatch(/^passkeys:\s+0$/m);
    const raw = `${text.stdout}${JSON.stringify(byEmail)}`;
    expect(raw).not.toMatch(/webauthn|pinHash|argon2/i);
    await withDb(async (db) => {
      const row = await db.prisma.person.findUniqueOrThrow({ where: { id: ana.id } });
      expect(raw).not.toContain(row.webauthnId);
    });

    expectOneLineError(
      await palmid(env, 'person', 'show', 'nobody@example.org'),
      /^palmid: no person with email nobody@example\.org$/,
    );
    expectOneLineError(await palmid(env, 'person', 'show', 'no-such-id'), /^palmid: no person with id no-such-id$/);
  });

  it('person import: a report per row, bad rows skipped, exit status 1 when any was invalid', async () => {
    const csv = file(
      'people.csv',
      [
        'email,name,phone',
        'bo@example.org,Bo,+44 20 7946 0958',
        'not-an-email,Nobody,',
        'ANA@example.org,Ana again,',
        'cy@example.org,"Cy, the ""third""",+33 1 23 45 67 89',
        'dee@example.org,Dee,12345',
        'BO@example.org,Bo twice,',
        'eve@example.org,Eve',
        '',
        'fay@example.org,,',
      ].join('\n'),
    );
    const run = await palmid(env, 'person', 'import', csv, '--json');
    expect(run.code).toBe(1);
    expectOneLineError(run, /^palmid: 4 of 8 row\(s\) invalid; the other rows were imported$/, 1);
    const report = JSON.parse(run.stdout) as {
      created: number;
      existing: number;
      invalid: number;
      rows: Array<{ line: number; email: string; status: string; id?: string; reason?: string }>;
    };
    expect({ created: report.created, existing: report.existing, invalid: report.invalid }).toEqual({
      created: 3,
      existing: 1,
      invalid: 4,
    });
    expect(report.rows.map(({ id: _id, ...r }) => r)).toEqual([
      { line: 2, email: 'bo@example.org', status: 'created' },
      { line: 3, email: 'not-an-email', status: 'invalid', reason: 'email: not a valid email address' },
      { line: 4, email: 'ana@example.org', status: 'exists' },
      { line: 5, email: 'cy@example.org', status: 'created' },
      { line: 6, email: 'dee@example.org', status: 'invalid', reason: expect.stringMatching(/^phone: /) },
      { line: 7, email: 'bo@example.org', status: 'invalid', reason: 'same email as line 2' },
      { line: 8, email: 'eve@example.org', status: 'invalid', reason: '2 field(s) where the header has 3' },
      { line: 10, email: 'fay@example.org', status: 'created' },
    ]);
    expect(report.rows[2]!.id).toBe(ana.id);
    const cy = await json<PersonJson>('person', 'show', 'cy@example.org');
    expect(cy).toMatchObject({ name: 'Cy, the "third"', phone: '+33123456789' });
    expect((await json<PersonJson>('person', 'show', 'fay@example.org')).name).toBeNull();
    for (const absent of ['dee@example.org', 'eve@example.org'])
      expect((await palmid(env, 'person', 'show', absent)).code).toBe(1);

    // Run again with only good rows: idempotent, exit 0, the text report.
    const again = await palmid(
      env,
      'person',
      'import',
      file('again.csv', 'email,name\nbo@example.org,Bo\ngus@example.org,Gus\n'),
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^LINE\s+EMAIL\s+RESULT$/m);
    expect(again.stdout).toMatch(/^2\s+bo@example\.org\s+already exists$/m);
    expect(again.stdout).toMatch(/^3\s+gus@example\.org\s+created$/m);
    expect(again.stdout).toMatch(/^1 created, 1 already existed, 0 invalid$/m);
    expect(again.stderr).not.toMatch(/rows\s+.*left/); // no progress bar without a terminal

    await withDb(async (db) => {
      const events = await db.prisma.auditEvent.findMany({
        where: { action: { in: ['person.added', 'person.imported'] } },
        orderBy: { id: 'asc' },
      });
      expect(events.filter((e) => e.action === 'person.imported').map((e) => e.detail)).toEqual([
        { created: 3, existing: 1, invalid: 4 },
        { created: 1, existing: 1, invalid: 0 },
      ]);
      expect(events.filter((e) => (e.detail as { via?: string }).via === 'import')).toHaveLength(4);
      // The audit trail names people by id, never by address.
      expect(JSON.stringify(events.map(({ actor, subject, detail }) => ({ actor, subject, detail })))).not.toContain(
        '@',
      );
    });
  });

  it('person import: refuses a file it cannot take, whole, with one line', async () => {
    const before = (await json<unknown[]>('person', 'list')).length;
    expectOneLineError(
      await palmid(env, 'person', 'import', file('semi.csv', 'email;name\nz@example.org;Z\n')),
      /unknown column "email;name".*separated by commas \(nothing imported\)/,
      1,
    );
    expectOneLineError(
      await palmid(env, 'person', 'import', file('quote.csv', 'email,name\nz@example.org,"Z\n')),
      /not a readable CSV file: .*nothing imported/,
      1,
    );
    const big = file('big.csv', 'email\n');
    fs.truncateSync(big, MAX_IMPORT_BYTES + 1);
    expectOneLineError(await palmid(env, 'person', 'import', big), /is larger than 10485760 bytes/, 1);
    expectOneLineError(await palmid(env, 'person', 'import', path.join(dataDir, 'missing.csv')), /cannot read/, 1);
    expectOneLineError(await palmid(env, 'person', 'import', dataDir), /is not a file/, 1);
    expect(await json<unknown[]>('person', 'list')).toHaveLength(before);
  });

  it('person import: many rows go in batches, in file order, existing people found in any batch', async () => {
    const lines = ['email,name'];
    for (let i = 0; i < 450; i++)
      lines.push(i === 120 ? 'ana@example.org,Ana' : i === 333 ? 'Gus@example.org,Gus' : `m${i}@example.org,M ${i}`);
    const report = await json<{ created: number; existing: number; invalid: number; rows: Array<{ line: number }> }>(
      'person',
      'import',
      file('many.csv', lines.join('\n')),
    );
    expect({ created: report.created, existing: report.existing, invalid: report.invalid }).toEqual({
      created: 448,
      existing: 2,
      invalid: 0,
    });
    expect(report.rows.map((r) => r.line)).toEqual(Array.from({ length: 450 }, (_, i) => i + 2));
    expect(report.rows[120]).toMatchObject({ email: 'ana@example.org', status: 'exists', id: ana.id });
    expect(report.rows[333]).toMatchObject({ email: 'gus@example.org', status: 'exists' });
    await withDb(async (db) => {
      expect(await db.prisma.person.count({ where: { email: { startsWith: 'm' } } })).toBe(448);
      expect(await db.prisma.auditEvent.count({ where: { action: 'person.added', actor: 'cli' } })).toBeGreaterThan(
        448,
      );
    });
  });

  it('adds an import batch all or nothing: an address taken meanwhile stops the whole batch', async () => {
    await withDb(async (db) => {
      const before = await db.prisma.person.count();
      const audited = await db.prisma.auditEvent.count();
      await expect(
        createPeople(db, [{ email: 'new1@example.org' }, { email: 'ANA@example.org' }], {
          actor: 'cli',
          via: 'import',
        }),
      ).rejects.toBeInstanceOf(PersonExistsError);
      expect(await db.prisma.person.count()).toBe(before);
      expect(await db.prisma.auditEvent.count()).toBe(audited);
    });
  });

  let carl: { person_id: string; url: string };

  it('invite --email creates the person at once; consent works for them right after', async () => {
    expectOneLineError(
      await palmid(env, 'consent', '--person', 'carl@example.org', '--tenant', 'office'),
      /no person with email carl@example\.org \(add them first: palmid person add --email carl@example\.org\)/,
    );
    expect((await palmid(env, 'tenant', 'add', '--id', 'office', '--name', 'Office')).code).toBe(0);
    carl = await json('invite', '--email', 'Carl@Example.org');
    expect(carl).toMatchObject({
      email: 'carl@example.org',
      person_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      person_created: true,
    });
    // A second invitation for the same address is for the same person.
    const again = await json<{ person_id: string; person_created: boolean }>('invite', '--email', 'carl@example.org');
    expect(again).toMatchObject({ person_id: carl.person_id, person_created: false });
    // Without an address, nobody is created.
    expect(await json('invite')).toMatchObject({ email: null, person_id: null, person_created: false });

    const consent = await palmid(env, 'consent', '--person', 'carl@example.org', '--tenant', 'office', '--accept');
    expect(consent.code, consent.stderr).toBe(0);
    const shown = await json<Record<string, unknown>>('person', 'show', carl.person_id);
    expect(shown).toMatchObject({
      email: 'carl@example.org',
      name: null,
      passkeys: [],
      pendingInvitations: 2,
      consents: [{ tenant: 'office', noticeVersion: 1, withdrawnAt: null }],
    });
    const atOffice = await json<PersonJson[]>('person', 'list', '--tenant', 'office');
    expect(atOffice.map((p) => p.email)).toEqual(['carl@example.org']);
    expectOneLineError(await palmid(env, 'person', 'list', '--tenant', 'nowhere'), /^palmid: unknown tenant nowhere$/);
  });

  it("the invitation's passkey is added to that person, not to a second one", async () => {
    const rp = relyingPartyFor('http://localhost:4455');
    const token = carl.url.split('/invite/')[1]!;
    await withDb(async (db) => {
      const start = await startRegistration(db, rp, { token, email: 'someone-else@example.org', name: 'Carl' });
      const response = new SoftAuthenticator().create(start.publicKey, rp.origin);
      const done = await finishRegistration(db, rp, { token, ceremony: start.ceremony, response });
      expect(done).toEqual({ personId: carl.person_id, role: 'user' });
      expect(await db.prisma.person.count({ where: { email: { contains: 'carl' } } })).toBe(1);
      expect(await db.prisma.person.count({ where: { email: 'someone-else@example.org' } })).toBe(0);
    });
    const shown = await json<{ name: string; passkeys: unknown[]; pendingInvitations: number }>(
      'person',
      'show',
      'carl@example.org',
    );
    expect(shown.name).toBe('Carl'); // taken from the invitation page, since none was set
    expect(shown.passkeys).toHaveLength(1);
    expect(shown.pendingInvitations).toBe(1);
  });

  it('an invitation for someone who already has a passkey needs --add-passkey', async () => {
    expectOneLineError(
      await palmid(env, 'invite', '--email', 'carl@example.org'),
      /^palmid: carl@example\.org already has an account \(1 passkey\(s\)\); the link would let whoever holds it into that account; .*--add-passkey/,
      2,
    );
    await withDb(async (db) =>
      expect(await db.prisma.invitation.count({ where: { email: 'carl@example.org', usedAt: null } })).toBe(1),
    );
    const run = await palmid(env, 'invite', '--email', 'carl@example.org', '--add-passkey');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^adds a passkey to carl@example\.org, who has 1 passkey\(s\)$/m);
    expect(run.stdout).not.toMatch(/person .* added/);
  });

  it('an invitation without email never adds its passkey to a person who appeared since its start', async () => {
    const rp = relyingPartyFor('http://localhost:4455');
    await withDb(async (db) => {
      const { token } = await createInvitation(db, { role: 'user', ttlSeconds: 600 });
      const start = await startRegistration(db, rp, { token, email: 'Race.Fay@example.org', name: 'Fay' });
      const fay = await createPerson(db, { email: 'race.fay@example.org', role: 'user' });
      const response = new SoftAuthenticator().create(start.publicKey, rp.origin);
      await expect(finishRegistration(db, rp, { token, ceremony: start.ceremony, response })).rejects.toMatchObject({
        message: expect.stringMatching(/An account with this email already exists/),
      });
      expect(await db.prisma.passkey.count({ where: { personId: fay.id } })).toBe(0);
      expect(await db.prisma.person.count({ where: { email: 'race.fay@example.org' } })).toBe(1);
      // Nothing of the failed redemption stayed: the link still works (for another address).
      const again = await startRegistration(db, rp, { token, email: 'race.gus@example.org' });
      const done = await finishRegistration(db, rp, {
        token,
        ceremony: again.ceremony,
        response: new SoftAuthenticator().create(again.publicKey, rp.origin),
      });
      expect(await db.prisma.person.findUnique({ where: { id: done.personId } })).toMatchObject({
        email: 'race.gus@example.org',
      });
    });
  });

  it('the name typed at registration follows the rules for names', async () => {
    const rp = relyingPartyFor('http://localhost:4455');
    await withDb(async (db) => {
      const { token } = await createInvitation(db, { role: 'user', ttlSeconds: 600 });
      for (const name of ['Hal\u0007', 'H'.repeat(101)])
        await expect(startRegistration(db, rp, { token, email: 'hal@example.org', name })).rejects.toMatchObject({
          message: expect.stringMatching(/^The name: a name (cannot contain control characters|has at most 100)/),
        });
      await expect(
        startRegistration(db, rp, { token, email: 'hal@example.org', name: '  Hal  ' }),
      ).resolves.toBeDefined();
    });
  });

  it('person remove: asks first, then erases the person and everything that refers to them', async () => {
    expectOneLineError(
      await palmid(env, 'person', 'remove', 'carl@example.org'),
      /^palmid: removing carl@example\.org erases all their data; confirm with --yes$/,
      2,
    );
    // A session and a token of Carl's, and one of Ana's that must stay.
    await withDb(async (db) => {
      for (const [id, accountId] of [
        ['s1', carl.person_id],
        ['s2', ana.id],
      ])
        await db.query(`INSERT INTO oidc_payload (type, id, payload) VALUES ('Session', $1, $2::jsonb)`, [
          id,
          JSON.stringify({ accountId, loginTs: 1 }),
        ]);
      await db.query(`INSERT INTO oidc_payload (type, id, payload) VALUES ('Interaction', 'i1', $1::jsonb)`, [
        JSON.stringify({ session: { accountId: carl.person_id } }),
      ]);
      // Failure counts against Carl (by id, and by his address from a browser), and one of Ana's.
      for (const subject of [
        personSubject(carl.person_id),
        hintedPalmSubject('carl@example.org', '203.0.113.9'),
        personSubject(ana.id),
      ])
        await db.query(`INSERT INTO attempt_throttle (subject, failures) VALUES ($1, 3)`, [subject]);
      // A card in the vault, with the key the commands use.
      const master = loadMasterKey({
        envValue: env.PALMID_MASTER_KEY,
        dataDir,
        keyStoreDir: `${dataDir}-keys`,
        embedded: kind.name === 'pglite',
      });
      const vault = new LocalCardVault(db, master.derive('card-vault'));
      const card = await linkCard(db, vault, carl.person_id, {
        number: '4111111111111111',
        expMonth: 12,
        expYear: 2099,
      });
      expect(await vault.reveal(card.vaultToken)).toMatchObject({ number: '4111111111111111' });
    });

    const removed = await json<Record<string, unknown>>('person', 'remove', carl.person_id, '--yes');
    expect(removed).toEqual({
      id: carl.person_id,
      email: 'carl@example.org',
      removed: true,
      palmReferences: 0,
      passkeys: 1,
      consents: 1,
      cards: 1,
      invitations: 3, // the used one, the pending one and the --add-passkey one
    });
    expectOneLineError(await palmid(env, 'person', 'show', 'carl@example.org'), /no person with email/);
    await withDb(async (db) => {
      expect(await db.prisma.person.findUnique({ where: { id: carl.person_id } })).toBeNull();
      expect(await db.prisma.passkey.count({ where: { personId: carl.person_id } })).toBe(0);
      expect(await db.prisma.consent.count({ where: { personId: carl.person_id } })).toBe(0);
      expect(await db.prisma.invitation.count({ where: { email: 'carl@example.org' } })).toBe(0);
      expect(await db.prisma.paymentCard.count({ where: { personId: carl.person_id } })).toBe(0);
      expect(await db.prisma.vaultEntry.count()).toBe(0);
      const payloads = await db.query<{ id: string }>(`SELECT id FROM oidc_payload ORDER BY id`);
      expect(payloads.map((p) => p.id)).toEqual(['s2']);
      const counts = await db.query<{ subject: string }>(`SELECT subject FROM attempt_throttle`);
      expect(counts.map((c) => c.subject)).toEqual([personSubject(ana.id)]);
      const audit = await db.prisma.auditEvent.findMany({ where: { subject: carl.person_id } });
      expect(audit.map((e) => e.action)).toEqual(
        expect.arrayContaining(['person.added', 'palm.erased', 'person.removed']),
      );
    });

    // The address can be used again, for a new person.
    const back = await json<PersonJson>('person', 'add', '--email', 'carl@example.org');
    expect(back.id).not.toBe(carl.person_id);
    const text = await palmid(env, 'person', 'remove', 'carl@example.org', '--yes');
    expect(text.stdout).toMatch(/^carl@example\.org removed: 0 palm reference\(s\) erased, 0 passkey\(s\)/);
  });

  it('person remove: refuses the last administrator without --force; no link for them without --add-passkey', async () => {
    const ivy = await json<PersonJson>('person', 'add', '--email', 'ivy@example.org');
    await withDb((db) => db.prisma.person.update({ where: { id: ivy.id }, data: { role: 'admin' } }));
    expectOneLineError(
      await palmid(env, 'invite', '--email', 'ivy@example.org'),
      /^palmid: ivy@example\.org already has an account \(0 passkey\(s\), administrator\)/,
      2,
    );
    expectOneLineError(
      await palmid(env, 'person', 'remove', 'ivy@example.org', '--yes'),
      /^palmid: ivy@example\.org is the last administrator; remove them anyway with --force$/,
      2,
    );
    await withDb(async (db) => expect(await db.prisma.person.count({ where: { id: ivy.id } })).toBe(1));
    const removed = await json<{ removed: boolean }>('person', 'remove', 'ivy@example.org', '--yes', '--force');
    expect(removed.removed).toBe(true);
  });

  // PostgreSQL only: the embedded database has one connection, so nothing can write meanwhile.
  it.skipIf(kind.name !== 'postgres')(
    'person remove: a data key being written meanwhile stops the removal (the person row is locked first)',
    async () => {
      const jo = await json<PersonJson>('person', 'add', '--email', 'jo@example.org');
      const enrolment = new pg.Client({ connectionString: testDb!.url! });
      await enrolment.connect();
      try {
        // An enrolment in flight: its data key written, not yet committed.
        await enrolment.query('BEGIN');
        await enrolment.query(`INSERT INTO person_data_key (person_id, wrapped_key) VALUES ($1, '\\x00')`, [jo.id]);
        const vault = { name: 'none', remove: async () => {} } as unknown as CardVault;
        const removal = deletePerson(testDb!.db, jo.id, { vault, actor: 'test' });
        removal.catch(() => {});
        await new Promise((r) => setTimeout(r, 500));
        await enrolment.query('COMMIT');
        // Without the lock the removal would wait on the key's row lock only at its DELETE, then
        // cascade the committed key away without destroying it.
        await expect(removal).rejects.toThrow(/palm data was enrolled while the person was being removed/);
      } finally {
        await enrolment.end();
      }
      expect(await testDb!.db.prisma.personDataKey.count({ where: { personId: jo.id } })).toBe(1);
      expect(await testDb!.db.prisma.person.count({ where: { id: jo.id } })).toBe(1);
      await testDb!.db.prisma.personDataKey.delete({ where: { personId: jo.id } });
    },
  );

  it.skipIf(!havePalms)(
    'person remove: a palm-only person is enrolled and identified, and removal erases the palm with its key',
    async () => {
      const sample = (palm: number, s: number) =>
        path.join(PALMS, `${String(palm).padStart(3, '0')}_${String(s).padStart(2, '0')}.bmp`);
      const dora = await json<PersonJson>('person', 'add', '--email', 'dora@example.org');
      expect((await palmid(env, 'consent', '--person', dora.email, '--tenant', 'office', '--accept')).code).toBe(0);
      const enrol = await palmid(
        env,
        'enroll',
        '--person',
        dora.email,
        '--tenant',
        'office',
        '--palm',
        'right',
        '--kind',
        'roi',
        ...[1, 2, 3].map((s) => sample(1, s)),
      );
      expect(enrol.code, enrol.stderr).toBe(0);
      const found = await json<{ match: boolean; person: string }>(
        'identify',
        '--tenant',
        'office',
        '--kind',
        'roi',
        sample(1, 4),
      );
      expect(found).toMatchObject({ match: true, person: 'dora@example.org' });
      const shown = await json<{ palms: Array<Record<string, unknown>>; passkeys: unknown[] }>(
        'person',
        'show',
        dora.email,
      );
      expect(shown.passkeys).toEqual([]);
      expect(shown.palms).toEqual([
        { tenant: 'office', hand: 'right', enrolledAt: expect.any(String), lastUsedAt: expect.any(String) },
      ]);
      expect(JSON.stringify(shown)).not.toMatch(/template|embedding|code|quality/i);
      const listed = await json<Array<{ email: string; palms: number }>>('person', 'list', '--tenant', 'office');
      expect(listed).toEqual([expect.objectContaining({ email: 'dora@example.org', palms: 1 })]);

      const removed = await json<{ palmReferences: number }>('person', 'remove', dora.email, '--yes');
      expect(removed.palmReferences).toBe(1);
      await withDb(async (db) => {
        expect(await db.prisma.palmReference.count({ where: { personId: dora.id } })).toBe(0);
        expect(await db.prisma.personDataKey.count({ where: { personId: dora.id } })).toBe(0);
        const erased = await db.prisma.auditEvent.findFirstOrThrow({
          where: { action: 'palm.erased', subject: dora.id },
        });
        expect(erased.detail).toMatchObject({ references: 1, bucketsRotated: 1 });
      });
      const after = await json<{ match: boolean }>('identify', '--tenant', 'office', '--kind', 'roi', sample(1, 4));
      expect(after.match).toBe(false);
    },
    300_000,
  );
});
