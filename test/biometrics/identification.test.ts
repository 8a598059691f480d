import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent, withdrawConsent } from '../../src/accounts/tenants.js';
import { BiometricContext, BiometricError } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { identifyPalm } from '../../src/biometrics/identification.js';
import { tenantsToConvert } from '../../src/biometrics/references.js';
import { PROTECTED_CODE_BITS } from '../../src/biometrics/protection.js';
import { openTemplate, sealTemplate } from '../../src/biometrics/dataKeys.js';
import { deserializeTemplate, serializeTemplate } from '../../src/palm/index.js';
import { erasePalmData, purgeUnusedPalmData, rekeyTenant } from '../../src/biometrics/lifecycle.js';
import { MasterKey } from '../../src/crypto/masterKey.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/server.js';
import { randomBytes } from 'node:crypto';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm');
const TONGJI = path.join(DATA, 'tongji-roi');
const haveData = fs.existsSync(TONGJI);

const sample = (palm: number, s: number) =>
  fs.readFileSync(path.join(TONGJI, `${String(palm).padStart(3, '0')}_${String(s).padStart(2, '0')}.bmp`));

describe.skipIf(!haveData).each(databaseKinds)('enrolment and 1:N identification on tongji-roi ($name)', (kind) => {
  let t: TestDatabase;
  let bio: BiometricContext;
  const people: string[] = [];

  beforeAll(async () => {
    t = await createTestDatabase(kind);
    await migrate(t.db);
    bio = new BiometricContext(t.db, MasterKey.fromBytes(randomBytes(32)));
    await addTenant(t.db, { id: 'office', name: 'Office' });
    for (let palm = 1; palm <= 10; palm++) {
      const person = await createPerson(t.db, { email: `p${palm}@example.org`, role: 'user' });
      await recordConsent(t.db, person.id, 'office', 1);
      people.push(person.id);
    }
    // Palms 1–7 enrolled from their first three samples; 8–10 never enrolled.
    for (let palm = 1; palm <= 7; palm++) {
      await enrolPalm(bio, {
        personId: people[palm - 1]!,
        tenantId: 'office',
        hand: 'right',
        captures: [1, 2, 3].map((s) => sample(palm, s)),
        kind: 'roi',
      });
    }
  }, 300_000);
  afterAll(async () => t?.dispose());

  // The target: every other sample of an enrolled palm, both sessions, is found. The
  // threshold comes from synthetic palms (per search, for the tenant's 1:N target), not from
  // these images. The narrowest margin is printed.
  it('finds every other sample of the enrolled palms, across both sessions, never the wrong person', async () => {
    const missed: string[] = [];
    const wrongPerson: string[] = [];
    let probes = 0;
    let narrowest = { margin: Infinity, probe: '' };
    for (let palm = 1; palm <= 7; palm++) {
      for (let s = 4; s <= 20; s++) {
        probes++;
        const r = await identifyPalm(bio, { tenantId: 'office', capture: sample(palm, s), kind: 'roi' });
        if (r.match && r.personId !== people[palm - 1]) wrongPerson.push(`${palm}_${s} → ${r.personId}`);
        else if (!r.match) missed.push(`${palm}_${s} (score ${r.score.toFixed(3)} < ${r.threshold.toFixed(3)})`);
        if (r.score - r.threshold < narrowest.margin)
          narrowest = {
            margin: r.score - r.threshold,
            probe: `${palm}_${s} ${r.score.toFixed(3)} vs ${r.threshold.toFixed(3)}`,
          };
      }
    }
    console.info(
      `tongji-roi: ${probes - missed.length}/${probes} genuine probes found; narrowest: ${narrowest.probe}${missed.length ? `; missed: ${missed.join(', ')}` : ''}`,
    );
    expect(wrongPerson).toEqual([]);
    expect(missed).toEqual([]);
  }, 300_000);

  it('matches nobody with any sample of the palms never enrolled (8–10)', async () => {
    const falseMatches: string[] = [];
    let highest = 0;
    for (let palm = 8; palm <= 10; palm++) {
      for (let s = 1; s <= 20; s++) {
        const r = await identifyPalm(bio, { tenantId: 'office', capture: sample(palm, s), kind: 'roi' });
        if (r.match) falseMatches.push(`${palm}_${s} → ${r.personId} (${r.score.toFixed(3)})`);
        highest = Math.max(highest, r.score);
      }
    }
    console.info(`tongji-roi: 60 samples of palms never enrolled, highest score ${highest.toFixed(3)}`);
    expect(falseMatches).toEqual([]);
  }, 300_000);

  it('refuses a palm already enrolled to someone else, and requires consent', async () => {
    const err = await enrolPalm(bio, {
      personId: people[7]!,
      tenantId: 'office',
      hand: 'left',
      captures: [4, 5, 6].map((s) => sample(1, s)),
      kind: 'roi',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(BiometricError);
    expect((err as BiometricError).reason).toBe('duplicate_enrolment');

    const stranger = await createPerson(t.db, { email: 'stranger@example.org', role: 'user' });
    const noConsent = await enrolPalm(bio, {
      personId: stranger.id,
      tenantId: 'office',
      hand: 'left',
      captures: [1, 2, 3].map((s) => sample(9, s)),
      kind: 'roi',
    }).catch((e) => e);
    expect((noConsent as BiometricError).reason).toBe('consent_required');
    expect(await t.db.prisma.palmReference.count({ where: { personId: stranger.id } })).toBe(0);
  });

  it('searches only people who consented to the tenant', async () => {
    await withdrawConsent(t.db, people[1]!, 'office');
    const r = await identifyPalm(bio, { tenantId: 'office', capture: sample(2, 12), kind: 'roi' });
    expect(r.match).toBe(false);
    // Withdrawing consent deleted the reference; re-consent and re-enrol to restore.
    await recordConsent(t.db, people[1]!, 'office', 1);
    const again = await enrolPalm(bio, {
      personId: people[1]!,
      tenantId: 'office',
      hand: 'right',
      captures: [1, 2, 3].map((s) => sample(2, s)),
      kind: 'roi',
    });
    expect(again.replaced).toBe(false);
    expect((await identifyPalm(bio, { tenantId: 'office', capture: sample(2, 12), kind: 'roi' })).personId).toBe(
      people[1],
    );
  });

  it('stores only the keyed code, and keeps working after a re-key that protects the sealed embedding again', async () => {
    const codeOf = async () =>
      (
        await t.db.query<{ code: string | null; embedding: string | null }>(
          `SELECT code::text AS code, embedding::text AS embedding FROM palm_reference WHERE person_id = $1`,
          [people[2]],
        )
      )[0]!;
    const before = await codeOf();
    expect(before.embedding).toBeNull();
    expect(before.code).toMatch(new RegExp(`^[01]{${PROTECTED_CODE_BITS}}$`));
    const { keyVersion, references } = await rekeyTenant(bio, 'office');
    expect(keyVersion).toBe(2);
    expect(references).toBe(7);
    const after = await codeOf();
    // A new code, unrelated to the old one: about half the bits differ.
    const differing = [...after.code!].filter((bit, i) => bit !== before.code![i]).length / PROTECTED_CODE_BITS;
    expect(differing).toBeGreaterThan(0.4);
    expect((await identifyPalm(bio, { tenantId: 'office', capture: sample(3, 15), kind: 'roi' })).personId).toBe(
      people[2],
    );
    expect((await identifyPalm(bio, { tenantId: 'office', capture: sample(8, 15), kind: 'roi' })).match).toBe(false);
  });

  it('searches a tenant still on the linear transform, and converts it to codes on re-key, templates sealed before included', async () => {
    // A tenant as the migration leaves an existing one with references: the old scheme, here
    // with a full (unsplit) transform, searched exactly.
    await addTenant(t.db, { id: 'legacy', name: 'Legacy' });
    await t.db.query(`UPDATE tenant SET transform_split = NULL, template_protection = 'transform' WHERE id = 'legacy'`);
    for (const palm of [5, 6]) {
      await recordConsent(t.db, people[palm - 1]!, 'legacy', 1);
      await enrolPalm(bio, {
        personId: people[palm - 1]!,
        tenantId: 'legacy',
        hand: 'right',
        captures: [1, 2, 3].map((s) => sample(palm, s)),
        kind: 'roi',
      });
    }
    const rows = () =>
      t.db.query<{
        id: string;
        person_id: string;
        code: string | null;
        embedding: string | null;
        fine_template: Uint8Array;
      }>(
        `SELECT id, person_id, code::text AS code, embedding::text AS embedding, fine_template FROM palm_reference WHERE tenant_id = 'legacy' ORDER BY person_id`,
      );
    expect((await rows()).every((r) => r.code === null && r.embedding !== null)).toBe(true);
    expect(await tenantsToConvert(t.db)).toEqual([{ id: 'legacy', references: 2 }]);
    // Palm 5's template sealed as enrolment sealed it before the codes: without the embedding.
    const old = (await rows()).find((r) => r.person_id === people[4])!;
    const key = (await bio.dataKeys.find(people[4]!))!;
    const bare = serializeTemplate({
      ...deserializeTemplate(new Uint8Array(openTemplate(key, old.fine_template, old.id))),
      embedding: new Float32Array(0),
    });
    await t.db.query(`UPDATE palm_reference SET fine_template = $1 WHERE id = $2`, [
      new Uint8Array(sealTemplate(key, bare, old.id)),
      old.id,
    ]);
    expect((await identifyPalm(bio, { tenantId: 'legacy', capture: sample(5, 14), kind: 'roi' })).personId).toBe(
      people[4],
    );
    expect((await identifyPalm(bio, { tenantId: 'legacy', capture: sample(7, 14), kind: 'roi' })).match).toBe(false);

    await rekeyTenant(bio, 'legacy');
    expect((await t.db.prisma.tenant.findUniqueOrThrow({ where: { id: 'legacy' } })).templateProtection).toBe(
      'projection',
    );
    expect(await tenantsToConvert(t.db)).toEqual([]);
    const converted = await rows();
    expect(converted.every((r) => r.code !== null && r.embedding === null)).toBe(true);
    // Every sealed template now carries the embedding, so the next re-key can protect it again.
    for (const r of converted) {
      const fine = deserializeTemplate(
        new Uint8Array(openTemplate((await bio.dataKeys.find(r.person_id))!, r.fine_template, r.id)),
      );
      expect(fine.embedding.length).toBe(128);
    }
    for (const palm of [5, 6])
      expect((await identifyPalm(bio, { tenantId: 'legacy', capture: sample(palm, 14), kind: 'roi' })).personId).toBe(
        people[palm - 1],
      );
    expect((await identifyPalm(bio, { tenantId: 'legacy', capture: sample(7, 14), kind: 'roi' })).match).toBe(false);
    await rekeyTenant(bio, 'legacy');
    expect((await identifyPalm(bio, { tenantId: 'legacy', capture: sample(5, 14), kind: 'roi' })).personId).toBe(
      people[4],
    );
    await t.db.query(`DELETE FROM palm_reference WHERE tenant_id = 'legacy'`);
  });

  it('erases by destroying the data key first, and purges unused data after the retention period', async () => {
    await erasePalmData(bio, people[3]!);
    expect(await bio.dataKeys.find(people[3]!)).toBeNull();
    expect(await t.db.prisma.palmReference.count({ where: { personId: people[3]! } })).toBe(0);
    expect((await identifyPalm(bio, { tenantId: 'office', capture: sample(4, 15), kind: 'roi' })).match).toBe(false);

    const later = new Date(Date.now() + 1096 * 86_400_000);
    const purged = await purgeUnusedPalmData(bio, later);
    expect(purged).toEqual([{ tenantId: 'office', deleted: await purged[0]!.deleted }]);
    expect(await t.db.prisma.palmReference.count()).toBe(0);
    expect(await t.db.prisma.auditEvent.count({ where: { action: 'palm.retention_purge' } })).toBe(1);
  });
});

const COEP = path.join(DATA, 'coep-hands');

/** Whole-hand photos: the first two samples enrolled, the last two probed; the last quarter of the people never enrolled. */
describe.skipIf(!fs.existsSync(COEP))('enrolment and 1:N identification on coep-hands', () => {
  let t: TestDatabase;
  let bio: BiometricContext;
  const byId = new Map<string, string[]>();
  const people = new Map<string, string>();

  beforeAll(async () => {
    for (const f of fs.readdirSync(COEP).sort()) {
      const id = f.split('_')[0]!;
      byId.set(id, [...(byId.get(id) ?? []), path.join(COEP, f)]);
    }
    t = await createTestDatabase(databaseKinds[0]!);
    await migrate(t.db);
    bio = new BiometricContext(t.db, MasterKey.fromBytes(randomBytes(32)));
    await addTenant(t.db, { id: 'stadium', name: 'Stadium' });
    const ids = [...byId.keys()];
    const enrolled = ids.slice(0, Math.ceil(ids.length * 0.75));
    for (const id of enrolled) {
      const person = await createPerson(t.db, { email: `coep${id}@example.org`, role: 'user' });
      await recordConsent(t.db, person.id, 'stadium', 1);
      people.set(id, person.id);
      const files = byId.get(id)!;
      await enrolPalm(bio, {
        personId: person.id,
        tenantId: 'stadium',
        hand: 'right',
        captures: files.slice(0, 2).map((f) => fs.readFileSync(f)),
        kind: 'hand',
        minCaptures: 2,
      });
    }
  }, 600_000);
  afterAll(async () => t?.dispose());

  it('finds every enrolled person from their last two photos and matches nobody else', async () => {
    const missed: string[] = [];
    const wrong: string[] = [];
    let probes = 0;
    let lowestGenuine = Infinity;
    let highestStranger = 0;
    let threshold = 0;
    for (const [id, files] of byId) {
      for (const f of files.slice(2)) {
        const r = await identifyPalm(bio, { tenantId: 'stadium', capture: fs.readFileSync(f), kind: 'hand' });
        const expected = people.get(id) ?? null;
        threshold = r.threshold;
        if (expected) lowestGenuine = Math.min(lowestGenuine, r.score);
        else highestStranger = Math.max(highestStranger, r.score);
        if (expected) {
          probes++;
          if (r.match && r.personId !== expected) wrong.push(path.basename(f));
          else if (!r.match) missed.push(`${path.basename(f)} (${r.score.toFixed(3)})`);
        } else if (r.match) wrong.push(`${path.basename(f)} (never enrolled) → ${r.personId}`);
      }
    }
    console.info(
      `coep-hands: ${probes - missed.length}/${probes} genuine probes found (lowest genuine score ${lowestGenuine.toFixed(3)}, highest stranger ${highestStranger.toFixed(3)}, threshold ${threshold.toFixed(3)})${missed.length ? `; missed: ${missed.join(', ')}` : ''}`,
    );
    expect(wrong).toEqual([]);
    expect(missed).toEqual([]);
  }, 600_000);
});
