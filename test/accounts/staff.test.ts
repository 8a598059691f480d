import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import {
  addStaff,
  findMembership,
  listStaff,
  mayRunStation,
  removeStaff,
  stationTenants,
} from '../../src/accounts/staff.js';
import { TenantError, addTenant, findActiveConsent, recordConsent } from '../../src/accounts/tenants.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/server.js';

describe.each(databaseKinds)('tenant staff and consent provenance ($name)', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(kind);
    await migrate(t.db);
    await addTenant(t.db, { id: 'shop-a', name: 'Shop A' });
    await addTenant(t.db, { id: 'shop-b', name: 'Shop B' });
  });
  afterAll(async () => t?.dispose());

  it('scopes the station to the tenants a person is staff of; administrators run any', async () => {
    const clerk = await createPerson(t.db, { email: 'clerk@example.org', name: 'Clerk', role: 'user' });
    const root = await createPerson(t.db, { email: 'root@example.org', role: 'admin' });
    const outsider = await createPerson(t.db, { email: 'out@example.org', role: 'user' });

    const added = await addStaff(t.db, { personId: clerk.id, tenantId: 'shop-a', actor: 'cli' });
    expect(added).toMatchObject({ created: true, membership: { role: 'staff', tenantName: 'Shop A' } });
    expect(await mayRunStation(t.db, clerk, 'shop-a')).toBe(true);
    expect(await mayRunStation(t.db, clerk, 'shop-b')).toBe(false);
    expect(await mayRunStation(t.db, outsider, 'shop-a')).toBe(false);
    expect(await mayRunStation(t.db, root, 'shop-b')).toBe(true);
    expect(await mayRunStation(t.db, root, 'no-such-shop')).toBe(false);
    expect(await stationTenants(t.db, clerk)).toEqual([{ id: 'shop-a', name: 'Shop A' }]);
    expect((await stationTenants(t.db, root)).map((x) => x.id)).toEqual(['shop-a', 'shop-b']);
    expect(await stationTenants(t.db, outsider)).toEqual([]);
    // Nobody's id: refused with the service's own error, not the database's.
    await expect(addStaff(t.db, { personId: 'nobody', tenantId: 'shop-a' })).rejects.toBeInstanceOf(TenantError);

    // Adding again changes the role, it does not duplicate the membership.
    expect(await addStaff(t.db, { personId: clerk.id, tenantId: 'shop-a', role: 'admin' })).toMatchObject({
      created: false,
      membership: { role: 'admin' },
    });
    expect(await listStaff(t.db, { tenantId: 'shop-a' })).toHaveLength(1);
    await expect(addStaff(t.db, { personId: clerk.id, tenantId: 'nowhere' })).rejects.toBeInstanceOf(TenantError);
    await expect(
      addStaff(t.db, { personId: clerk.id, tenantId: 'shop-a', role: 'owner' as never }),
    ).rejects.toBeInstanceOf(TenantError);

    expect(await removeStaff(t.db, { personId: clerk.id, tenantId: 'shop-a', actor: 'cli' })).toBe(true);
    expect(await removeStaff(t.db, { personId: clerk.id, tenantId: 'shop-a' })).toBe(false);
    expect(await findMembership(t.db, clerk.id, 'shop-a')).toBeNull();
    expect(await mayRunStation(t.db, clerk, 'shop-a')).toBe(false);
    const actions = (await t.db.prisma.auditEvent.findMany({ where: { subject: clerk.id } })).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['staff.added', 'staff.role_changed', 'staff.removed']));
  });

  it('records who recorded a consent, how and where', async () => {
    const clerk = await createPerson(t.db, { email: 'clerk2@example.org', role: 'user' });
    const ana = await createPerson(t.db, { email: 'ana@example.org', role: 'user' });
    const byOperator = await recordConsent(t.db, ana.id, 'shop-a', 1);
    expect(byOperator).toMatchObject({ method: 'operator', recordedById: null, station: null });
    const atStation = await recordConsent(t.db, ana.id, 'shop-a', 1, {
      method: 'station',
      recordedById: clerk.id,
      station: '  Desk 2  ',
    });
    expect(atStation).toMatchObject({ method: 'station', recordedById: clerk.id, station: 'Desk 2' });
    expect(await findActiveConsent(t.db, ana.id, 'shop-a')).toMatchObject({ id: atStation.id });
    const event = await t.db.prisma.auditEvent.findFirst({
      where: { action: 'consent.granted', actor: ana.id },
      orderBy: { id: 'desc' },
    });
    expect(event?.detail).toMatchObject({
      noticeVersion: 1,
      method: 'station',
      recordedBy: clerk.id,
      station: 'Desk 2',
    });
    expect(await findActiveConsent(t.db, ana.id, 'shop-b')).toBeNull();
  });
});
