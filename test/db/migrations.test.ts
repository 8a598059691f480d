import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AdapterPayload } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COARSE_DIMENSIONS, embeddingIndexName, STAGE_ONE_SQL } from '../../src/biometrics/references.js';
import { GALLERY_SIZE_SQL } from '../../src/biometrics/references.js';
import { loadManifest } from '../../src/palm/index.js';
import { createOidcAdapter, purgeExpiredPayloads } from '../../adapters/oidc-adapter.js';
import { audit } from '../../src/audit/audit.js';
import type { PrismaClient } from '../../src/db/database.js';
import { MigrationError, defaultMigrationsDir, migrate, readMigrations } from '../../src/db/migrate.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/server.js';

/**
 * What the generated client believes about the schema: per model, its table and, per scalar
 * field, the column, the Prisma type, whether it is optional and whether it is a list. Column
 * names come from the client's runtime data model; optionality and lists (which that model does
 * not carry) from the schema text the client was generated from.
 */
interface ExpectedColumn {
  field: string;
  column: string;
  type: string;
  optional: boolean;
  list: boolean;
}

type RuntimeDataModel = {
  models: Record<
    string,
    { dbName: string | null; fields: Array<{ name: string; kind: string; type: string; dbName?: string | null }> }
  >;
};

function clientModel(prisma: PrismaClient): Map<string, ExpectedColumn[]> {
  const internals = prisma as unknown as {
    _runtimeDataModel: RuntimeDataModel;
    _engineConfig: { inlineSchema: string };
  };
  const runtime = internals._runtimeDataModel;
  const schema = internals._engineConfig.inlineSchema;
  expect(Object.keys(runtime.models).length).toBeGreaterThan(0);
  const tables = new Map<string, ExpectedColumn[]>();
  for (const [modelName, model] of Object.entries(runtime.models)) {
    const block = new RegExp(`^model ${modelName} \\{([\\s\\S]*?)^\\}`, 'm').exec(schema)?.[1];
    expect(block, `model ${modelName} in the client's schema`).toBeDefined();
    const declared = new Map<string, string>();
    const columns: ExpectedColumn[] = [];
    for (const line of block!.split('\n')) {
      const m = /^\s*(\w+)\s+([\w.]+(?:\([^)]*\))?(?:\[\]|\?)?)/.exec(line);
      if (!m || line.trim().startsWith('//') || line.trim().startsWith('@@')) continue;
      declared.set(m[1]!, m[2]!);
      // Unsupported("...") fields (pgvector) are columns the client does not model at runtime.
      if (m[2]!.startsWith('Unsupported(')) {
        columns.push({
          field: m[1]!,
          column: /@map\("([^"]+)"\)/.exec(line)?.[1] ?? m[1]!,
          // pgvector's vector is an extension type; bit (the codes) is PostgreSQL's own
          type: m[2]!.startsWith('Unsupported("bit")') ? 'Unsupported(bit)' : 'Unsupported',
          optional: m[2]!.endsWith('?'),
          list: false,
        });
      }
    }
    for (const field of model.fields) {
      if (field.kind === 'object') continue;
      const decl = declared.get(field.name);
      expect(decl, `${modelName}.${field.name} in the client's schema`).toBeDefined();
      columns.push({
        field: field.name,
        column: field.dbName ?? field.name,
        type: field.type,
        optional: decl!.endsWith('?'),
        list: decl!.endsWith('[]'),
      });
    }
    tables.set(model.dbName ?? modelName, columns);
  }
  return tables;
}

const PG_TYPES: Record<string, string> = {
  String: 'text',
  Json: 'jsonb',
  DateTime: 'timestamp with time zone',
  Bytes: 'bytea',
  BigInt: 'bigint',
  Boolean: 'boolean',
  Int: 'integer',
  Float: 'double precision',
  Unsupported: 'USER-DEFINED',
  'Unsupported(bit)': 'bit',
};

describe.each(databaseKinds)('database migrations ($name)', (kind) => {
  let test: TestDatabase;
  const all = readMigrations().map((m) => m.name);

  beforeAll(async () => {
    test = await createTestDatabase(kind);
  });
  afterAll(async () => test?.dispose());

  it('migrates a fresh database, then is a no-op', async () => {
    expect(all.length).toBeGreaterThan(0);
    const first = await migrate(test.db);
    expect(first).toEqual({ applied: all, alreadyApplied: [] });
    const second = await migrate(test.db);
    expect(second).toEqual({ applied: [], alreadyApplied: all });
    const recorded = await test.db.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      'select migration_name, checksum, finished_at from "_prisma_migrations" order by migration_name',
    );
    expect(recorded.map((r) => r.migration_name)).toEqual(all);
    expect(recorded.map((r) => r.checksum)).toEqual(readMigrations().map((m) => m.checksum));
    expect(recorded.every((r) => r.finished_at !== null)).toBe(true);
  });

  it("has the shipped model's own coarse HNSW index, used by identification's stage one", async () => {
    const man = loadManifest().models[0]!;
    const model = {
      model: `${man.name}@${man.version}`,
      dimensions: Number(man.outputs.find((o) => o.name === 'embedding')!.shape[1]),
    };
    const [index] = await test.db.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE indexname = $1`, [
      embeddingIndexName(model),
    ]);
    expect(index, `a migration must create ${embeddingIndexName(model)} for ${model.model}`).toBeDefined();
    expect(index!.indexdef).toContain(`subvector(embedding, 1, ${COARSE_DIMENSIONS})`);
    expect(index!.indexdef).toContain(`vector(${COARSE_DIMENSIONS})`);
    expect(index!.indexdef).toContain(`'${model.model}'`);
    const shape = { consentedOnly: true, excludePerson: false, model, by: 'embedding' as const, shortlist: 200 };
    // The planner uses it for the stage-one statement (with the model and cast written in).
    const plan = await test.db.query<Record<string, string>>(`EXPLAIN ${STAGE_ONE_SQL(20, shape)}`, [
      `[${Array(model.dimensions).fill(0.1).join(',')}]`,
      'tenant',
      1,
    ]);
    // With an empty table the planner may still choose the index only when scans are costed out.
    await test.db.query('SET enable_seqscan = off');
    const forced = await test.db.query<Record<string, string>>(`EXPLAIN ${STAGE_ONE_SQL(20, shape)}`, [
      `[${Array(model.dimensions).fill(0.1).join(',')}]`,
      'tenant',
      1,
    ]);
    await test.db.query('SET enable_seqscan = on');
    expect([...plan, ...forced].map((r) => Object.values(r)[0]).join('\n')).toContain(embeddingIndexName(model));
  });

  it("counts a tenant's references (the N of 1:N) from an index alone", async () => {
    await test.db.query('SET enable_seqscan = off');
    const plan = await test.db.query<Record<string, string>>(`EXPLAIN ${GALLERY_SIZE_SQL}`, ['tenant', 1, 'model@1']);
    await test.db.query('SET enable_seqscan = on');
    expect(plan.map((r) => Object.values(r)[0]).join('\n')).toMatch(
      /Index Only Scan using palm_reference_tenant_id_key_version_model_idx/,
    );
  });

  it('has exactly the tables and columns the Prisma models expect, with their nullability and types', async () => {
    const expected = clientModel(test.db.prisma);
    const rows = await test.db.query<{
      table_name: string;
      column_name: string;
      is_nullable: 'YES' | 'NO';
      data_type: string;
    }>(
      `select table_name, column_name, is_nullable, data_type from information_schema.columns
        where table_schema = current_schema() and table_name <> '_prisma_migrations'`,
    );
    const actual = new Map<string, typeof rows>();
    for (const row of rows) actual.set(row.table_name, [...(actual.get(row.table_name) ?? []), row]);

    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [table, columns] of expected) {
      const present = actual.get(table)!;
      expect(present.map((c) => c.column_name).sort(), `columns of ${table}`).toEqual(
        columns.map((c) => c.column).sort(),
      );
      for (const column of columns) {
        const row = present.find((c) => c.column_name === column.column)!;
        if (column.list) {
          expect(row.data_type, `${table}.${column.column}`).toBe('ARRAY');
          continue; // Prisma leaves scalar lists nullable at the database
        }
        expect(row.is_nullable === 'YES', `${table}.${column.column} nullable`).toBe(column.optional);
        const pgType = PG_TYPES[column.type];
        if (pgType) expect(row.data_type, `${table}.${column.column} type`).toBe(pgType);
      }
    }
  });

  it('round-trips a fully populated row of each core model through the client', async () => {
    const p = test.db.prisma;
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const person = await p.person.create({
      data: { id: 'p1', email: 'p1@example.org', name: 'P', role: 'admin', webauthnId: 'w1', createdAt: now },
    });
    expect(person).toMatchObject({
      id: 'p1',
      email: 'p1@example.org',
      name: 'P',
      role: 'admin',
      webauthnId: 'w1',
      createdAt: now,
    });
    const passkey = await p.passkey.create({
      data: {
        id: 'c1',
        personId: 'p1',
        publicKey: new Uint8Array([1, 2, 3]),
        signCount: 2n ** 40n,
        transports: ['internal', 'hybrid'],
        deviceType: 'singleDevice',
        backedUp: true,
        createdAt: now,
        lastUsedAt: now,
      },
    });
    expect(await p.passkey.findUniqueOrThrow({ where: { id: 'c1' } })).toEqual(passkey);
    expect(passkey.signCount).toBe(2n ** 40n);
    expect([...passkey.publicKey]).toEqual([1, 2, 3]);
    expect(passkey.transports).toEqual(['internal', 'hybrid']);

    const invitation = await p.invitation.create({
      data: {
        id: 'i1',
        tokenHash: 'h1',
        email: 'x@example.org',
        role: 'user',
        createdById: 'p1',
        expiresAt: now,
        usedAt: now,
        createdAt: now,
      },
    });
    expect(await p.invitation.findUniqueOrThrow({ where: { id: 'i1' }, include: { createdBy: true } })).toMatchObject({
      ...invitation,
      createdBy: person,
    });
    const client = await p.oidcClient.create({
      data: {
        clientId: 'rp1',
        name: 'RP',
        metadata: { a: [1, { b: null }] },
        secretHash: '$argon2id$x',
        createdAt: now,
      },
    });
    expect(await p.oidcClient.findUniqueOrThrow({ where: { clientId: 'rp1' } })).toEqual(client);
    const key = await p.signingKey.create({
      data: {
        kid: 'k1',
        alg: 'ES256',
        encryptedJwk: new Uint8Array([9]),
        createdAt: now,
        retiredAt: now,
        publishUntil: now,
      },
    });
    expect(await p.signingKey.findUniqueOrThrow({ where: { kid: 'k1' } })).toEqual(key);
    const challenge = await p.webauthnChallenge.create({
      data: {
        id: 'ch1',
        purpose: 'registration',
        challenge: 'c',
        invitationId: 'i1',
        data: { email: 'x' },
        expiresAt: now,
      },
    });
    expect(await p.webauthnChallenge.findUniqueOrThrow({ where: { id: 'ch1' } })).toEqual(challenge);
    const payload = await p.oidcPayload.create({
      data: {
        type: 'Session',
        id: 's1',
        payload: { uid: 'u' },
        grantId: 'g',
        userCode: 'uc',
        uid: 'u',
        expiresAt: now,
        consumedAt: now,
      },
    });
    expect(await p.oidcPayload.findUniqueOrThrow({ where: { type_id: { type: 'Session', id: 's1' } } })).toEqual(
      payload,
    );
    const event = await p.auditEvent.create({
      data: { at: now, actor: 'a', action: 'test', subject: 's', detail: { k: 1 } },
    });
    expect(typeof event.id).toBe('bigint');
    expect(await p.auditEvent.findUniqueOrThrow({ where: { id: event.id } })).toEqual(event);

    // Updates and the relations' delete rules.
    await p.person.update({ where: { id: 'p1' }, data: { name: null } });
    await p.person.delete({ where: { id: 'p1' } });
    expect(await p.passkey.findUnique({ where: { id: 'c1' } })).toBeNull(); // cascade
    expect((await p.invitation.findUniqueOrThrow({ where: { id: 'i1' } })).createdById).toBeNull(); // set null
    await p.invitation.delete({ where: { id: 'i1' } });
    await p.oidcClient.delete({ where: { clientId: 'rp1' } });
    await p.signingKey.delete({ where: { kid: 'k1' } });
    await p.webauthnChallenge.delete({ where: { id: 'ch1' } });
    await p.oidcPayload.delete({ where: { type_id: { type: 'Session', id: 's1' } } });
  });

  it('keeps audit_event append-only', async () => {
    await audit(test.db, { action: 'test.append', actor: 'me', detail: { n: 1 } });
    const row = await test.db.prisma.auditEvent.findFirstOrThrow({ where: { action: 'test.append' } });
    const count = await test.db.prisma.auditEvent.count();
    await expect(
      test.db.prisma.auditEvent.update({ where: { id: row.id }, data: { action: 'rewritten' } }),
    ).rejects.toThrow(/append-only/);
    await expect(test.db.prisma.auditEvent.delete({ where: { id: row.id } })).rejects.toThrow(/append-only/);
    await expect(test.db.prisma.auditEvent.deleteMany({})).rejects.toThrow(/append-only/);
    await expect(test.db.query('UPDATE audit_event SET actor = $1', ['x'])).rejects.toThrow(/append-only/);
    await expect(test.db.query('DELETE FROM audit_event')).rejects.toThrow(/append-only/);
    expect(await test.db.prisma.auditEvent.count()).toBe(count);
    expect(await test.db.prisma.auditEvent.findUniqueOrThrow({ where: { id: row.id } })).toEqual(row);
  });

  it('oidc-provider adapter: expired rows are not found, consumed ones are marked, purge keeps live rows', async () => {
    const prisma = test.db.prisma;
    const Adapter = createOidcAdapter(test.db);
    const tokens = new Adapter('AccessToken');
    const sessions = new Adapter('Session');
    const payload = (extra: Partial<AdapterPayload> = {}): AdapterPayload => ({
      jti: 'x',
      kind: 'AccessToken',
      ...extra,
    });

    await tokens.upsert('live', payload({ grantId: 'g1' }), 600);
    await tokens.upsert('expired', payload({ grantId: 'g2' }), 600);
    await tokens.upsert('recently-expired', payload(), 600);
    await tokens.upsert('forever', payload(), 0);
    await sessions.upsert('live', { uid: 'session-uid', kind: 'Session' } as AdapterPayload, 600);
    const at = (seconds: number) => new Date(Date.now() + seconds * 1000);
    await prisma.oidcPayload.update({
      where: { type_id: { type: 'AccessToken', id: 'expired' } },
      data: { expiresAt: at(-3600) },
    });
    await prisma.oidcPayload.update({
      where: { type_id: { type: 'AccessToken', id: 'recently-expired' } },
      data: { expiresAt: at(-10) },
    });

    expect(await tokens.find('live')).toMatchObject({ jti: 'x', grantId: 'g1' });
    expect(await tokens.find('expired')).toBeUndefined();
    expect(await tokens.find('recently-expired')).toBeUndefined();
    expect(await tokens.find('forever')).toMatchObject({ jti: 'x' });
    expect(await tokens.find('nope')).toBeUndefined();
    // Types are separate namespaces.
    expect(await sessions.find('live')).toMatchObject({ uid: 'session-uid' });
    expect(await sessions.findByUid('session-uid')).toMatchObject({ kind: 'Session' });
    expect(await tokens.findByUid('session-uid')).toBeUndefined();

    expect((await tokens.find('live'))!.consumed).toBeUndefined();
    await tokens.consume('live');
    const consumed = await tokens.find('live');
    expect(typeof consumed!.consumed).toBe('number');
    expect(Math.abs(consumed!.consumed! - Date.now() / 1000)).toBeLessThan(120);

    // Purge with a grace period leaves rows that expired only recently.
    expect(await purgeExpiredPayloads(test.db, 60)).toBe(1);
    expect(
      await prisma.oidcPayload.findUnique({ where: { type_id: { type: 'AccessToken', id: 'expired' } } }),
    ).toBeNull();
    expect(
      await prisma.oidcPayload.findUnique({ where: { type_id: { type: 'AccessToken', id: 'recently-expired' } } }),
    ).not.toBeNull();
    expect(await purgeExpiredPayloads(test.db)).toBe(1);
    expect(await purgeExpiredPayloads(test.db)).toBe(0);
    const left = await prisma.oidcPayload.findMany({
      select: { type: true, id: true },
      orderBy: [{ type: 'asc' }, { id: 'asc' }],
    });
    expect(left).toEqual([
      { type: 'AccessToken', id: 'forever' },
      { type: 'AccessToken', id: 'live' },
      { type: 'Session', id: 'live' },
    ]);

    await tokens.revokeByGrantId('g1');
    expect(await tokens.find('live')).toBeUndefined();
    await tokens.destroy('forever');
    expect(await tokens.find('forever')).toBeUndefined();
    expect(await sessions.find('live')).toBeDefined();
  });

  it('detects a migration changed after it was applied, and rolls back a failing one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-migrations-'));
    try {
      fs.cpSync(defaultMigrationsDir, dir, { recursive: true });
      const last = all[all.length - 1]!;
      const file = path.join(dir, last, 'migration.sql');

      // A new migration that fails half-way leaves nothing behind.
      fs.mkdirSync(path.join(dir, '99990101000000_broken'));
      fs.writeFileSync(
        path.join(dir, '99990101000000_broken', 'migration.sql'),
        'CREATE TABLE half_done (id int);\nSELECT 1/0;\n',
      );
      await expect(migrate(test.db, dir)).rejects.toBeInstanceOf(MigrationError);
      expect(await test.db.query(`select 1 from information_schema.tables where table_name = 'half_done'`)).toEqual([]);
      expect(
        await test.db.query(`select 1 from "_prisma_migrations" where migration_name = '99990101000000_broken'`),
      ).toEqual([]);
      fs.rmSync(path.join(dir, '99990101000000_broken'), { recursive: true });

      fs.appendFileSync(file, '\n-- edited afterwards\n');
      await expect(migrate(test.db, dir)).rejects.toThrow(MigrationError);
      await expect(migrate(test.db, dir)).rejects.toThrow(/changed after it was applied/);
      // The real folder is still fine.
      expect((await migrate(test.db)).applied).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
