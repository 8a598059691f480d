/**
 * `palmid person export`: the account page's "download my data" for scripts, the same JSON on
 * stdout (one service, src/accounts/accountData.ts), audited. PGlite only: the command path is
 * the same on PostgreSQL, which test/accounts/account.test.ts covers for the export itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PALM_TEMPLATE_EXPLANATION } from '../../src/accounts/accountData.js';
import { openDatabase } from '../../src/db/database.js';
import { palmid } from '../support/cli.js';

describe('palmid person export', () => {
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-export-'));
    env = { PALMID_DATA_DIR: dataDir, LOG_LEVEL: 'warn', PORT: '4455' };
  });
  afterAll(() => {
    for (const f of fs.readdirSync(path.dirname(dataDir)))
      if (f.startsWith(path.basename(dataDir))) fs.rmSync(path.join(path.dirname(dataDir), f), { recursive: true });
  });

  it('writes everything held about the person as JSON to stdout, and audits it', async () => {
    const added = await palmid(env, 'person', 'add', '--email', 'eve@example.org', '--name', 'Eve', '--json');
    expect(added.code, added.stderr).toBe(0);
    const { id } = JSON.parse(added.stdout) as { id: string };
    const run = await palmid(env, 'person', 'export', 'EVE@example.org');
    expect(run.code, run.stderr).toBe(0);
    const data = JSON.parse(run.stdout);
    expect(data).toMatchObject({
      format: 'palmid-account-export',
      version: 1,
      profile: { id, email: 'eve@example.org', name: 'Eve', pinSet: false },
      passkeys: [],
      palms: [],
      palmTemplates: PALM_TEMPLATE_EXPLANATION,
    });
    expect(data.auditEvents.map((e: { action: string }) => e.action)).toContain('person.added');

    const unknown = await palmid(env, 'person', 'export', 'nobody@example.org');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no person with email nobody@example.org/);

    const db = await openDatabase({ dataDir });
    try {
      expect(await db.prisma.auditEvent.count({ where: { action: 'person.exported', subject: id } })).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('names the tenant whose palms may sign in to the account page (palmid client account)', async () => {
    const unknown = await palmid(env, 'client', 'account', '--tenant', 'nowhere');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown tenant nowhere/);
    expect((await palmid(env, 'tenant', 'add', '--id', 'office', '--name', 'Office')).code).toBe(0);
    const set = await palmid(env, 'client', 'account', '--tenant', 'office', '--json');
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ client_id: 'palmid-account', tenant: 'office' });
    const db = await openDatabase({ dataDir });
    try {
      const row = await db.prisma.oidcClient.findUniqueOrThrow({ where: { clientId: 'palmid-account' } });
      expect(row.metadata).toMatchObject({
        palmid_tenant: 'office',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://localhost:4455/account/callback'],
      });
    } finally {
      await db.close();
    }
    const off = await palmid(env, 'client', 'account', '--passkeys-only', '--json');
    expect(JSON.parse(off.stdout)).toEqual({ client_id: 'palmid-account', tenant: null });
  });
});
