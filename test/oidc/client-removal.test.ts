import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { removeClient } from '../../src/oidc/clients.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

/** Client records are cached by the server; removing a client must still take effect at once. */
describe.each(databaseKinds)('removing a client ($name)', (kind) => {
  let server: TestServer;
  let other: Database;

  beforeAll(async () => {
    server = await startTestServer(kind);
    // On PostgreSQL the removal comes from another connection, as from `palmid client remove`
    // in another process; on PGlite commands run inside the server (src/cli/delegate.ts).
    const url =
      kind.name === 'postgres'
        ? (await server.db.query<{ u: string }>('select current_database() as u'))[0]!.u
        : undefined;
    other = url
      ? await openDatabase({ url: kind.url!.replace(/\/[^/]*$/, `/${url}`), dataDir: os.tmpdir() })
      : server.db;
  });
  afterAll(async () => {
    if (other !== server.db) await other.close();
    await server?.stop();
  });

  it('refuses the removed client on the very next request', async () => {
    const cc = await server.addClient({ name: 'svc', grantTypes: ['client_credentials'], redirectUris: [] });
    const token = () =>
      fetch(`${server.url}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${cc.client_id}:${cc.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      });
    expect((await token()).status).toBe(200);
    expect((await token()).status).toBe(200); // now served from the cache
    expect(await removeClient(other, cc.client_id)).toBe(true);
    // NOTIFY is asynchronous: give it a moment, as a real second request would have.
    let status = 0;
    for (let i = 0; i < 20; i++) {
      status = (await token()).status;
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(status).toBe(401);
  });
});
