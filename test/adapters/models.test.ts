import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOidcAdapter } from '../../adapters/oidc-adapter.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/server.js';

// Every model oidc-provider 9 persists through its adapter.
const MODELS = [
  'Session',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'ClientCredentials',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'Interaction',
  'ReplayDetection',
  'PushedAuthorizationRequest',
  'Grant',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
];

describe.each(databaseKinds)('oidc-provider adapter on Prisma ($name)', (kind) => {
  let t: TestDatabase;
  let Adapter: ReturnType<typeof createOidcAdapter>;
  beforeAll(async () => {
    t = await createTestDatabase(kind);
    await migrate(t.db);
    Adapter = createOidcAdapter(t.db);
  });
  afterAll(async () => t?.dispose());

  it.each(MODELS)('stores, finds, consumes and destroys %s', async (model) => {
    const adapter = new Adapter(model);
    const id = `${model}-1`;
    const payload = {
      jti: id,
      kind: model,
      grantId: `grant-${model}`,
      uid: `uid-${model}`,
      userCode: `CODE-${model}`,
      nested: { a: [1, 2] },
    };
    await adapter.upsert(id, payload, 60);
    expect(await adapter.find(id)).toEqual(payload);
    expect(await adapter.findByUid!(`uid-${model}`)).toEqual(payload);
    expect(await adapter.findByUserCode!(`CODE-${model}`)).toEqual(payload);
    // Another model with the same id is a different row.
    expect(await new Adapter(model === 'Session' ? 'Grant' : 'Session').find(id)).toBeUndefined();

    await adapter.upsert(id, { ...payload, nested: { a: [3] } }, 60);
    expect(await adapter.find(id)).toMatchObject({ nested: { a: [3] } });

    await adapter.consume!(id);
    const consumed = await adapter.find(id);
    expect(typeof consumed?.consumed).toBe('number');

    await adapter.destroy(id);
    expect(await adapter.find(id)).toBeUndefined();
  });

  it('revokes everything issued under a grant, whatever the model', async () => {
    const grantId = 'grant-shared';
    for (const model of [
      'AccessToken',
      'RefreshToken',
      'AuthorizationCode',
      'DeviceCode',
      'BackchannelAuthenticationRequest',
    ]) {
      await new Adapter(model).upsert(`${model}-g`, { jti: `${model}-g`, grantId }, 60);
    }
    await new Adapter('AccessToken').upsert('other', { jti: 'other', grantId: 'grant-other' }, 60);
    await new Adapter('AccessToken').revokeByGrantId!(grantId);
    for (const model of [
      'AccessToken',
      'RefreshToken',
      'AuthorizationCode',
      'DeviceCode',
      'BackchannelAuthenticationRequest',
    ]) {
      expect(await new Adapter(model).find(`${model}-g`)).toBeUndefined();
    }
    expect(await new Adapter('AccessToken').find('other')).toBeDefined();
  });

  it('does not return rows past their expiry', async () => {
    const adapter = new Adapter('AccessToken');
    await adapter.upsert('short', { jti: 'short' }, 1);
    expect(await adapter.find('short')).toBeDefined();
    await t.db.query(`UPDATE oidc_payload SET expires_at = now() - interval '1 second' WHERE id = 'short'`);
    expect(await adapter.find('short')).toBeUndefined();
  });

  it('refuses to store clients (they are managed by palmid client)', async () => {
    await expect(new Adapter('Client').upsert('c', { client_id: 'c' }, 0)).rejects.toThrow(/palmid client/);
    expect(await new Adapter('Client').find('missing')).toBeUndefined();
  });
});
