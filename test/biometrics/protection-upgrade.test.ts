import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BiometricContext } from '../../src/biometrics/context.js';
import { sealTemplate } from '../../src/biometrics/dataKeys.js';
import { identifyingTenant } from '../../src/accounts/tenants.js';
import { identifyProbe } from '../../src/biometrics/identification.js';
import { rekeyTenant } from '../../src/biometrics/lifecycle.js';
import { TenantTransform } from '../../src/biometrics/protection.js';
import { codeIndexName, STAGE_ONE_SQL, tenantsToConvert, vectorLiteral } from '../../src/biometrics/references.js';
import { MasterKey } from '../../src/crypto/masterKey.js';
import { defaultMigrationsDir, migrate, readMigrations } from '../../src/db/migrate.js';
import {
  fuse,
  prepareImage,
  probesFromSamples,
  serializeTemplate,
  templatesFromSamples,
} from '../../src/palm/index.js';
import { synthRoi } from '../../src/palm/devtools/index.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/server.js';

const CODES_MIGRATION = '20261129120000_protected_codes';
const SEED = 5;
const roi = (id: number, s: number) => prepareImage(synthRoi(id, s, { seed: SEED }), { kind: 'roi' });

/**
 * An installation upgraded from before the codes: its references, stored under the linear
 * transform with templates sealed without the embedding, are found until `palmid tenant rekey`
 * converts them, and after.
 */
describe.each(databaseKinds)('upgrade to keyed codes ($name)', (kind) => {
  let t: TestDatabase;
  let bio: BiometricContext;
  let dir: string;
  const personIds: string[] = [];

  beforeAll(async () => {
    t = await createTestDatabase(kind);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-migrations-'));
    fs.cpSync(defaultMigrationsDir, dir, { recursive: true });
    for (const m of readMigrations(dir))
      if (m.name >= CODES_MIGRATION) fs.rmSync(path.join(dir, m.name), { recursive: true });
    await migrate(t.db, dir);
    const master = MasterKey.fromBytes(randomBytes(32));
    bio = new BiometricContext(t.db, master);
    await t.db.query(`INSERT INTO tenant (id, name) VALUES ('old', 'Old'), ('empty', 'Empty')`);
    // Two references stored as enrolment stored them before (c220018).
    for (const palm of [1, 2]) {
      // Inserted as that schema's person row: today's createPerson knows columns added since.
      const person = { id: randomUUID() };
      await t.db.query(`INSERT INTO person (id, email, role, webauthn_id) VALUES ($1, $2, 'user', $3)`, [
        person.id,
        `p${palm}@example.org`,
        randomBytes(16).toString('base64url'),
      ]);
      personIds.push(person.id);
      await t.db.query(`INSERT INTO consent (id, person_id, tenant_id, notice_version) VALUES ($1, $2, 'old', 1)`, [
        randomUUID(),
        person.id,
      ]);
      const reference = fuse(await templatesFromSamples(await Promise.all([0, 1, 2].map((s) => roi(palm, s)))));
      const id = randomUUID();
      const key = await bio.dataKeys.getOrCreate(person.id);
      const transform = TenantTransform.derive(master, 'old', 1, reference.embedding.length, 32);
      await t.db.query(
        `INSERT INTO palm_reference (id, person_id, tenant_id, hand, model, key_version, embedding, fine_template, samples, quality)
         VALUES ($1, $2, 'old', 'right', $3, 1, $4::vector, $5, $6, $7)`,
        [
          id,
          person.id,
          reference.model,
          vectorLiteral(transform.protect(reference.embedding)),
          new Uint8Array(sealTemplate(key, serializeTemplate({ ...reference, embedding: new Float32Array(0) }), id)),
          reference.samples,
          reference.quality,
        ],
      );
    }
    await migrate(t.db);
  }, 300_000);
  afterAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await t?.dispose();
  });

  const identify = async (palm: number) => {
    const [probe] = await probesFromSamples([await roi(palm, 4)]);
    return identifyProbe(bio, (await identifyingTenant(t.db, 'old'))!, probe!);
  };

  it('keeps tenants with references on the transform, with a warning, and moves the others to codes', async () => {
    const tenants = await t.db.query<{ id: string; template_protection: string }>(
      `SELECT id, template_protection FROM tenant ORDER BY id`,
    );
    expect(tenants).toEqual([
      { id: 'empty', template_protection: 'projection' },
      { id: 'old', template_protection: 'transform' },
    ]);
    expect(await tenantsToConvert(t.db)).toEqual([{ id: 'old', references: 2 }]);
    const fresh = await t.db.prisma.tenant.create({ data: { id: 'new', name: 'New' } });
    expect(fresh.templateProtection).toBe('projection');
  });

  it('finds the old references until the re-key, converts them without re-enrolment, and finds them after', async () => {
    expect((await identify(1)).personId).toBe(personIds[0]);
    expect((await identify(3)).match).toBe(false);
    const { references } = await rekeyTenant(bio, 'old');
    expect(references).toBe(2);
    expect(await tenantsToConvert(t.db)).toEqual([]);
    expect(await t.db.query(`SELECT id FROM palm_reference WHERE embedding IS NOT NULL OR code IS NULL`)).toEqual([]);
    expect((await identify(1)).personId).toBe(personIds[0]);
    expect((await identify(2)).personId).toBe(personIds[1]);
    expect((await identify(3)).match).toBe(false);
    // And again: the second re-key takes the embedding from the templates the first sealed again.
    await rekeyTenant(bio, 'old');
    expect((await identify(2)).personId).toBe(personIds[1]);
  });

  it("searches codes through the model's Hamming HNSW index", async () => {
    const [row] = await t.db.query<{ model: string }>(`SELECT model FROM palm_reference LIMIT 1`);
    const model = { model: row!.model, dimensions: 128 };
    await t.db.query('SET enable_seqscan = off');
    const plan = await t.db.query<Record<string, string>>(
      `EXPLAIN ${STAGE_ONE_SQL(20, { consentedOnly: true, excludePerson: false, model, by: 'code', shortlist: 100 })}`,
      ['0'.repeat(2048), 'old', 1],
    );
    await t.db.query('SET enable_seqscan = on');
    expect(plan.map((r) => Object.values(r)[0]).join('\n')).toContain(codeIndexName(model));
  });
});
