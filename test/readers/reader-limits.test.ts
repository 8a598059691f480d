import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { encodePng, synthRoi } from '../../src/palm/devtools/index.js';
import { connectReader, readerSignIn, type ReaderKeyFile, type ReaderSession } from '../../src/readers/client.js';
import { setPin } from '../../src/readers/pin.js';
import { addReader } from '../../src/readers/registry.js';
import { LIMITS, readerSubject } from '../../src/throttling/attemptLimits.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

/** Synthetic palm crops: identity 1 is Ana's, the others belong to nobody enrolled. */
const palm = (id: number, sample: number) => encodePng(synthRoi(id, sample, { seed: 2611 }));

/**
 * Attempt limits at readers: strangers slow a reader and never lock it, wrong PINs count against
 * the person, atomically, whichever readers they come from.
 */
describe.each(databaseKinds)('attempt limits at readers ($name)', (kind) => {
  let server: TestServer;
  let gate: ReaderKeyFile;
  let anaId: string;
  const signIn = (reader: ReaderKeyFile, image: Uint8Array, extra: { pin?: string; session?: ReaderSession } = {}) =>
    readerSignIn({ issuer: server.issuer, reader, images: [image], kind: 'roi', ...extra });

  beforeAll(async () => {
    server = await startTestServer(kind);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    const ana = await createPerson(server.db, { email: 'ana@example.org', role: 'user' });
    anaId = ana.id;
    await recordConsent(server.db, ana.id, 'office', 1);
    await enrolPalm(new BiometricContext(server.db, server.master), {
      personId: ana.id,
      tenantId: 'office',
      hand: 'right',
      captures: [1, 2, 3].map((s) => palm(1, s)),
      kind: 'roi',
    });
    await setPin(server.db, anaId, '4821');
    gate = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Gate 1' });
  }, 120_000);
  afterAll(async () => server?.stop());
  beforeEach(async () => {
    await server.db.query('DELETE FROM attempt_rate');
    await server.db.query('DELETE FROM attempt_throttle');
  });

  it('signs an enrolled person in at a gate after a queue of strangers', async () => {
    for (let id = 100; id < 110; id++)
      expect(await signIn(gate, palm(id, 1))).toMatchObject({ ok: false, error: 'unknown_user_id' });
    expect(await signIn(gate, palm(1, 4))).toMatchObject({ ok: true, sub: anaId });
    expect(
      await server.db.prisma.auditEvent.count({ where: { action: 'signin.palm_unknown', actor: gate.client_id } }),
    ).toBeGreaterThanOrEqual(10);
  });

  it('slows a reader flooded with strangers, for everyone, only until its bucket refills', async () => {
    // The state a flood leaves: the reader's whole burst spent just now.
    const spent = new Date(Date.now() + LIMITS.reader.burst * LIMITS.reader.refillMs);
    await server.db.query(`INSERT INTO attempt_rate (key, refilled_at) VALUES ($1, $2::timestamptz)`, [
      readerSubject(gate.client_id),
      spent.toISOString(),
    ]);
    const slowed = await signIn(gate, palm(1, 5));
    expect(slowed).toMatchObject({ ok: false, error: 'access_denied' });
    expect(slowed.error_description).toMatch(/reader: retry in \d+ s/);
    expect(Number(/retry in (\d+) s/.exec(slowed.error_description!)![1])).toBeLessThanOrEqual(
      LIMITS.reader.refillMs / 1000,
    );
    // One refill later (the clock moved back instead of waiting), the gate works again.
    await server.db.query(
      `UPDATE attempt_rate SET refilled_at = refilled_at - $2::float8 * interval '1 millisecond' WHERE key = $1`,
      [readerSubject(gate.client_id), LIMITS.reader.refillMs],
    );
    expect(await signIn(gate, palm(1, 5))).toMatchObject({ ok: true, sub: anaId });
  });

  it('evaluates 5 of 60 concurrent wrong PINs from two readers, and then refuses the right one during the back-off', async () => {
    const second = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Gate 2' });
    const before = await server.db.prisma.auditEvent.count({ where: { action: 'signin.pin_wrong', subject: anaId } });
    // Each reader discovers the provider once, as a real one does.
    const sessions = [await connectReader(server.issuer, gate), await connectReader(server.issuer, second)];
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        signIn(sessions[i % 2]!.reader, palm(1, 4 + (i % 4)), { pin: '0000', session: sessions[i % 2]! }),
      ),
    );
    expect(results.every((r) => !r.ok)).toBe(true);
    expect(results.filter((r) => r.error === 'invalid_user_code')).toHaveLength(LIMITS.pin.free);
    expect(await server.db.prisma.auditEvent.count({ where: { action: 'signin.pin_wrong', subject: anaId } })).toBe(
      before + LIMITS.pin.free,
    );
    const others = results.filter((r) => r.error !== 'invalid_user_code');
    expect(
      new Set(others.map((r) => r.error)),
      JSON.stringify(others.find((r) => r.error !== 'access_denied')),
    ).toEqual(new Set(['access_denied']));
    const blocked = await signIn(gate, palm(1, 8), { pin: '4821' });
    expect(blocked).toMatchObject({ ok: false, error: 'access_denied' });
    expect(blocked.error_description).toMatch(/person: retry in \d+ s/);
  }, 120_000);

  it('a right PIN clears the count of wrong ones', async () => {
    for (let i = 0; i < 4; i++)
      expect(await signIn(gate, palm(1, 4 + i), { pin: '1111' })).toMatchObject({
        ok: false,
        error: 'invalid_user_code',
      });
    expect(await signIn(gate, palm(1, 8), { pin: '4821' })).toMatchObject({ ok: true, amr: ['palm', 'pin', 'mfa'] });
    expect(await server.db.query('SELECT subject FROM attempt_throttle')).toEqual([]);
  });
});
