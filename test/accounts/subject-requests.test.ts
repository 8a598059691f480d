/**
 * Data-subject requests (#14): the queue (due dates, overdue, closed once), receipts whose hash is
 * kept and chained in the audit log, and each kind carried out end to end — an erasure leaves no
 * palm data, a withdrawal ends palm use at one tenant, an export is handed over, not stored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCardVault } from '../../adapters/card-vault.js';
import { createPerson, findPersonById } from '../../src/accounts/people.js';
import {
  closeSubjectRequest,
  listSubjectRequests,
  openSubjectRequest,
  receiptHash,
  requestReceipt,
  SubjectRequestError,
} from '../../src/accounts/subjectRequests.js';
import { addTenant, hasActiveConsent, recordConsent } from '../../src/accounts/tenants.js';
import { verifyAuditChain } from '../../src/audit/verify.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { carryOutSubjectRequest } from '../../src/biometrics/subjectRequests.js';
import { parseMasterKey } from '../../src/crypto/masterKey.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, databaseKinds, TEST_MASTER_KEY, type TestDatabase } from '../support/server.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/tongji-roi');
const haveData = fs.existsSync(DATA);
const sample = (palm: number, s: number) =>
  fs.readFileSync(path.join(DATA, `${String(palm).padStart(3, '0')}_${String(s).padStart(2, '0')}.bmp`));

describe.each(databaseKinds)('data-subject requests on $name', (kind) => {
  let testDb: TestDatabase;
  let bio: BiometricContext;
  let vault: LocalCardVault;
  beforeAll(async () => {
    testDb = await createTestDatabase(kind);
    await migrate(testDb.db);
    const master = parseMasterKey(TEST_MASTER_KEY);
    bio = new BiometricContext(testDb.db, master);
    vault = new LocalCardVault(testDb.db, master.derive('card-vault'));
    await addTenant(testDb.db, { id: 'shop', name: 'Shop' });
    await addTenant(testDb.db, { id: 'gym', name: 'Gym' });
  });
  afterAll(async () => {
    await testDb?.dispose();
  });
  const db = () => testDb.db;

  /** A consenting person, enrolled at the given tenants when the palm images are here. */
  async function enrolled(email: string, palm: number, tenants: string[]) {
    const person = await createPerson(db(), { email, role: 'user' });
    for (const tenantId of tenants) {
      await recordConsent(db(), person.id, tenantId, 1);
      if (haveData)
        await enrolPalm(bio, {
          personId: person.id,
          tenantId,
          hand: 'right',
          captures: [1, 2, 3].map((s) => sample(palm, s)),
          kind: 'roi',
        });
    }
    return person;
  }
  const palmRows = async (personId: string, tenantId?: string) =>
    db().prisma.palmReference.count({ where: { personId, ...(tenantId ? { tenantId } : {}) } });

  it('queues requests by due date, finds the overdue ones, and closes each once with a receipt', async () => {
    const person = await createPerson(db(), { email: 'queue@example.org', role: 'user' });
    const old = await openSubjectRequest(db(), {
      personId: person.id,
      kind: 'export',
      source: 'staff',
      enteredBy: 'staff-1',
      now: new Date(Date.now() - 40 * 86_400_000),
    });
    const recent = await openSubjectRequest(db(), { personId: person.id, kind: 'export', source: 'account' });
    expect(recent.dueAt.getTime() - recent.receivedAt.getTime()).toBe(30 * 86_400_000);
    const overdue = await listSubjectRequests(db(), { overdueAt: new Date() });
    expect(overdue.map((r) => r.id)).toContain(old.id);
    expect(overdue.map((r) => r.id)).not.toContain(recent.id);
    await expect(openSubjectRequest(db(), { personId: person.id, kind: 'withdrawal', source: 'cli' })).rejects.toThrow(
      SubjectRequestError,
    );

    const closed = await closeSubjectRequest(db(), old.id, {
      status: 'refused',
      outcome: 'identity not confirmed',
      handledBy: 'staff-2',
    });
    expect(closed.receipt).toMatchObject({ request: old.id, status: 'refused', outcome: 'identity not confirmed' });
    expect(receiptHash(requestReceipt(closed.request))).toBe(closed.hash);
    // Closed once: a second close (another staff member at the same time) is refused.
    await expect(
      closeSubjectRequest(db(), old.id, { status: 'done', outcome: 'x', handledBy: 'staff-3' }),
    ).rejects.toThrow(/already refused/);
    const events = await db().prisma.auditEvent.findMany({ where: { action: 'request.refused', subject: person.id } });
    expect(events.map((e) => (e.detail as { receipt: string }).receipt)).toEqual([closed.hash]);
  });

  it('carries out an erasure: the person and their palm data are gone, the request and receipt stay', async () => {
    const ana = await enrolled('ana.dsr@example.org', 1, ['shop', 'gym']);
    if (haveData) expect(await palmRows(ana.id)).toBe(2);
    const request = await openSubjectRequest(db(), {
      personId: ana.id,
      kind: 'erasure',
      source: 'staff',
      enteredBy: 'staff-1',
    });
    const done = await carryOutSubjectRequest(bio, request.id, { vault, handledBy: 'staff-1' });
    expect(done.request.status).toBe('done');
    expect(done.request.outcome).toMatch(/account erased: \d+ palm references/);
    expect(await findPersonById(db(), ana.id)).toBeNull();
    expect(await palmRows(ana.id)).toBe(0);
    expect(await db().prisma.personDataKey.count({ where: { personId: ana.id } })).toBe(0);
    const kept = await listSubjectRequests(db(), { personId: ana.id });
    expect(kept.map((r) => [r.id, r.status, r.receiptHash])).toEqual([[request.id, 'done', done.hash]]);
    // Asked again after the erasure (a letter crossing the first): closed, nothing left.
    const again = await openSubjectRequest(db(), { personId: ana.id, kind: 'export', source: 'cli' });
    const answer = await carryOutSubjectRequest(bio, again.id, { vault, handledBy: 'cli' });
    expect(answer.export).toBeNull();
    expect(answer.request.outcome).toMatch(/already been erased/);
    await expect(carryOutSubjectRequest(bio, request.id, { vault, handledBy: 'cli' })).rejects.toThrow(/already done/);
    expect((await verifyAuditChain(db())).ok).toBe(true);
  });

  it('carries out a withdrawal at one tenant and an export, which is returned and not kept', async () => {
    const bo = await enrolled('bo.dsr@example.org', 2, ['shop', 'gym']);
    const withdrawal = await openSubjectRequest(db(), {
      personId: bo.id,
      kind: 'withdrawal',
      tenantId: 'gym',
      source: 'account',
    });
    await carryOutSubjectRequest(bio, withdrawal.id, { vault, handledBy: 'staff-1' });
    expect(await hasActiveConsent(db(), bo.id, 'gym')).toBe(false);
    expect(await hasActiveConsent(db(), bo.id, 'shop')).toBe(true);
    expect(await palmRows(bo.id, 'gym')).toBe(0);
    if (haveData) expect(await palmRows(bo.id, 'shop')).toBe(1);

    const exportRequest = await openSubjectRequest(db(), { personId: bo.id, kind: 'export', source: 'account' });
    const exported = await carryOutSubjectRequest(bio, exportRequest.id, { vault, handledBy: 'staff-1' });
    expect(exported.export).toMatchObject({ profile: { email: 'bo.dsr@example.org' } });
    expect(JSON.stringify(exported.export)).not.toMatch(/fineTemplate|embedding/);
    const row = await db().prisma.subjectRequest.findUnique({ where: { id: exportRequest.id } });
    expect(JSON.stringify(row)).not.toContain('bo.dsr@example.org');
  });
});
