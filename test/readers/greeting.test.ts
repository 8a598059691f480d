import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant } from '../../src/accounts/tenants.js';
import { addReader, ReaderError } from '../../src/readers/registry.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

/**
 * How much of a person's name a reader's (public) screen gets (src/readers/greeting.ts), read
 * through the provider's userinfo endpoint as a reader's access token reads it: the rule is the
 * server's, whatever scope the reader asks for.
 */
describe('reader greeting (palmid_greeting)', () => {
  let server: TestServer;
  let anaId: string;
  let boId: string;

  beforeAll(async () => {
    server = await startTestServer(databaseKinds[0]!);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    anaId = (await createPerson(server.db, { email: 'ana@example.org', name: 'Ana Maria Lopes', role: 'user' })).id;
    boId = (await createPerson(server.db, { email: 'bo@example.org', role: 'user' })).id;
  }, 60_000);
  afterAll(async () => server?.stop());

  /** The userinfo a client's access token (scope openid email profile) reads for a person. */
  async function userinfo(clientId: string, accountId: string) {
    const provider = server.provider();
    const client = await provider.Client.find(clientId);
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope('openid email profile');
    const grantId = await grant.save();
    const token = new provider.AccessToken({ accountId, client, grantId, scope: 'openid email profile' });
    const value = await token.save();
    const response = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${value}` } });
    expect(response.status).toBe(200);
    return (await response.json()) as Record<string, unknown>;
  }

  it('gives a reader only the first word of the name by default, as given_name', async () => {
    const reader = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Lobby' });
    const info = await userinfo(reader.client_id, anaId);
    expect(info.given_name).toBe('Ana');
    expect(info.name).toBeUndefined();
    expect(JSON.stringify(info)).not.toContain('Lopes');
  });

  it("gives a reader set to 'none' no name, and 'full' the whole name", async () => {
    const none = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Gate', greeting: 'none' });
    const noneInfo = await userinfo(none.client_id, anaId);
    expect(noneInfo.name).toBeUndefined();
    expect(noneInfo.given_name).toBeUndefined();
    const full = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Desk', greeting: 'full' });
    expect(await userinfo(full.client_id, anaId)).toMatchObject({ name: 'Ana Maria Lopes' });
  });

  it('gives a reader no name for a person without one (the kiosk then says "Welcome" alone)', async () => {
    const reader = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Hall' });
    const info = await userinfo(reader.client_id, boId);
    expect(info.name).toBeUndefined();
    expect(info.given_name).toBeUndefined();
  });

  it('leaves relying parties (not readers) the full name', async () => {
    const client = await server.addClient({ name: 'Portal' });
    expect(await userinfo(client.client_id, anaId)).toMatchObject({ name: 'Ana Maria Lopes' });
  });

  it('refuses an unknown greeting', async () => {
    await expect(
      addReader(server.db, server.provider(), { tenantId: 'office', name: 'Bad', greeting: 'nickname' as never }),
    ).rejects.toThrow(ReaderError);
  });
});
