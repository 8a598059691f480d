import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCardVault } from '../../adapters/card-vault.js';
import { CardError, cardBrand, checkCard, linkCard, luhnValid } from '../../src/accounts/cards.js';
import { createPerson } from '../../src/accounts/people.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/server.js';

const VISA = '4111 1111 1111 1111';

describe('card checks', () => {
  it('validates numbers with Luhn and knows the brands', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(cardBrand('5555555555554444')).toBe('mastercard');
    expect(cardBrand('2223003122003222')).toBe('mastercard');
    expect(cardBrand('378282246310005')).toBe('amex');
    expect(cardBrand('6011111111111117')).toBe('discover');
  });

  it('refuses bad numbers and expired cards without repeating the number', () => {
    const now = new Date(Date.UTC(2026, 10, 28));
    for (const [input, reason] of [
      [{ number: '4111111111111112', expMonth: 1, expYear: 2030 }, 'invalid_number'],
      [{ number: '41111', expMonth: 1, expYear: 2030 }, 'invalid_number'],
      [{ number: VISA, expMonth: 10, expYear: 2026 }, 'expired'],
      [{ number: VISA, expMonth: 13, expYear: 2030 }, 'invalid_expiry'],
    ] as const) {
      try {
        checkCard(input, now);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(CardError);
        expect((err as CardError).reason).toBe(reason);
        expect((err as Error).message).not.toMatch(/\d{6,}/);
      }
    }
    // Valid through the end of the expiry month.
    expect(checkCard({ number: VISA, expMonth: 11, expYear: 26 }, now)).toMatchObject({ brand: 'visa', last4: '1111' });
  });
});

describe.each(databaseKinds)('linking a card ($name)', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(kind);
    await migrate(t.db);
  });
  afterAll(async () => t?.dispose());

  it('stores only the vault token, brand and last four; the vault keeps the number sealed', async () => {
    const person = await createPerson(t.db, { email: 'card@example.org', role: 'user' });
    const vault = new LocalCardVault(t.db, randomBytes(32));
    const linked = await linkCard(t.db, vault, person.id, { number: VISA, expMonth: 12, expYear: 2030 });
    expect(linked).toMatchObject({ brand: 'visa', last4: '1111' });
    expect(linked.vaultToken).toMatch(/^vtok_/);

    const everything = JSON.stringify(
      await Promise.all([
        t.db.query('select * from payment_card'),
        t.db.query(`select encode(ciphertext, 'escape') as c from vault_entry`),
        t.db.query('select * from audit_event'),
      ]),
    );
    expect(everything).not.toContain('4111111111111111');
    expect(everything).not.toContain('411111111111');
    expect(await vault.reveal(linked.vaultToken)).toEqual({ number: '4111111111111111', expMonth: 12, expYear: 2030 });
    // Another key cannot open it.
    await expect(new LocalCardVault(t.db, randomBytes(32)).reveal(linked.vaultToken)).rejects.toThrow();
  });
});

describe('palmid card link / loyalty', () => {
  it('links a card read from standard input and never prints the number', async () => {
    const { palmid } = await import('../support/cli.js');
    const { Readable } = await import('node:stream');
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { openDatabase } = await import('../../src/db/database.js');
    const { TEST_MASTER_KEY } = await import('../support/server.js');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-card-'));
    const env = { PALMID_DATA_DIR: dataDir, PALMID_MASTER_KEY: TEST_MASTER_KEY, LOG_LEVEL: 'trace' };
    try {
      const db = await openDatabase({ dataDir });
      await migrate(db);
      await createPerson(db, { email: 'ana@example.org', role: 'user' });
      await db.close();
      const stdin = Object.getOwnPropertyDescriptor(process, 'stdin')!;
      Object.defineProperty(process, 'stdin', { value: Readable.from(['5555 5555 5555 4444\n']), configurable: true });
      let run;
      try {
        run = await palmid(env, 'card', 'link', '--person', 'ana@example.org', '--exp', '12/30', '--json');
      } finally {
        Object.defineProperty(process, 'stdin', stdin);
      }
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ brand: 'mastercard', last4: '4444' });
      expect(run.stdout + run.stderr).not.toContain('5555555555554444');
      const tenant = await palmid(env, 'tenant', 'add', '--id', 'club', '--name', 'Club');
      expect(tenant.code).toBe(0);
      const loyalty = await palmid(
        env,
        'loyalty',
        '--person',
        'ana@example.org',
        '--tenant',
        'club',
        '--number',
        'CLUB-1234',
      );
      expect(loyalty.code, loyalty.stderr).toBe(0);
      const bad = await palmid(env, 'loyalty', '--person', 'ana@example.org', '--tenant', 'club', '--number', 'x');
      expect(bad.code).not.toBe(0);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
