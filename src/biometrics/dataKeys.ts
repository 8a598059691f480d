/**
 * Per-person data keys for the fine palm templates, and their destruction (crypto-shredding).
 *
 * A person's templates are sealed under their own random AES-256 key. That key is stored in the
 * database wrapped under the key of one bucket of the key store, which lives outside the
 * database (src/crypto/keyStore.ts). Deleting a row does not destroy it (dead tuples, WAL,
 * backups keep it), so an erasure destroys the bucket key instead: the bucket gets a new key
 * version, the other people of the bucket are re-wrapped under it in the same transaction as the
 * deletion, and the old version is then dropped from the store. From then on nothing palmid
 * holds opens the erased person's wrapped key, wherever a copy of it survives.
 *
 * Wrapped form (format 2): 0x02 | bucket (u16) | version (u32) | AES-GCM sealed key, with the
 * person, bucket and version as associated data. The table's bucket and key_version columns
 * are generated from these bytes. Format 1 (sealed under a master-key subkey, before the key
 * store) is re-wrapped into buckets at start (prepare).
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Database } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';
import { DecryptionError, open, seal } from '../crypto/aead.js';
import { BUCKETS, KeyStoreError, type KeyStore } from '../crypto/keyStore.js';
import type { MasterKey } from '../crypto/masterKey.js';
import type { Logger } from '../log.js';

const FORMAT = 2;
const HEADER = 7;
/** Serialises every change of the key store file across processes sharing the database. */
const KEY_STORE_LOCK = 72707370;
const PAGE = 500;

type Tx = Prisma.TransactionClient;

interface KeyRow {
  person_id: string;
  wrapped_key: Uint8Array;
  bucket: number | null;
  key_version: number | null;
}

export class PersonDataKeys {
  /** The bucket a new person's key goes to (spread at random; tests may pin it). */
  bucketFor: (personId: string) => number = () => randomInt(BUCKETS);

  constructor(
    private readonly db: Database,
    private readonly master: MasterKey,
    readonly store: KeyStore,
  ) {}

  /** The person's key, created on first use under their bucket's committed key version. */
  async getOrCreate(personId: string): Promise<Buffer> {
    const existing = await this.find(personId);
    if (existing) return existing;
    const key = randomBytes(32);
    const bucket = this.bucketFor(personId);
    await this.db.prisma.$transaction(
      async (tx) => {
        // FOR SHARE: an erasure rotating this bucket waits for this key, or this key for it.
        const [row] = await tx.$queryRawUnsafe<Array<{ version: number }>>(
          `SELECT version FROM data_key_bucket WHERE bucket = $1 FOR SHARE`,
          bucket,
        );
        if (!row) throw new KeyStoreError(`no data key bucket ${bucket}`);
        await tx.$executeRawUnsafe(
          `INSERT INTO person_data_key (person_id, wrapped_key) VALUES ($1, $2) ON CONFLICT (person_id) DO NOTHING`,
          personId,
          new Uint8Array(this.wrapUnder(personId, key, bucket, row.version)),
        );
      },
      { timeout: 60_000, maxWait: 60_000 }, // may wait for an erasure re-wrapping the bucket
    );
    // Another request may have won the race: use whatever is stored.
    return (await this.find(personId))!;
  }

  /**
   * The stored form of a new person's key, for bulk loaders that insert person_data_key rows
   * themselves: wrapped under the bucket's newest key version in the store, which is the
   * committed one once prepare() has run and no erasure runs meanwhile.
   */
  wrap(personId: string, key: Buffer): Buffer {
    const bucket = this.bucketFor(personId);
    return this.wrapUnder(personId, key, bucket, this.store.latest(bucket) ?? 1);
  }

  async find(personId: string): Promise<Buffer | null> {
    const [row] = await this.db.query<{ wrapped_key: Uint8Array }>(
      `SELECT wrapped_key FROM person_data_key WHERE person_id = $1`,
      [personId],
    );
    return row ? this.unwrap(personId, row.wrapped_key) : null;
  }

  unwrap(personId: string, wrapped: Uint8Array): Buffer {
    const bytes = Buffer.from(wrapped);
    if (bytes[0] !== FORMAT || bytes.length < HEADER) {
      throw new KeyStoreError(
        `the data key of ${personId} is not in a key-store bucket yet (palmid re-wraps such keys at start)`,
      );
    }
    const bucket = bytes.readUInt16BE(1);
    const version = bytes.readUInt32BE(3);
    const key = this.store.key(bucket, version);
    if (!key)
      throw new DecryptionError(
        `bucket key ${bucket}/${version} is not in the key store (destroyed, or the store is not this installation's)`,
      );
    return open(key, bytes.subarray(HEADER), aad(personId, bucket, version));
  }

  private wrapUnder(personId: string, key: Buffer, bucket: number, version: number): Buffer {
    const bucketKey = this.store.key(bucket, version);
    if (!bucketKey)
      throw new KeyStoreError(
        `bucket key ${bucket}/${version} is not in the key store ${this.store.file ?? '(in memory)'}`,
      );
    const header = Buffer.alloc(HEADER);
    header[0] = FORMAT;
    header.writeUInt16BE(bucket, 1);
    header.writeUInt32BE(version, 3);
    return Buffer.concat([header, seal(bucketKey, key, aad(personId, bucket, version))]);
  }

  /**
   * Erases palm data and destroys the keys that could open it. `deleteRows` deletes the
   * references (inside the transaction); afterwards each person given in `personIds` either has
   * references left, and then gets a new data key under which those are sealed again, or loses
   * their data key. Every bucket holding one of their keys is rotated once: the new key version
   * is written to the store first, the database commits the deletion, the re-wrapped bucket and
   * its new version together, then the old version is dropped from the store. A crash in
   * between leaves a version the database does not use, which prepare() drops at the next start.
   */
  async shred<T>(personIds: string[], deleteRows: (tx: Tx) => Promise<T>): Promise<{ result: T; buckets: number }> {
    const rotated = new Map<number, number>(); // bucket -> new version
    const result = await this.underStoreLock(async (tx) => {
      const affected: KeyRow[] = [];
      for (const ids of chunks([...new Set(personIds)], 1000)) {
        affected.push(
          ...(await tx.$queryRawUnsafe<KeyRow[]>(
            `SELECT person_id, wrapped_key, bucket, key_version FROM person_data_key
              WHERE person_id IN (${list(ids.length)}) FOR UPDATE`,
            ...ids,
          )),
        );
      }
      const buckets = [...new Set(affected.map((r) => r.bucket).filter((b): b is number => b !== null))].sort(
        (a, b) => a - b,
      );
      const current = buckets.length
        ? await tx.$queryRawUnsafe<Array<{ bucket: number; version: number }>>(
            `SELECT bucket, version FROM data_key_bucket
              WHERE bucket IN (${list(buckets.length)}) ORDER BY bucket FOR UPDATE`,
            ...buckets,
          )
        : [];
      for (const { bucket, version } of current) rotated.set(bucket, version + 1);
      // On disk before the database refers to it.
      this.store.replaceFrom([...rotated].map(([bucket, version]) => ({ bucket, version })));

      const result = await deleteRows(tx);

      // The sealed templates are re-sealed here, on palm_reference (references.ts's table), because
      // it happens in this transaction, between the key rows locked above and their re-wrapping.
      for (const row of affected) {
        const remaining = await tx.$queryRawUnsafe<Array<{ id: string; fine_template: Uint8Array }>>(
          `SELECT id, fine_template FROM palm_reference WHERE person_id = $1`,
          row.person_id,
        );
        if (!remaining.length) {
          await tx.$executeRawUnsafe(`DELETE FROM person_data_key WHERE person_id = $1`, row.person_id);
          continue;
        }
        if (row.bucket === null)
          throw new KeyStoreError(
            `the data key of ${row.person_id} is not in a key-store bucket yet; restart palmid to re-wrap it`,
          );
        // The person keeps other references: those move to a new data key, the old one is destroyed
        // with the old bucket key.
        const oldKey = this.unwrap(row.person_id, row.wrapped_key);
        const newKey = randomBytes(32);
        for (const ref of remaining) {
          const sealed = sealTemplate(newKey, openTemplate(oldKey, ref.fine_template, ref.id), ref.id);
          await tx.$executeRawUnsafe(
            `UPDATE palm_reference SET fine_template = $1 WHERE id = $2`,
            new Uint8Array(sealed),
            ref.id,
          );
        }
        const wrapped = this.wrapUnder(row.person_id, newKey, row.bucket, rotated.get(row.bucket)!);
        await tx.$executeRawUnsafe(
          `UPDATE person_data_key SET wrapped_key = $1 WHERE person_id = $2`,
          new Uint8Array(wrapped),
          row.person_id,
        );
        oldKey.fill(0);
        newKey.fill(0);
      }

      // Everyone else of the rotated buckets keeps their data key, wrapped under the new version.
      for (const { bucket, version } of current) {
        let after = '';
        for (;;) {
          const page = await tx.$queryRawUnsafe<KeyRow[]>(
            `SELECT person_id, wrapped_key, bucket, key_version FROM person_data_key
              WHERE bucket = $1 AND key_version = $2 AND person_id > $3 ORDER BY person_id LIMIT ${PAGE}`,
            bucket,
            version,
            after,
          );
          if (!page.length) break;
          const values: unknown[] = [];
          for (const row of page) {
            const key = this.unwrap(row.person_id, row.wrapped_key);
            values.push(row.person_id, new Uint8Array(this.wrapUnder(row.person_id, key, bucket, version + 1)));
            key.fill(0);
          }
          await tx.$executeRawUnsafe(
            `UPDATE person_data_key p SET wrapped_key = v.w
               FROM (VALUES ${page.map((_, i) => `($${2 * i + 1}, $${2 * i + 2}::bytea)`).join(',')}) AS v(id, w)
              WHERE p.person_id = v.id`,
            ...values,
          );
          after = page[page.length - 1]!.person_id;
        }
      }
      if (current.length) {
        await tx.$executeRawUnsafe(
          `UPDATE data_key_bucket SET version = version + 1 WHERE bucket IN (${list(buckets.length)})`,
          ...buckets,
        );
      }
      return result;
    });
    if (rotated.size) await this.dropOldVersions([...rotated.keys()]);
    return { result, buckets: rotated.size };
  }

  /** Destroys the store's versions of these buckets other than the committed one. */
  private async dropOldVersions(buckets: number[]): Promise<number> {
    return this.underStoreLock(async (tx) => {
      const rows = await tx.$queryRawUnsafe<Array<{ bucket: number; version: number }>>(
        `SELECT bucket, version FROM data_key_bucket WHERE bucket IN (${list(buckets.length)})`,
        ...buckets,
      );
      const committed = new Map(rows.map((r) => [r.bucket, r.version]));
      return this.store.retain((bucket, version) => !committed.has(bucket) || committed.get(bucket) === version);
    });
  }

  /**
   * At start: bring the key store and the database into agreement, then move data keys of the
   * older format into buckets. Keeps, for each bucket, the committed version (created if the
   * store lacks it and no key uses it) and any version a stored key still uses; drops the rest,
   * which finishes an erasure interrupted before or after its commit. A store that lacks a
   * version some key uses is refused: those keys are lost unless the store is restored.
   */
  async prepare(log?: Logger): Promise<{ created: number; dropped: number; rewrapped: number }> {
    const { created, dropped } = await this.underStoreLock(async (tx) => {
      const committed = await tx.$queryRawUnsafe<Array<{ bucket: number; version: number }>>(
        `SELECT bucket, version FROM data_key_bucket`,
      );
      if (committed.length !== BUCKETS)
        throw new KeyStoreError(`data_key_bucket has ${committed.length} rows, expected ${BUCKETS}`);
      const used = await tx.$queryRawUnsafe<Array<{ bucket: number; key_version: number; n: number }>>(
        `SELECT bucket, key_version, count(*)::int AS n FROM person_data_key
          WHERE bucket IS NOT NULL GROUP BY bucket, key_version`,
      );
      const held = new Set(this.store.entries().map((e) => `${e.bucket}:${e.version}`));
      const lost = used.filter((u) => !held.has(`${u.bucket}:${u.key_version}`));
      if (lost.length) {
        const keys = lost.reduce((n, u) => n + u.n, 0);
        throw new KeyStoreError(
          `the key store ${this.store.file ?? '(in memory)'} lacks the bucket keys of ${keys} person data key(s): ` +
            'restore it from its backup ' +
            `(PALMID_KEY_STORE). If it is lost for good, those people's palm data can never be read again: delete it ` +
            `(DELETE FROM palm_reference; DELETE FROM person_data_key;) and have them enrol again.`,
        );
      }
      const missing = committed.filter((c) => !held.has(`${c.bucket}:${c.version}`));
      this.store.add(missing); // no key uses these yet (checked above)
      const keep = new Set([
        ...committed.map((c) => `${c.bucket}:${c.version}`),
        ...used.map((u) => `${u.bucket}:${u.key_version}`),
      ]);
      const stale = used.filter((u) => committed.find((c) => c.bucket === u.bucket)!.version !== u.key_version);
      if (stale.length)
        log?.warn(
          { buckets: stale.map((s) => s.bucket) },
          'person data keys under an older bucket key version were kept; erase or re-enrol those people',
        );
      return {
        created: missing.length,
        dropped: this.store.retain((bucket, version) => keep.has(`${bucket}:${version}`)),
      };
    });
    if (created === BUCKETS && this.store.file)
      log?.info(
        { file: this.store.file },
        'key store created: back it up separately from the database (README, "Key store, erasure and backups")',
      );
    if (dropped) log?.info({ dropped }, 'key store: bucket key versions of an interrupted erasure destroyed');
    const rewrapped = await this.rewrapOlderKeys();
    if (rewrapped) {
      log?.info({ rewrapped }, 'person data keys moved into key-store buckets');
      // The older forms open with the master key alone: rewrite the table so that its files no
      // longer hold them (the WAL keeps them until it is recycled; older backups keep them).
      await this.db.query('VACUUM FULL person_data_key');
      if (this.db.kind === 'pglite') await this.db.query('CHECKPOINT');
    }
    return { created, dropped, rewrapped };
  }

  /** Format-1 keys (under a master-key subkey) re-wrapped into buckets, in batches; repeatable. */
  private async rewrapOlderKeys(): Promise<number> {
    const legacy = this.master.derive('person-data-keys');
    let total = 0;
    for (;;) {
      const n = await this.db.prisma.$transaction(
        async (tx) => {
          const rows = await tx.$queryRawUnsafe<KeyRow[]>(
            `SELECT person_id, wrapped_key, bucket, key_version FROM person_data_key
              WHERE bucket IS NULL ORDER BY person_id LIMIT ${PAGE} FOR UPDATE SKIP LOCKED`,
          );
          if (!rows.length) return 0;
          const chosen = rows.map((r) => this.bucketFor(r.person_id));
          const buckets = [...new Set(chosen)].sort((a, b) => a - b);
          const versions = new Map(
            (
              await tx.$queryRawUnsafe<Array<{ bucket: number; version: number }>>(
                `SELECT bucket, version FROM data_key_bucket
                  WHERE bucket IN (${list(buckets.length)}) ORDER BY bucket FOR SHARE`,
                ...buckets,
              )
            ).map((r) => [r.bucket, r.version]),
          );
          const values: unknown[] = [];
          rows.forEach((row, i) => {
            const key = open(legacy, Buffer.from(row.wrapped_key), `person-data-key:${row.person_id}`);
            values.push(
              row.person_id,
              new Uint8Array(this.wrapUnder(row.person_id, key, chosen[i]!, versions.get(chosen[i]!)!)),
            );
            key.fill(0);
          });
          await tx.$executeRawUnsafe(
            `UPDATE person_data_key p SET wrapped_key = v.w
               FROM (VALUES ${rows.map((_, i) => `($${2 * i + 1}, $${2 * i + 2}::bytea)`).join(',')}) AS v(id, w)
              WHERE p.person_id = v.id AND p.bucket IS NULL`,
            ...values,
          );
          return rows.length;
        },
        { timeout: 120_000, maxWait: 60_000 },
      );
      if (!n) return total;
      total += n;
    }
  }

  /**
   * Runs `fn` in a transaction holding the key-store lock: one writer of the store file at a time,
   * across processes.
   */
  private underStoreLock<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.prisma.$transaction(
      async (tx) => {
        await tx.$queryRawUnsafe(`SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(${KEY_STORE_LOCK})) l`);
        return fn(tx);
      },
      { timeout: 10 * 60_000, maxWait: 60_000 },
    );
  }
}

function aad(personId: string, bucket: number, version: number): string {
  return `person-data-key:${personId}:${bucket}:${version}`;
}

function list(n: number, from = 1): string {
  return Array.from({ length: n }, (_, i) => `$${from + i}`).join(',');
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function sealTemplate(key: Buffer, template: Uint8Array, referenceId: string): Buffer {
  return seal(key, Buffer.from(template), `palm-template:${referenceId}`);
}

export function openTemplate(key: Buffer, sealed: Uint8Array, referenceId: string): Buffer {
  return open(key, Buffer.from(sealed), `palm-template:${referenceId}`);
}
