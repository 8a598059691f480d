import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRedeemableInvitation } from '../../src/accounts/invitations.js';
import { buildProgram } from '../../src/cli/main.js';
import { palmid, type Run } from '../support/cli.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { readMigrations } from '../../src/db/migrate.js';
import { TEST_MASTER_KEY, createTestDatabase, databaseKinds, type TestDatabase } from '../support/server.js';

/**
 * A refusal: non-zero, one clear line on stderr (besides JSON log lines and commander's usage
 * hint), no stack trace, nothing on stdout.
 */
function expectOneLineError(run: Run, pattern: RegExp) {
  expect(run.code).not.toBe(0);
  expect(run.stdout).toBe('');
  const lines = run.stderr
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('{"level":') && !l.startsWith('(run with --help'));
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(run.stderr).not.toMatch(/\n\s+at\s|node_modules|\.ts:\d+/);
}

function commandPaths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

describe.each(databaseKinds)('the palmid command ($name)', (kind) => {
  let dataDir: string;
  let env: Partial<Record<(typeof ENV_KEYS)[number], string>>;
  let testDb: TestDatabase | undefined;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-cli-'));
    env = { PALMID_DATA_DIR: dataDir, LOG_LEVEL: 'info', PORT: '4455' };
    if (kind.name === 'postgres') {
      testDb = await createTestDatabase(kind);
      env.DATABASE_URL = testDb.url!;
      env.PALMID_MASTER_KEY = TEST_MASTER_KEY;
    }
  });
  afterAll(async () => {
    await testDb?.dispose();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(`${dataDir}-keys`, { recursive: true, force: true }); // the default key store folder
  });

  /** The database the commands used (the embedded one is opened only between commands). */
  async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
    if (testDb) return fn(testDb.db);
    const db = await openDatabase({ dataDir });
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  }

  it('prints usage for --help of every command and exits 0', async () => {
    const paths = commandPaths(buildProgram());
    expect(paths.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining([
        'serve',
        'migrate',
        'client',
        'client add',
        'client list',
        'client remove',
        'invite',
        'keys',
        'keys rotate',
        'keys list',
      ]),
    );
    for (const p of [[], ...paths]) {
      const run = await palmid(env, ...p, '--help');
      expect(run.code, p.join(' ')).toBe(0);
      expect(run.stdout).toContain(`Usage: palmid${p.length ? ` ${p.join(' ')}` : ''}`);
      expect(run.stderr).toBe('');
    }
    const add = await palmid(env, 'client', 'add', '--help');
    expect(add.stdout).toContain('--redirect-uri');
    expect(add.stdout).toContain('--auth-method');
  });

  it('migrate applies every migration once; the second run is a no-op', async () => {
    const first = await palmid(env, 'migrate', '--json');
    expect(first.code).toBe(0);
    const all = readMigrations().map((m) => m.name);
    expect(JSON.parse(first.stdout)).toEqual({ database: kind.name, applied: all, alreadyApplied: [] });
    const again = await palmid(env, 'migrate');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/up to date/);
    const json = await palmid(env, 'migrate', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ applied: [], alreadyApplied: all });
  });

  it.runIf(kind.name === 'pglite')(
    'generates a master key file with mode 0600, outside the data folder, and warns about it',
    async () => {
      const file = path.join(`${dataDir}-keys`, 'master.key'); // the default key store folder
      expect(fs.existsSync(file)).toBe(false);
      const run = await palmid(env, 'client', 'list', '--json');
      expect(run.code).toBe(0);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64')).toHaveLength(32);
      expect(run.stderr).toMatch(/generated a master key file/);
      expect(run.stderr).toContain('"level":40'); // a warning
      expect(JSON.parse(run.stdout)).toEqual([]); // stdout stays clean JSON
      // A key file others can read is refused.
      fs.chmodSync(file, 0o644);
      expectOneLineError(await palmid(env, 'client', 'list'), /master\.key is readable by others/);
      fs.chmodSync(file, 0o600);
    },
  );

  it.runIf(kind.name === 'postgres')('refuses to run on PostgreSQL without PALMID_MASTER_KEY', async () => {
    expectOneLineError(
      await palmid({ ...env, PALMID_MASTER_KEY: undefined }, 'client', 'list'),
      /PALMID_MASTER_KEY is required/,
    );
  });

  let keptClient: { client_id: string; client_secret: string };
  let invitationToken: string;

  it('client add / list / remove', async () => {
    const add = await palmid(
      env,
      'client',
      'add',
      '--name',
      'Wiki',
      '--redirect-uri',
      'https://wiki.example/cb',
      '--redirect-uri',
      'https://wiki.example/cb2',
      '--json',
    );
    expect(add.code, add.stderr).toBe(0);
    const created = JSON.parse(add.stdout) as Record<string, unknown>;
    expect(created).toMatchObject({
      client_name: 'Wiki',
      redirect_uris: ['https://wiki.example/cb', 'https://wiki.example/cb2'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    expect(created.client_id).toMatch(/^[\w-]{16,}$/);
    expect(created.client_secret).toMatch(/^[\w-]{40,}$/);
    keptClient = created as typeof keptClient;

    const text = await palmid(
      env,
      'client',
      'add',
      '--name',
      'SPA',
      '--redirect-uri',
      'http://localhost:5173/cb',
      '--auth-method',
      'none',
    );
    expect(text.code, text.stderr).toBe(0);
    const spaId = /client_id:\s+(\S+)/.exec(text.stdout)![1]!;
    expect(text.stdout).not.toContain('client_secret');

    const list = await palmid(env, 'client', 'list', '--json');
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    expect(listed.map((c) => c.client_id)).toEqual([keptClient.client_id, spaId]);
    expect(listed[1]).toMatchObject({ client_name: 'SPA', token_endpoint_auth_method: 'none' });
    expect(list.stdout).not.toContain(keptClient.client_secret);
    expect(list.stdout).not.toContain('argon2');

    const remove = await palmid(env, 'client', 'remove', spaId, '--json');
    expect(remove.code).toBe(0);
    expect(JSON.parse(remove.stdout)).toEqual({ client_id: spaId, removed: true });
    expectOneLineError(
      await palmid(env, 'client', 'remove', spaId),
      new RegExp(`^palmid: no client with id ${spaId}$`),
    );

    const table = await palmid(env, 'client', 'list');
    expect(table.stdout).toContain(keptClient.client_id);
    expect(table.stdout).not.toContain(spaId);
  });

  it('refuses bad input with a non-zero exit and one clear line', async () => {
    const uri = ['--redirect-uri', 'https://x.example/cb'];
    expectOneLineError(
      await palmid(env, 'client', 'add', '--name', 'X', ...uri, '--grant-types', 'authorization_code,password'),
      /unknown grant type password/,
    );
    expectOneLineError(await palmid(env, 'client', 'add', '--name', 'X', ...uri, '--auth-method', 'bogus'), /bogus/);
    expectOneLineError(
      await palmid(env, 'client', 'add', '--name', 'X', '--grant-types', 'authorization_code'),
      /authorization_code needs at least one --redirect-uri/,
    );
    expectOneLineError(await palmid(env, 'client', 'add', ...uri), /--name/);
    expectOneLineError(await palmid(env, 'invite', '--email', 'not-an-email'), /invalid email not-an-email/);
    expectOneLineError(await palmid(env, 'invite', '--expires', 'tomorrow'), /invalid duration "tomorrow"/);
    expectOneLineError(await palmid(env, 'invite', '--role', 'root'), /root/);
    expectOneLineError(await palmid(env, 'frobnicate'), /unknown command/);
    // Nothing was created by the refused commands.
    const list = await palmid(env, 'client', 'list', '--json');
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(1);
  });

  it('invite --json gives a one-time link that can be redeemed', async () => {
    const run = await palmid(env, 'invite', '--email', 'Bo@Example.org', '--expires', '2h', '--json');
    expect(run.code, run.stderr).toBe(0);
    const invitation = JSON.parse(run.stdout) as { url: string; email: string; role: string; expires_at: string };
    expect(invitation.url).toMatch(/^http:\/\/localhost:4455\/invite\/[\w-]+$/);
    expect(invitation).toMatchObject({ email: 'bo@example.org', role: 'user' });
    const ttl = new Date(invitation.expires_at).getTime() - Date.now();
    expect(ttl).toBeGreaterThan(110 * 60_000);
    expect(ttl).toBeLessThanOrEqual(120 * 60_000);
    invitationToken = invitation.url.split('/').pop()!;
  });

  it('keys rotate, then keys list shows the new keys active and the old ones retired', async () => {
    const before = JSON.parse((await palmid(env, 'keys', 'list', '--json')).stdout) as Array<{
      kid: string;
      status: string;
    }>;
    expect(before.map((k) => k.status)).toEqual(['active', 'active', 'active']);
    const rotate = await palmid(env, 'keys', 'rotate', '--json');
    expect(rotate.code, rotate.stderr).toBe(0);
    const result = JSON.parse(rotate.stdout) as {
      retired: string[];
      created: string[];
      retired_published_for_seconds: number;
    };
    expect(result.retired.sort()).toEqual(before.map((k) => k.kid).sort());
    expect(result.created).toHaveLength(3);
    expect(result.retired_published_for_seconds).toBeGreaterThan(0);
    const list = JSON.parse((await palmid(env, 'keys', 'list', '--json')).stdout) as Array<{
      kid: string;
      status: string;
      alg: string;
    }>;
    expect(
      list
        .filter((k) => k.status === 'active')
        .map((k) => k.kid)
        .sort(),
    ).toEqual(result.created.sort());
    expect(
      list
        .filter((k) => k.status === 'retired')
        .map((k) => k.kid)
        .sort(),
    ).toEqual(result.retired.sort());
    expect(
      list
        .filter((k) => k.status === 'active')
        .map((k) => k.alg)
        .sort(),
    ).toEqual(['ECDH-ES', 'ES256', 'RS256']);
  });

  it('stored what the commands said: an argon2id hash, a redeemable invitation, an audit trail', async () => {
    await withDb(async (db) => {
      const row = await db.prisma.oidcClient.findUniqueOrThrow({ where: { clientId: keptClient.client_id } });
      expect(row.secretHash).toMatch(/^\$argon2id\$/);
      expect(row.secretHash).not.toContain(keptClient.client_secret);
      expect(JSON.stringify(row.metadata)).not.toContain(keptClient.client_secret);
      const invitation = await findRedeemableInvitation(db, invitationToken);
      expect(invitation).toMatchObject({ email: 'bo@example.org', role: 'user', usedAt: null });
      expect(
        await findRedeemableInvitation(
          db,
          `${invitationToken.slice(0, -1)}${invitationToken.endsWith('A') ? 'B' : 'A'}`,
        ),
      ).toBeNull();
      const actions = (await db.prisma.auditEvent.findMany({ where: { actor: 'cli' } })).map((e) => e.action);
      expect(actions).toEqual(expect.arrayContaining(['invitation.created', 'keys.rotated']));
    });
  });

  it('client add for token exchange: needs a tenant; records its scopes and the readers it may act for', async () => {
    const exchange = [
      '--grant-types',
      'urn:ietf:params:oauth:grant-type:token-exchange',
      '--exchange-audience',
      'https://loyalty.example/api',
    ];
    expect((await palmid(env, 'tenant', 'add', '--id', 'office', '--name', 'Office')).code).toBe(0);
    expect((await palmid(env, 'tenant', 'add', '--id', 'stadium', '--name', 'Stadium')).code).toBe(0);
    const reader = JSON.parse(
      (await palmid(env, 'reader', 'add', '--tenant', 'office', '--name', 'Gate', '--json')).stdout,
    ) as { client_id: string };
    expectOneLineError(
      await palmid(env, 'client', 'add', '--name', 'Loyalty', ...exchange, '--exchange-scope', 'loyalty'),
      /token exchange needs --tenant/,
    );
    expectOneLineError(
      await palmid(
        env,
        'client',
        'add',
        '--name',
        'Loyalty',
        ...exchange,
        '--tenant',
        'office',
        '--exchange-scope',
        'admin',
      ),
      /palmid_exchange_scopes/,
    );
    expectOneLineError(
      await palmid(
        env,
        'client',
        'add',
        '--name',
        'Loyalty',
        ...exchange,
        '--tenant',
        'stadium',
        '--exchange-from',
        reader.client_id,
      ),
      new RegExp(`${reader.client_id} is not a reader of tenant stadium`),
    );
    const add = await palmid(
      env,
      'client',
      'add',
      '--name',
      'Loyalty',
      ...exchange,
      '--tenant',
      'office',
      '--exchange-scope',
      'loyalty',
      '--exchange-scope',
      'payment',
      '--exchange-from',
      reader.client_id,
      '--json',
    );
    expect(add.code, add.stderr).toBe(0);
    const { client_id: clientId, tenant } = JSON.parse(add.stdout) as { client_id: string; tenant: string };
    expect(tenant).toBe('office');
    await withDb(async (db) => {
      const row = await db.prisma.oidcClient.findUniqueOrThrow({ where: { clientId } });
      expect(row.metadata).toMatchObject({
        palmid_tenant: 'office',
        palmid_exchange_scopes: ['loyalty', 'payment'],
        palmid_exchange_subject_clients: [reader.client_id],
      });
    });
  });
});
