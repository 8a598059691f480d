import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const postgres = databaseKinds.find((k) => k.name === 'postgres');

/** What a client sees when PostgreSQL goes away under a running server, and comes back. */
describe.skipIf(!postgres)('database outage (postgres)', () => {
  let server: TestServer;
  let admin: pg.Client;
  let dbName: string;
  let basic: string;

  beforeAll(async () => {
    server = await startTestServer(postgres!);
    const cc = await server.addClient({ name: 'svc', grantTypes: ['client_credentials'], redirectUris: [] });
    basic = Buffer.from(`${cc.client_id}:${cc.client_secret}`).toString('base64');
    dbName = (await server.db.query<{ db: string }>('select current_database() as db'))[0]!.db;
    admin = new pg.Client({ connectionString: postgres!.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`).catch(() => {});
    await admin?.end();
    await server?.stop();
  });

  const token = () =>
    fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
      signal: AbortSignal.timeout(20_000),
    });

  it('answers with OAuth errors while the database is unreachable, then recovers', async () => {
    expect((await token()).status).toBe(200);

    await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [dbName]);

    const during = await token();
    expect(during.status).toBeGreaterThanOrEqual(500);
    const body = (await during.json()) as { error: string; error_description?: string };
    expect(body.error).toBe('server_error');
    expect(JSON.stringify(body)).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
    let recovered = 0;
    for (let i = 0; i < 10 && recovered === 0; i++) {
      if ((await token()).status === 200) recovered = 1;
    }
    expect(recovered).toBe(1);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});
