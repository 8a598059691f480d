import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import {
  TenantError,
  addTenant,
  currentNotice,
  hasActiveConsent,
  recordConsent,
  withdrawConsent,
} from '../../src/accounts/tenants.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/server.js';

describe.each(databaseKinds)('tenants and consent ($name)', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(kind);
    await migrate(t.db);
  });
  afterAll(async () => t?.dispose());

  it('creates a tenant with a versioned notice and validates its settings', async () => {
    await addTenant(t.db, { id: 'office', name: 'Office', retentionDays: 365 });
    const notice = await currentNotice(t.db, 'office');
    expect(notice.version).toBe(1);
    expect(notice.text).toMatch(/365 days/);
    await expect(addTenant(t.db, { id: 'office', name: 'Again' })).rejects.toBeInstanceOf(TenantError);
    await expect(addTenant(t.db, { id: 'Bad Id', name: 'x' })).rejects.toBeInstanceOf(TenantError);
    await expect(addTenant(t.db, { id: 'long', name: 'x', retentionDays: 2000 })).rejects.toThrow(/retention/);
  });

  it('records consent per tenant with the notice version, and withdraws it', async () => {
    await addTenant(t.db, { id: 'stadium', name: 'Stadium' });
    const person = await createPerson(t.db, { email: 'fan@example.org', role: 'user' });
    await expect(recordConsent(t.db, person.id, 'stadium', 2)).rejects.toThrow(/notice changed/);
    const consent = await recordConsent(t.db, person.id, 'stadium', 1);
    expect(consent.noticeVersion).toBe(1);
    expect(consent.grantedAt).toBeInstanceOf(Date);
    expect(await hasActiveConsent(t.db, person.id, 'stadium')).toBe(true);
    expect(await hasActiveConsent(t.db, person.id, 'office')).toBe(false);
    await withdrawConsent(t.db, person.id, 'stadium');
    expect(await hasActiveConsent(t.db, person.id, 'stadium')).toBe(false);
    // The record of the consent stays (with its withdrawal time).
    expect(await t.db.prisma.consent.count({ where: { personId: person.id, withdrawnAt: { not: null } } })).toBe(1);
  });
});
