import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { openTemplate } from '../../src/biometrics/dataKeys.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { identifyPalm } from '../../src/biometrics/identification.js';
import { erasePalmData, erasePalmDataAt, purgeUnusedPalmData } from '../../src/biometrics/lifecycle.js';
import { deserializeTemplate } from '../../src/palm/index.js';
import { open } from '../../src/crypto/aead.js';
import { KeyStore } from '../../src/crypto/keyStore.js';
import { loadMasterKey, type MasterKey } from '../../src/crypto/masterKey.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { createScratchDatabase } from '../../src/db/scratchDatabase.js';
import { palmid } from '../support/cli.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/tongji-roi');
const haveData = fs.existsSync(DATA);
const sample = (palm: number, s: number) =>
  fs.readFileSync(path.join(DATA, `${String(palm).padStart(3, '0')}_${String(s).padStart(2, '0')}.bmp`));

/** Every purpose palmid derives a subkey of the master key for (grep "derive(" in src/), tenant transforms of these tests included. */
const MASTER_PURPOSES = [
  ...[
    'person-data-keys',
    'bucket-key-store',
    'admin-cookies',
    'signing-keys',
    'pairwise-subject',
    'cookies',
    'card-vault',
  ],
  ...['shop', 'office', 'gym'].flatMap((t) =>
    [1, 2].flatMap((v) => [
      `palm-transform:${t}:${v}`,
      `palm-transform:${t}:${v}:split-32:head`,
      `palm-transform:${t}:${v}:split-32:tail`,
    ]),
  ),
];

function* filesUnder(dir: string): Generator<string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(full);
    else if (entry.isFile()) yield full;
  }
}

/** Every occurrence of `needle` in the file, with `length` bytes from there. */
function occurrences(haystack: Buffer, needle: Buffer, length = needle.length): Buffer[] {
  const found: Buffer[] = [];
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1))
    found.push(Buffer.from(haystack.subarray(at, at + length)));
  return found;
}

/** What one person's erasure must make unreadable, captured while it was still readable. */
interface Captured {
  personId: string;
  wrappedKey: Buffer;
  dataKey: Buffer;
  references: Array<{ id: string; sealed: Buffer }>;
  /** The store's keys before the erasure: bucket/version -> key */
  storeBefore: Map<string, Buffer>;
}

async function capture(db: Database, bio: BiometricContext, store: KeyStore, personId: string): Promise<Captured> {
  const [row] = await db.query<{ wrapped_key: Uint8Array }>(
    `SELECT wrapped_key FROM person_data_key WHERE person_id = $1`,
    [personId],
  );
  const refs = await db.query<{ id: string; fine_template: Uint8Array }>(
    `SELECT id, fine_template FROM palm_reference WHERE person_id = $1`,
    [personId],
  );
  return {
    personId,
    wrappedKey: Buffer.from(row!.wrapped_key),
    dataKey: (await bio.dataKeys.find(personId))!,
    references: refs.map((r) => ({ id: r.id, sealed: Buffer.from(r.fine_template) })),
    storeBefore: new Map(store.entries().map((e) => [`${e.bucket}/${e.version}`, Buffer.from(e.key)])),
  };
}

/** Opens a wrapped data key (format 2: 0x02 | bucket u16 | version u32 | sealed) with a bucket key. */
function openWrapped(bucketKey: Buffer, personId: string, wrapped: Buffer): Buffer {
  const bucket = wrapped.readUInt16BE(1);
  const version = wrapped.readUInt32BE(3);
  return open(bucketKey, wrapped.subarray(7), `person-data-key:${personId}:${bucket}:${version}`);
}

/** Every way a key palmid holds could open a copy of the wrapped key or a sealed template. */
function tryOpen(
  keys: Buffer[],
  c: Captured,
  wrapped: Buffer[],
  sealed: Array<{ id: string; bytes: Buffer }>,
): string[] {
  const opened: string[] = [];
  for (const [k, key] of keys.entries()) {
    for (const w of wrapped) {
      for (const attempt of [
        () => openWrapped(key, c.personId, w),
        () => open(key, w, `person-data-key:${c.personId}`),
        () => open(key, w.subarray(7), `person-data-key:${c.personId}`),
      ]) {
        try {
          attempt();
          opened.push(`wrapped key with key #${k}`);
        } catch {
          /* expected */
        }
      }
    }
    for (const s of sealed) {
      try {
        openTemplate(key, s.bytes, s.id);
        opened.push(`template ${s.id} with key #${k}`);
      } catch {
        /* expected */
      }
    }
  }
  return opened;
}

/** The keys palmid holds: the master key, its subkeys, every key of the key store as it is now. */
function keysHeld(masterBytes: Buffer, master: MasterKey, storeDir: string): Buffer[] {
  const store = KeyStore.inFolder(storeDir, master);
  return [masterBytes, ...MASTER_PURPOSES.map((p) => master.derive(p)), ...store.entries().map((e) => e.key)];
}

/**
 * What this guards against: an erasure after which the data key row and the sealed template are
 * still in the database files and the WAL, with the master key beside them. Here a backup (a copy of
 * the data folder, or pg_dump) is taken before the erasure; afterwards every copy of the
 * person's wrapped key and templates, in the live files and in the backup, must open with no
 * key palmid still holds, while the same copies opened with the keys of before (so the scan
 * would have caught the old design).
 */
describe.skipIf(!haveData)('erasure on the embedded database: the data folder and a backup of it', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-erasure-'));
  const dataDir = path.join(root, 'data');
  const keysDir = `${dataDir}-keys`; // the default key store folder, outside the data folder
  const backupDir = path.join(root, 'backup');
  let ana: Captured;
  let boId = '';
  let carlId = '';
  const env = { PALMID_DATA_DIR: dataDir, LOG_LEVEL: 'silent' };

  const openInstallation = async () => {
    const db = await openDatabase({ dataDir });
    await migrate(db);
    const master = loadMasterKey({ envValue: undefined, dataDir, keyStoreDir: keysDir, embedded: true });
    const store = KeyStore.inFolder(keysDir, master);
    const bio = new BiometricContext(db, master, store);
    await bio.dataKeys.prepare();
    return { db, master, store, bio };
  };

  beforeAll(async () => {
    const { db, store, bio } = await openInstallation();
    try {
      // Ana and Bo share a bucket (so Bo's key is re-wrapped by Ana's erasure); Carl is elsewhere.
      await addTenant(db, { id: 'shop', name: 'Shop' });
      const ids: string[] = [];
      for (const [i, email] of ['ana@example.org', 'bo@example.org', 'carl@example.org'].entries()) {
        const person = await createPerson(db, { email, role: 'user' });
        await recordConsent(db, person.id, 'shop', 1);
        bio.dataKeys.bucketFor = () => (i < 2 ? 7 : 8);
        await enrolPalm(bio, {
          personId: person.id,
          tenantId: 'shop',
          hand: 'right',
          captures: [1, 2, 3].map((s) => sample(i + 1, s)),
          kind: 'roi',
        });
        ids.push(person.id);
      }
      [, boId, carlId] = ids;
      ana = await capture(db, bio, store, ids[0]!);
    } finally {
      await db.close();
    }
    fs.cpSync(dataDir, backupDir, { recursive: true });
    const run = await palmid(env, 'erase', '--person', 'ana@example.org');
    expect(run.code, run.stderr).toBe(0);
  }, 300_000);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('still identifies the others after a restart, Bo from the rotated bucket included, and not Ana', async () => {
    const { db, bio } = await openInstallation();
    try {
      for (const [palm, person] of [
        [2, boId],
        [3, carlId],
      ] as const) {
        const r = await identifyPalm(bio, { tenantId: 'shop', capture: sample(palm, 14), kind: 'roi' });
        expect(r.personId).toBe(person);
      }
      expect((await identifyPalm(bio, { tenantId: 'shop', capture: sample(1, 14), kind: 'roi' })).match).toBe(false);
      const [bo] = await db.query<{ bucket: number; key_version: number }>(
        `SELECT bucket, key_version FROM person_data_key WHERE person_id = $1`,
        [boId],
      );
      expect(bo).toEqual({ bucket: 7, key_version: 2 });
    } finally {
      await db.close();
    }
  });

  it('keeps the key store outside the data folder', () => {
    expect([...filesUnder(dataDir)].some((f) => f.endsWith('master.key') || f.endsWith('bucket-keys.sealed'))).toBe(
      false,
    );
    expect(fs.existsSync(path.join(keysDir, 'bucket-keys.sealed'))).toBe(true);
  });

  it('leaves copies in the backup that opened with the keys of before, and that no key palmid holds now opens', () => {
    const files = [...filesUnder(dataDir), ...filesUnder(backupDir)];
    const inBackup = [...filesUnder(backupDir)].map((f) => fs.readFileSync(f));
    // Not vacuous: the backup holds Ana's wrapped key and the start of each sealed template…
    const backupWrapped = inBackup.flatMap((h) => occurrences(h, ana.wrappedKey));
    expect(backupWrapped.length).toBeGreaterThan(0);
    for (const ref of ana.references) expect(inBackup.some((h) => h.includes(ref.sealed.subarray(0, 48)))).toBe(true);
    // …and with the bucket key as it was, the copy in the backup opens Ana's templates (the old failure).
    const bucketKeyBefore = ana.storeBefore.get(`${ana.wrappedKey.readUInt16BE(1)}/${ana.wrappedKey.readUInt32BE(3)}`)!;
    const dataKey = openWrapped(bucketKeyBefore, ana.personId, backupWrapped[0]!);
    for (const ref of ana.references)
      expect(deserializeTemplate(new Uint8Array(openTemplate(dataKey, ref.sealed, ref.id))).model).toBeTruthy();

    // Now: every copy anywhere, with every key palmid holds.
    const wrapped = files.flatMap((f) =>
      occurrences(fs.readFileSync(f), ana.wrappedKey.subarray(0, 24), ana.wrappedKey.length),
    );
    const sealed = ana.references.map((r) => ({ id: r.id, bytes: r.sealed }));
    // The deleted row lives on in the live folder too (dead tuple, WAL), as the review found.
    expect([...filesUnder(dataDir)].some((f) => fs.readFileSync(f).includes(ana.wrappedKey))).toBe(true);
    const masterBytes = Buffer.from(fs.readFileSync(path.join(keysDir, 'master.key'), 'utf8').trim(), 'base64');
    const master = loadMasterKey({ envValue: undefined, dataDir, keyStoreDir: keysDir, embedded: true });
    const held = keysHeld(masterBytes, master, keysDir);
    expect(held.length).toBeGreaterThan(1024); // the whole store
    expect(tryOpen(held, ana, wrapped, sealed)).toEqual([]);
    expect(held.some((k) => k.equals(ana.dataKey) || k.equals(bucketKeyBefore))).toBe(false);
    // Ana's data key itself is nowhere in clear.
    for (const f of [...files, ...filesUnder(keysDir)]) expect(fs.readFileSync(f).includes(ana.dataKey)).toBe(false);
  });
});

/** The same on PostgreSQL: pg_dump as the backup, the database's relation files and pg_wal scanned after a CHECKPOINT. */
describe.skipIf(!haveData || !process.env.TEST_DATABASE_URL)(
  'erasure on PostgreSQL: relation files, WAL and a pg_dump',
  () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-erasure-pg-'));
    const keysDir = path.join(root, 'keys');
    let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
    let master: MasterKey;
    let masterBytes: Buffer;
    let ana: Captured;
    let dump = '';
    let boId = '';
    const started = Date.now();

    beforeAll(async () => {
      scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL!, 'palmid_test');
      const db = scratch.db;
      await migrate(db);
      masterBytes = (await import('node:crypto')).randomBytes(32);
      master = loadMasterKey({
        envValue: masterBytes.toString('base64'),
        dataDir: root,
        keyStoreDir: keysDir,
        embedded: false,
      });
      const store = KeyStore.inFolder(keysDir, master);
      const bio = new BiometricContext(db, master, store);
      await bio.dataKeys.prepare();
      await addTenant(db, { id: 'shop', name: 'Shop' });
      bio.dataKeys.bucketFor = () => 3;
      const ids: string[] = [];
      for (const [i, email] of ['ana@example.org', 'bo@example.org'].entries()) {
        const person = await createPerson(db, { email, role: 'user' });
        await recordConsent(db, person.id, 'shop', 1);
        await enrolPalm(bio, {
          personId: person.id,
          tenantId: 'shop',
          hand: 'right',
          captures: [1, 2, 3].map((s) => sample(i + 1, s)),
          kind: 'roi',
        });
        ids.push(person.id);
      }
      boId = ids[1]!;
      ana = await capture(db, bio, store, ids[0]!);
      dump = execFileSync(
        'pg_dump',
        ['--dbname', scratch.url, '--data-only', '--table', 'person_data_key', '--table', 'palm_reference'],
        { encoding: 'utf8', maxBuffer: 1 << 28 },
      );
      await erasePalmData(bio, ana.personId);
      await db.query('CHECKPOINT');
      // A restart: a fresh store instance and context, prepared as at start.
      const again = new BiometricContext(db, master, KeyStore.inFolder(keysDir, master));
      await again.dataKeys.prepare();
      expect((await identifyPalm(again, { tenantId: 'shop', capture: sample(2, 14), kind: 'roi' })).personId).toBe(
        boId,
      );
    }, 300_000);
    afterAll(async () => {
      await scratch?.dispose();
      fs.rmSync(root, { recursive: true, force: true });
    });

    it('leaves copies in the dump that opened with the keys of before, and that no key palmid holds now opens', async () => {
      const hex = (b: Buffer) => b.toString('hex');
      expect(dump).toContain(hex(ana.wrappedKey));
      for (const ref of ana.references) expect(dump).toContain(hex(ref.sealed));
      const bucketKeyBefore = ana.storeBefore.get(
        `${ana.wrappedKey.readUInt16BE(1)}/${ana.wrappedKey.readUInt32BE(3)}`,
      )!;
      const fromDump = Buffer.from(
        dump.slice(dump.indexOf(hex(ana.wrappedKey)), dump.indexOf(hex(ana.wrappedKey)) + 2 * ana.wrappedKey.length),
        'hex',
      );
      const dataKey = openWrapped(bucketKeyBefore, ana.personId, fromDump);
      for (const ref of ana.references) expect(() => openTemplate(dataKey, ref.sealed, ref.id)).not.toThrow();

      const held = keysHeld(masterBytes, master, keysDir);
      expect(
        tryOpen(
          held,
          ana,
          [fromDump],
          ana.references.map((r) => ({ id: r.id, bytes: r.sealed })),
        ),
      ).toEqual([]);
    });

    it("finds nothing that opens in the database's relation files or the WAL", async (t) => {
      const [{ data_directory }] = (await scratch.db.query<{ data_directory: string }>('SHOW data_directory')) as [
        { data_directory: string },
      ];
      const [{ oid }] = (await scratch.db.query<{ oid: number }>(
        'SELECT oid FROM pg_database WHERE datname = current_database()',
      )) as [{ oid: number }];
      const dirs = [path.join(data_directory, 'base', String(oid)), path.join(data_directory, 'pg_wal')];
      try {
        for (const d of dirs) fs.accessSync(d, fs.constants.R_OK);
      } catch {
        t.skip(); // the cluster's files are not readable from here (another host or user)
        return;
      }
      const files = dirs
        .flatMap((d) => [...filesUnder(d)])
        .filter((f) => !f.includes('pg_wal') || fs.statSync(f).mtimeMs >= started - 60_000);
      const wrapped = files.flatMap((f) =>
        occurrences(fs.readFileSync(f), ana.wrappedKey.subarray(0, 24), ana.wrappedKey.length),
      );
      expect(wrapped.length).toBeGreaterThan(0); // the deleted row lives on (dead tuple, WAL): it is the key that must be gone
      const held = keysHeld(masterBytes, master, keysDir);
      expect(
        tryOpen(
          held,
          ana,
          wrapped,
          ana.references.map((r) => ({ id: r.id, bytes: r.sealed })),
        ),
      ).toEqual([]);
      for (const f of files) expect(fs.readFileSync(f).includes(ana.dataKey)).toBe(false);
    });
  },
);

/** Erasure's other paths, and crashes in the middle of one (embedded database, key store in a folder). */
describe.skipIf(!haveData)('erasure paths and interrupted erasures', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-erasure-paths-'));
  const keysDir = path.join(root, 'keys');
  let db: Database;
  let master: MasterKey;
  const people: string[] = [];
  const fresh = () => {
    const store = KeyStore.inFolder(keysDir, master);
    return { store, bio: new BiometricContext(db, master, store) };
  };
  const identify = (bio: BiometricContext, tenantId: string, palm: number) =>
    identifyPalm(bio, { tenantId, capture: sample(palm, 14), kind: 'roi' }).then((r) => r.personId);

  beforeAll(async () => {
    db = await openDatabase({ memory: true, dataDir: root });
    await migrate(db);
    master = loadMasterKey({
      envValue: (await import('node:crypto')).randomBytes(32).toString('base64'),
      dataDir: root,
      keyStoreDir: keysDir,
      embedded: true,
    });
    const { bio } = fresh();
    await bio.dataKeys.prepare();
    bio.dataKeys.bucketFor = () => 5; // everyone in one bucket: every erasure re-wraps the others
    for (const tenant of ['office', 'gym']) await addTenant(db, { id: tenant, name: tenant });
    for (let palm = 1; palm <= 4; palm++) {
      const person = await createPerson(db, { email: `p${palm}@example.org`, role: 'user' });
      for (const tenant of ['office', 'gym']) {
        await recordConsent(db, person.id, tenant, 1);
        await enrolPalm(bio, {
          personId: person.id,
          tenantId: tenant,
          hand: 'right',
          captures: [1, 2, 3].map((s) => sample(palm, s)),
          kind: 'roi',
        });
      }
      people.push(person.id);
    }
  }, 300_000);
  afterAll(async () => {
    await db?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('erases a person with no palm data without touching the key store', async () => {
    const nobody = await createPerson(db, { email: 'nobody@example.org', role: 'user' });
    const before = fs.readFileSync(path.join(keysDir, 'bucket-keys.sealed'));
    expect(await erasePalmData(fresh().bio, nobody.id)).toEqual({ references: 0 });
    expect(fs.readFileSync(path.join(keysDir, 'bucket-keys.sealed')).equals(before)).toBe(true);
  });

  it('recovers on start from a crash between the key store write and the database commit', async () => {
    const { store, bio } = fresh();
    const [{ version }] = (await db.query<{ version: number }>(
      'SELECT version FROM data_key_bucket WHERE bucket = 5',
    )) as [{ version: number }];
    const write = store.replaceFrom.bind(store);
    vi.spyOn(store, 'replaceFrom').mockImplementationOnce((entries) => {
      write(entries);
      throw new Error('crash after the key store write');
    });
    await expect(erasePalmData(bio, people[0]!)).rejects.toThrow('crash after the key store write');
    // The new version is on disk, the database never committed: nothing was erased.
    expect(KeyStore.inFolder(keysDir, master).latest(5)).toBe(version + 1);
    expect(await db.prisma.palmReference.count({ where: { personId: people[0]! } })).toBe(2);

    const restarted = fresh();
    expect((await restarted.bio.dataKeys.prepare()).dropped).toBe(1);
    expect(
      restarted.store
        .entries()
        .filter((e) => e.bucket === 5)
        .map((e) => e.version),
    ).toEqual([version]);
    for (let palm = 1; palm <= 4; palm++) expect(await identify(restarted.bio, 'office', palm)).toBe(people[palm - 1]);
  });

  it('recovers on start from a crash after the commit, before the old key version was dropped', async () => {
    const { store, bio } = fresh();
    const before = await capture(db, bio, store, people[0]!);
    vi.spyOn(store, 'retain').mockImplementationOnce(() => {
      throw new Error('crash before the old version was dropped');
    });
    await expect(erasePalmData(bio, people[0]!)).rejects.toThrow('crash before the old version was dropped');
    const oldVersion = before.wrappedKey.readUInt32BE(3);
    expect(KeyStore.inFolder(keysDir, master).key(5, oldVersion)).toBeDefined(); // not destroyed yet

    const restarted = fresh();
    await restarted.bio.dataKeys.prepare();
    expect(restarted.store.key(5, oldVersion)).toBeUndefined();
    expect(
      tryOpen(
        restarted.store.entries().map((e) => e.key),
        before,
        [before.wrappedKey],
        before.references.map((r) => ({ id: r.id, bytes: r.sealed })),
      ),
    ).toEqual([]);
    for (let palm = 2; palm <= 4; palm++) expect(await identify(restarted.bio, 'gym', palm)).toBe(people[palm - 1]);
    expect(await identify(restarted.bio, 'gym', 1)).toBeNull();
  });

  it('withdrawing one tenant destroys the key that opened its reference; the others move to a new key', async () => {
    const { store, bio } = fresh();
    const before = await capture(db, bio, store, people[1]!);
    const gone = before.references[0]!;
    const [{ tenant_id }] = (await db.query<{ tenant_id: string }>(
      'SELECT tenant_id FROM palm_reference WHERE id = $1',
      [gone.id],
    )) as [{ tenant_id: string }];
    expect(await erasePalmDataAt(bio, people[1]!, tenant_id)).toEqual({ references: 1 });
    const other = tenant_id === 'office' ? 'gym' : 'office';
    expect(await identify(bio, other, 2)).toBe(people[1]);
    expect(await identify(bio, tenant_id, 2)).toBeNull();
    expect((await bio.dataKeys.find(people[1]!))!.equals(before.dataKey)).toBe(false);
    // The old wrapped key and the withdrawn reference's sealed template open with nothing the store holds now.
    expect(
      tryOpen(
        KeyStore.inFolder(keysDir, master)
          .entries()
          .map((e) => e.key),
        before,
        [before.wrappedKey],
        [{ id: gone.id, bytes: gone.sealed }],
      ),
    ).toEqual([]);
  });

  it('retention destroys the keys of what it purges, one rotation per bucket per run', async () => {
    const { store, bio } = fresh();
    await db.query(`UPDATE palm_reference SET last_used_at = now() - interval '2000 days' WHERE person_id = $1`, [
      people[2],
    ]);
    const before = await capture(db, bio, store, people[2]!);
    const [{ version }] = (await db.query<{ version: number }>(
      'SELECT version FROM data_key_bucket WHERE bucket = 5',
    )) as [{ version: number }];
    const purged = await purgeUnusedPalmData(bio);
    expect(purged.map((p) => p.deleted)).toEqual([1, 1]);
    const [{ version: after }] = (await db.query<{ version: number }>(
      'SELECT version FROM data_key_bucket WHERE bucket = 5',
    )) as [{ version: number }];
    expect(after).toBe(version + 1);
    expect(await bio.dataKeys.find(people[2]!)).toBeNull();
    expect(
      tryOpen(
        KeyStore.inFolder(keysDir, master)
          .entries()
          .map((e) => e.key),
        before,
        [before.wrappedKey],
        before.references.map((r) => ({ id: r.id, bytes: r.sealed })),
      ),
    ).toEqual([]);
    expect(await identify(bio, 'office', 4)).toBe(people[3]);
  });
});

/** The key store file itself, the move of older installations' keys into buckets, and a lost store. */
describe('the key store and the upgrade of older data keys', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-keystore-'));
  let db: Database;
  afterAll(async () => {
    await db?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('re-wraps data keys of the older format (under a master-key subkey) into buckets at start, once, keeping the key', async () => {
    const { randomBytes } = await import('node:crypto');
    const { seal } = await import('../../src/crypto/aead.js');
    db = await openDatabase({ memory: true, dataDir: root });
    await migrate(db);
    const keysDir = path.join(root, 'keys');
    const master = loadMasterKey({
      envValue: randomBytes(32).toString('base64'),
      dataDir: root,
      keyStoreDir: keysDir,
      embedded: true,
    });
    const ids: string[] = [];
    const keys = new Map<string, Buffer>();
    for (let i = 0; i < 3; i++) {
      const person = await createPerson(db, { email: `old${i}@example.org`, role: 'user' });
      const key = randomBytes(32);
      // As c220018 stored it.
      await db.query(`INSERT INTO person_data_key (person_id, wrapped_key) VALUES ($1, $2)`, [
        person.id,
        seal(master.derive('person-data-keys'), key, `person-data-key:${person.id}`),
      ]);
      ids.push(person.id);
      keys.set(person.id, key);
    }
    expect(await db.query(`SELECT count(*)::int AS n FROM person_data_key WHERE bucket IS NULL`)).toEqual([{ n: 3 }]);
    const bio = new BiometricContext(db, master, KeyStore.inFolder(keysDir, master));
    expect(await bio.dataKeys.prepare()).toMatchObject({ created: 1024, rewrapped: 3 });
    expect(await db.query(`SELECT count(*)::int AS n FROM person_data_key WHERE bucket IS NULL`)).toEqual([{ n: 0 }]);
    for (const id of ids) expect((await bio.dataKeys.find(id))!.equals(keys.get(id)!)).toBe(true);
    expect(await bio.dataKeys.prepare()).toEqual({ created: 0, dropped: 0, rewrapped: 0 });
    // The older derivation opens nothing stored now.
    const legacy = master.derive('person-data-keys');
    for (const { person_id, wrapped_key } of await db.query<{ person_id: string; wrapped_key: Uint8Array }>(
      `SELECT person_id, wrapped_key FROM person_data_key`,
    )) {
      expect(() => open(legacy, Buffer.from(wrapped_key).subarray(7), `person-data-key:${person_id}`)).toThrow();
    }

    // The store file: mode 0600, sealed (opens with no other master key), no temporary files left.
    const file = path.join(keysDir, 'bucket-keys.sealed');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(keysDir)).toEqual(['bucket-keys.sealed']);
    const other = loadMasterKey({
      envValue: randomBytes(32).toString('base64'),
      dataDir: root,
      keyStoreDir: keysDir,
      embedded: true,
    });
    expect(() => KeyStore.inFolder(keysDir, other).entries()).toThrow(/does not open with this master key/);

    // A lost store is refused at start, with what it means, rather than replaced by an empty one.
    fs.rmSync(file);
    await expect(
      new BiometricContext(db, master, KeyStore.inFolder(keysDir, master)).dataKeys.prepare(),
    ).rejects.toThrow(/lacks the bucket keys of 3 person data key\(s\): restore it/);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('still reads a master key file left in the data folder by an older installation, and says to move it', () => {
    const dataDir = path.join(root, 'data');
    fs.mkdirSync(dataDir);
    const key = Buffer.alloc(32, 7);
    fs.writeFileSync(path.join(dataDir, 'master.key'), key.toString('base64'), { mode: 0o600 });
    const warnings: string[] = [];
    const log = { warn: (_: object, msg: string) => warnings.push(msg) } as unknown as Parameters<
      typeof loadMasterKey
    >[0]['log'];
    const master = loadMasterKey({
      envValue: undefined,
      dataDir,
      keyStoreDir: path.join(root, 'data-keys'),
      embedded: true,
      log,
    });
    expect(
      master
        .derive('x')
        .equals(
          loadMasterKey({ envValue: key.toString('base64'), dataDir, keyStoreDir: root, embedded: true }).derive('x'),
        ),
    ).toBe(true);
    expect(warnings.join()).toMatch(/master key file is in the data folder/);
    expect(fs.existsSync(path.join(root, 'data-keys', 'master.key'))).toBe(false); // not silently duplicated
  });
});
