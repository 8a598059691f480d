import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import {
  LIMITS,
  NIST_CONSECUTIVE,
  giveBackToSource,
  hintedPalmSubject,
  personSubject,
  purgeExpiredAttempts,
  reserveAttempt,
  resetHintedPalmCounts,
  takeFromSource,
  targetState,
} from '../../src/throttling/attemptLimits.js';
import { addressPrefix } from '../../src/throttling/sourceAddress.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/server.js';

/** The limits' storage: atomic reservations, NIST's consecutive count, token buckets, purge. */
describe.each(databaseKinds)('attempt limits in the database ($name)', (kind) => {
  let test: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    test = await createTestDatabase(kind);
    db = test.db;
    await migrate(db);
  });
  afterAll(async () => test?.dispose());
  beforeEach(async () => {
    await db.query('DELETE FROM attempt_rate');
    await db.query('DELETE FROM attempt_throttle');
  });

  it('reserves no more than 5 of 60 concurrent attempts at a target, then needs 30 s between attempts, and stops at 50', async () => {
    const subject = personSubject('p1');
    const now = Date.now();
    const verdicts = await Promise.all(
      Array.from({ length: 60 }, () => reserveAttempt(db, subject, NIST_CONSECUTIVE, now)),
    );
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(5);
    expect(verdicts.find((v) => !v.allowed)).toEqual({ allowed: false, locked: false, retryAfterSeconds: 30 });
    // One attempt per 30 s from then on, up to the 50th.
    let t = now;
    for (let n = 6; n <= 50; n++) {
      t += 30_000;
      expect((await reserveAttempt(db, subject, NIST_CONSECUTIVE, t - 1)).allowed).toBe(false);
      expect((await reserveAttempt(db, subject, NIST_CONSECUTIVE, t)).allowed).toBe(true);
    }
    expect(await reserveAttempt(db, subject, NIST_CONSECUTIVE, t + 3_600_000)).toEqual({
      allowed: false,
      locked: true,
    });
    expect(await targetState(db, subject, NIST_CONSECUTIVE, t + 3_600_000)).toEqual({ allowed: false, locked: true });
  });

  it('lets a source spend its burst of concurrent attempts and no more, then one per refill, and takes back what it did not use', async () => {
    const policy = { burst: 10, refillMs: 1_000 };
    const now = Date.now();
    const verdicts = await Promise.all(
      Array.from({ length: 30 }, () => takeFromSource(db, 'address:192.0.2.1', policy, 1, now)),
    );
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(10);
    expect(verdicts.find((v) => !v.allowed)).toEqual({ allowed: false, locked: false, retryAfterSeconds: 1 });
    expect((await takeFromSource(db, 'address:192.0.2.1', policy, 1, now + 999)).allowed).toBe(false);
    expect((await takeFromSource(db, 'address:192.0.2.1', policy, 1, now + 1_000)).allowed).toBe(true);
    // A success gives its attempt back; a fraction of one is a fraction.
    await giveBackToSource(db, 'address:192.0.2.1', policy, 1);
    expect((await takeFromSource(db, 'address:192.0.2.1', policy, 0.5, now + 1_000)).allowed).toBe(true);
    expect((await takeFromSource(db, 'address:192.0.2.1', policy, 0.5, now + 1_000)).allowed).toBe(true);
    expect((await takeFromSource(db, 'address:192.0.2.1', policy, 0.5, now + 1_000)).allowed).toBe(false);
    // Another source has its own bucket.
    expect((await takeFromSource(db, 'address:192.0.2.2', policy, 1, now)).allowed).toBe(true);
  });

  it('purges full buckets and forgotten counts, and keeps a person’s PIN count', async () => {
    const now = Date.now();
    await takeFromSource(db, 'address:192.0.2.9', LIMITS.browserAddress, 1, now);
    await reserveAttempt(db, hintedPalmSubject('ana@example.org', '192.0.2.9'), LIMITS.hintedPalm, now);
    await reserveAttempt(db, personSubject('p2'), LIMITS.pin, now);
    expect(await purgeExpiredAttempts(db, now)).toBe(0);
    expect(await purgeExpiredAttempts(db, now + LIMITS.browserAddress.refillMs)).toBe(1);
    expect(await purgeExpiredAttempts(db, now + LIMITS.hintedPalm.forgetAfterMs)).toBe(1);
    const left = await db.query<{ subject: string }>('SELECT subject FROM attempt_throttle');
    expect(left).toEqual([{ subject: personSubject('p2') }]);
    expect(await db.query('SELECT key FROM attempt_rate')).toEqual([]);
  });

  it('clears a named person’s browser 1:1 counts from every address on unlock, and nobody else’s', async () => {
    const now = Date.now();
    for (const address of ['192.0.2.9', '198.51.100.7', '2001:db8:1:2::5']) {
      await reserveAttempt(db, hintedPalmSubject('ana@example.org', address), LIMITS.hintedPalm, now);
    }
    const bo = hintedPalmSubject('bo@example.org', '192.0.2.9');
    await reserveAttempt(db, bo, LIMITS.hintedPalm, now);
    await reserveAttempt(db, personSubject('p-ana'), NIST_CONSECUTIVE, now);
    await resetHintedPalmCounts(db, 'ana@example.org');
    const left = (await db.query<{ subject: string }>('SELECT subject FROM attempt_throttle ORDER BY subject')).map(
      (r) => r.subject,
    );
    expect(left).toEqual([bo, personSubject('p-ana')].sort());
  });

  it('forgets a hinted-palm count a day after its last failure, even a locked one', async () => {
    const subject = hintedPalmSubject('ana@example.org', '2001:db8:1:2:3:4:5:6');
    let t = Date.now();
    for (let n = 0; n < 50; n++, t += 30_000)
      expect((await reserveAttempt(db, subject, LIMITS.hintedPalm, t)).allowed).toBe(true);
    expect(await reserveAttempt(db, subject, LIMITS.hintedPalm, t)).toEqual({ allowed: false, locked: true });
    expect(
      (await reserveAttempt(db, subject, LIMITS.hintedPalm, t - 30_000 + LIMITS.hintedPalm.forgetAfterMs)).allowed,
    ).toBe(true);
  });
});

describe.skipIf(!databaseKinds.some((k) => k.name === 'postgres'))(
  'attempt limits shared by two instances (PostgreSQL)',
  () => {
    let test: TestDatabase;
    let second: Database;
    beforeAll(async () => {
      test = await createTestDatabase(databaseKinds.find((k) => k.name === 'postgres')!);
      await migrate(test.db);
      second = await openDatabase({ url: test.url!, dataDir: '/tmp' });
    });
    afterAll(async () => {
      await second?.close();
      await test?.dispose();
    });

    it('counts attempts from both handles in one count, concurrently', async () => {
      const handles = [test.db, second];
      const now = Date.now();
      const pins = await Promise.all(
        Array.from({ length: 40 }, (_, i) => reserveAttempt(handles[i % 2]!, personSubject('shared'), LIMITS.pin, now)),
      );
      expect(pins.filter((v) => v.allowed)).toHaveLength(LIMITS.pin.free);
      const reader = await Promise.all(
        Array.from({ length: 80 }, (_, i) => takeFromSource(handles[i % 2]!, 'reader:shared', LIMITS.reader, 1, now)),
      );
      expect(reader.filter((v) => v.allowed)).toHaveLength(LIMITS.reader.burst);
    });
  },
);

describe('source addresses', () => {
  it('counts an IPv4 address alone, an IPv6 address by its /64, and an IPv4-mapped address as IPv4', () => {
    expect(addressPrefix('192.0.2.7')).toBe('192.0.2.7');
    expect(addressPrefix('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressPrefix('2001:db8:aa:bb:1:2:3:4')).toBe(addressPrefix('2001:0db8:00aa:00bb::9'));
    expect(addressPrefix('2001:db8:aa:bb::1')).not.toBe(addressPrefix('2001:db8:aa:bc::1'));
    expect(addressPrefix('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressPrefix('::1')).toBe('0:0:0:0::/64');
  });
});
