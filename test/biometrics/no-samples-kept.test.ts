import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { openDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { palmid } from '../support/cli.js';
import { TEST_MASTER_KEY } from '../support/server.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/tongji-roi');
const haveData = fs.existsSync(DATA);

function* filesUnder(dir: string): Generator<string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(full);
    else if (entry.isFile()) yield full;
  }
}

/**
 * After `palmid enroll` and `palmid identify` on the embedded database: no capture, in any
 * encoding, in the database files, the data folder or the logs (at trace level).
 */
describe.skipIf(!haveData)('what enrolment and identification leave behind', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-nosample-'));
  const env = { PALMID_DATA_DIR: dataDir, PALMID_MASTER_KEY: TEST_MASTER_KEY, LOG_LEVEL: 'trace' };
  const images = ['005_01.bmp', '005_02.bmp', '005_03.bmp', '005_14.bmp'].map((f) => path.join(DATA, f));
  let logs = '';

  beforeAll(async () => {
    const db = await openDatabase({ dataDir });
    await migrate(db);
    await createPerson(db, { email: 'ana@example.org', role: 'user' });
    await db.close();
    for (const args of [
      ['tenant', 'add', '--id', 'shop', '--name', 'Shop'],
      ['consent', '--person', 'ana@example.org', '--tenant', 'shop', '--accept'],
      [
        'enroll',
        '--person',
        'ana@example.org',
        '--palm',
        'left',
        '--tenant',
        'shop',
        '--kind',
        'roi',
        ...images.slice(0, 3),
      ],
      ['identify', '--tenant', 'shop', '--kind', 'roi', '--json', images[3]!],
    ]) {
      const run = await palmid(env, ...args);
      expect(run.code, run.stderr).toBe(0);
      logs += run.stdout + run.stderr;
    }
  }, 180_000);
  afterAll(() => {
    for (const d of [dataDir, `${dataDir}-keys`]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('identified the person (so the pipeline really ran)', () => {
    expect(logs).toMatch(/"match":true,"person":"ana@example.org"/);
  });

  it('keeps no capture in any table (every row as text: bytea shows as hex, nothing compressed)', async () => {
    const db = await openDatabase({ dataDir });
    try {
      let dump = '';
      for (const { table_name } of await db.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`,
      )) {
        dump += (await db.query<{ r: string }>(`SELECT t::text AS r FROM "${table_name}" t`))
          .map((r) => r.r)
          .join('\n');
      }
      // Control: the stored (sealed) template is visible in this dump.
      const [stored] = await db.query<{ hex: string }>(
        `SELECT encode(substr(fine_template, 1, 24), 'hex') AS hex FROM palm_reference`,
      );
      expect(dump).toContain(stored!.hex);
      for (const image of images) {
        const bytes = fs.readFileSync(image);
        for (const offset of [1200, 5000, 9000, 15000])
          expect(dump).not.toContain(bytes.subarray(offset, offset + 24).toString('hex'));
      }
    } finally {
      await db.close();
    }
  });

  it('keeps no capture bytes in the data folder (database files included) or in the logs', () => {
    const haystacks = [...filesUnder(dataDir)].map((f) => fs.readFileSync(f));
    expect(haystacks.length).toBeGreaterThan(10); // the PGlite cluster is in there
    haystacks.push(Buffer.from(logs));
    for (const image of images) {
      const bytes = fs.readFileSync(image);
      for (const offset of [1200, 5000, 9000, 15000]) {
        const chunk = bytes.subarray(offset, offset + 24);
        for (const needle of [
          chunk,
          Buffer.from(chunk.toString('hex')),
          Buffer.from(chunk.toString('base64').slice(0, 24)),
        ]) {
          expect(haystacks.some((h) => h.includes(needle))).toBe(false);
        }
      }
    }
    // No image files were written anywhere in the data folder.
    expect([...filesUnder(dataDir)].filter((f) => /\.(bmp|png|jpe?g)$/i.test(f))).toEqual([]);
  });
});
