/** `palmid staff add|list|remove`: who may run a tenant's enrolment station. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCliEnvironment, palmid, removeCliEnvironment } from '../support/cli.js';
import { databaseKinds, type TestDatabase } from '../support/server.js';

describe.each(databaseKinds)('palmid staff ($name)', (kind) => {
  let dataDir: string;
  let env: Record<string, string>;
  let testDb: TestDatabase | undefined;

  beforeAll(async () => {
    ({ dataDir, env, testDb } = await createCliEnvironment(kind, { tmpPrefix: 'palmid-staff-', port: '4456' }));
  });
  afterAll(() => removeCliEnvironment({ dataDir, testDb }));

  const ok = async (...args: string[]) => {
    const run = await palmid(env, ...args);
    expect(run.code, run.stderr).toBe(0);
    return run.stdout;
  };
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await ok(...args, '--json')) as T;

  it('adds, lists and removes staff, by email or id, per tenant', { timeout: 60_000 }, async () => {
    await ok('tenant', 'add', '--id', 'shop', '--name', 'Shop');
    await ok('tenant', 'add', '--id', 'depot', '--name', 'Depot');
    const clerk = await json<{ id: string }>('person', 'add', '--email', 'clerk@example.org', '--name', 'Clerk');
    await ok('person', 'add', '--email', 'boss@example.org');

    expect(await json('staff', 'add', '--tenant', 'shop', '--person', 'clerk@example.org')).toMatchObject({
      personId: clerk.id,
      tenantId: 'shop',
      role: 'staff',
      created: true,
    });
    expect(await ok('staff', 'add', '--tenant', 'depot', '--person', 'boss@example.org', '--role', 'admin')).toMatch(
      /boss@example.org is admin of depot/,
    );
    // By id, again: the role changes, no second membership.
    expect(await json('staff', 'add', '--tenant', 'shop', '--person', clerk.id, '--role', 'admin')).toMatchObject({
      role: 'admin',
      created: false,
    });

    const all = await json<Array<{ tenantId: string; email: string; role: string }>>('staff', 'list');
    expect(all.map((m) => [m.tenantId, m.email, m.role])).toEqual([
      ['depot', 'boss@example.org', 'admin'],
      ['shop', 'clerk@example.org', 'admin'],
    ]);
    expect(await json('staff', 'list', '--tenant', 'depot')).toHaveLength(1);
    expect(await ok('staff', 'list', '--tenant', 'shop')).toMatch(/TENANT\s+PERSON\s+EMAIL[\s\S]*clerk@example.org/);

    expect(await json('staff', 'remove', '--tenant', 'shop', '--person', 'clerk@example.org')).toEqual({
      personId: clerk.id,
      tenantId: 'shop',
      removed: true,
    });
    expect(await json('staff', 'list', '--tenant', 'shop')).toEqual([]);
  });

  it('refuses unknown tenants, people and roles in one line', { timeout: 60_000 }, async () => {
    const refused = async (pattern: RegExp, code: number, ...args: string[]) => {
      const run = await palmid(env, ...args);
      expect(run.code, run.stderr).toBe(code);
      expect(run.stderr).toMatch(pattern);
      expect(run.stderr).not.toMatch(/\n\s+at\s/);
    };
    await refused(/unknown tenant nowhere/, 1, 'staff', 'add', '--tenant', 'nowhere', '--person', 'clerk@example.org');
    await refused(
      /no person with email x@example.org/,
      1,
      'staff',
      'add',
      '--tenant',
      'shop',
      '--person',
      'x@example.org',
    );
    await refused(
      /--role must be one of staff, admin/,
      2,
      'staff',
      'add',
      '--tenant',
      'shop',
      '--person',
      'a@b.c',
      '--role',
      'owner',
    );
    await refused(/is not staff of shop/, 1, 'staff', 'remove', '--tenant', 'shop', '--person', 'clerk@example.org');
    await refused(/unknown tenant nowhere/, 1, 'staff', 'list', '--tenant', 'nowhere');
  });
});
