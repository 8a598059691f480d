/**
 * `palmid audit list|verify|head` on the embedded database: filters, JSON and CSV, and a changed
 * event found by `verify` (exit 1, the first broken link named).
 */
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../../src/audit/audit.js';
import { recordOutcome } from '../../src/biometrics/recognitionStats.js';
import { type CommandContext, serverContext } from '../../src/cli/context.js';
import { migrate } from '../../src/db/migrate.js';
import { parseMasterKey } from '../../src/crypto/masterKey.js';
import { createPerson } from '../../src/accounts/people.js';
import { palmid } from '../support/cli.js';
import { createTestDatabase, TEST_MASTER_KEY, type TestDatabase } from '../support/server.js';

describe('palmid audit', () => {
  let testDb: TestDatabase;
  // Commands run on an open database, as when `palmid serve` runs them (no reopening per command).
  const run = (...args: string[]) =>
    serverContext.run({ db: testDb.db, master: parseMasterKey(TEST_MASTER_KEY) } as CommandContext, () =>
      palmid({ LOG_LEVEL: 'silent' }, ...args),
    );

  beforeAll(async () => {
    testDb = await createTestDatabase({ name: 'pglite' });
    const db = testDb.db;
    await migrate(db);
    await audit(db, {
      action: 'signin.palm',
      actor: 'reader-1',
      subject: 'person-a',
      detail: { tenant: 'shop', reader: 'reader-1' },
    });
    await audit(db, { action: 'signin.passkey', actor: 'person-b', subject: 'person-b' });
    await audit(db, { action: 'consent.granted', actor: 'person-a', subject: 'shop', detail: { noticeVersion: 1 } });
    await audit(db, { action: 'person.added', actor: 'cli', subject: '=HYPERLINK("x")' });
  });
  afterAll(async () => {
    await testDb?.dispose();
  });

  it('lists with filters as JSON, newest first, with paging', async () => {
    const all = JSON.parse((await run('audit', 'list', '--json')).stdout);
    expect(all.events.map((e: { action: string }) => e.action).slice(0, 4)).toEqual([
      'person.added',
      'consent.granted',
      'signin.passkey',
      'signin.palm',
    ]);
    const person = JSON.parse((await run('audit', 'list', '--person', 'person-a', '--json')).stdout);
    expect(person.events.map((e: { action: string }) => e.action)).toEqual(['consent.granted', 'signin.palm']);
    const tenant = JSON.parse((await run('audit', 'list', '--tenant', 'shop', '--json')).stdout);
    expect(tenant.events).toHaveLength(2);
    const signins = JSON.parse(
      (await run('audit', 'list', '--action', 'signin.*', '--reader', 'reader-1', '--json')).stdout,
    );
    expect(signins.events.map((e: { subject: string }) => e.subject)).toEqual(['person-a']);
    const first = JSON.parse((await run('audit', 'list', '--limit', '1', '--json')).stdout);
    expect(first.events).toHaveLength(1);
    const second = JSON.parse((await run('audit', 'list', '--limit', '1', '--before', first.next, '--json')).stdout);
    expect(second.events[0].action).toBe('consent.granted');
    const future = JSON.parse((await run('audit', 'list', '--since', '2999-01-01', '--json')).stdout);
    expect(future.events).toEqual([]);
    expect((await run('audit', 'list', '--since', 'yesterday')).code).toBe(1);
  });

  it('exports CSV that a spreadsheet cannot run as a formula', async () => {
    const csv = (await run('audit', 'list', '--csv', '--action', 'person.*')).stdout;
    const rows = parse(csv, { columns: true }) as Array<Record<string, string>>;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.subject).toBe(`'=HYPERLINK("x")`);
    expect(rows[0]!.seq).toMatch(/^\d+$/);
  });

  it('verifies the chain, and names the first broken link once an event is changed', async () => {
    const intact = await run('audit', 'verify');
    expect(intact.code, intact.stderr).toBe(0);
    expect(intact.stdout).toMatch(/audit chain intact: \d+ events/);
    const head = (await run('audit', 'head')).stdout.trim();
    expect(head).toMatch(/^\d+:[0-9a-f]{64}$/);
    expect((await run('audit', 'verify', '--anchor', head)).code).toBe(0);

    const seq = await (async (db) => {
      const row = await db.prisma.auditEvent.findFirst({ where: { action: 'signin.passkey' } });
      await db.prisma.$executeRawUnsafe('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update');
      await db.prisma.$executeRawUnsafe(`UPDATE audit_event SET subject = 'person-c' WHERE id = ${row!.id}`);
      return row!.seq!;
    })(testDb.db);
    const broken = await run('audit', 'verify');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(new RegExp(`BROKEN .*event ${seq} \\(id \\d+\\) was changed`));
    const json = JSON.parse((await run('audit', 'verify', '--json')).stdout);
    expect(json).toMatchObject({ ok: false, broken: { kind: 'edited', seq: String(seq) } });
    expect((await run('audit', 'verify', '--anchor', 'nonsense')).code).toBe(1);
  });

  it('enters, lists, carries out and gives the receipt of a data-subject request (palmid request)', async () => {
    const person = await createPerson(testDb.db, { email: 'dsr@example.org', role: 'user' });
    const added = await run('request', 'add', '--person', 'dsr@example.org', '--kind', 'erasure', '--json');
    expect(added.code, added.stderr).toBe(0);
    const request = JSON.parse(added.stdout);
    expect(request).toMatchObject({ person: person.id, kind: 'erasure', status: 'open', source: 'cli' });
    expect((await run('request', 'add', '--person', 'dsr@example.org', '--kind', 'withdrawal')).code).toBe(1);
    expect((await run('request', 'add', '--person', 'dsr@example.org', '--kind', 'nonsense')).code).toBe(2);
    const open = JSON.parse((await run('request', 'list', '--status', 'open', '--json')).stdout);
    expect(open.map((r: { id: string }) => r.id)).toEqual([request.id]);
    expect((await run('request', 'receipt', request.id)).code).toBe(1); // still open

    const done = await run('request', 'carry-out', request.id, '--json');
    expect(done.code, done.stderr).toBe(0);
    const { receipt, sha256 } = JSON.parse(done.stdout);
    expect(receipt).toMatchObject({ request: request.id, kind: 'erasure', status: 'done', handledBy: 'cli' });
    expect(receipt.outcome).toMatch(/account erased/);
    expect(JSON.parse((await run('request', 'receipt', request.id)).stdout).sha256).toBe(sha256);
    expect((await run('person', 'show', 'dsr@example.org')).code).not.toBe(0);
    const chain = JSON.parse((await run('audit', 'list', '--action', 'request.*', '--json')).stdout);
    expect(chain.events.map((e: { action: string }) => e.action)).toEqual(['request.completed', 'request.received']);
  });

  it('shows recognition health per day as JSON (palmid health)', async () => {
    await recordOutcome(testDb.db, {
      tenantId: 'shop',
      source: 'reader-1',
      channel: 'reader',
      outcome: 'matched',
      margin: 0.25,
    });
    await recordOutcome(testDb.db, {
      tenantId: 'shop',
      source: 'reader-1',
      channel: 'reader',
      outcome: 'unusable:too_dark',
    });
    const run1 = await run('health', '--tenant', 'shop', '--since', '2d', '--json');
    expect(run1.code, run1.stderr).toBe(0);
    const [today] = JSON.parse(run1.stdout);
    expect(today).toMatchObject({ attempts: 2, matched: 1, unusable: { too_dark: 1 }, marginMin: 0.25 });
    expect(JSON.parse((await run('health', '--tenant', 'other', '--json')).stdout)).toEqual([]);
    expect((await run('health', '--by', 'week')).code).toBe(2);
  });
});
