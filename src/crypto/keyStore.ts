/**
 * The bucket key store: the keys that wrap people's data keys, kept OUTSIDE the database so that
 * destroying one is real. Rows deleted from a database live on in dead tuples, free space, the
 * write-ahead log and every backup; a key that exists only here, and is gone from here, opens
 * none of them. Each person's data key is wrapped under the key of one bucket (of BUCKETS);
 * erasing a person replaces their bucket's key by a new version and drops the old one.
 *
 * On disk: one file, sealed as a whole under a subkey of the master key (a stolen copy of the
 * file alone opens nothing), replaced atomically on every change (temporary file, fsync,
 * rename, fsync of the folder), so a crash leaves the old or the new content, never a mix.
 * Writers are serialised by the caller (a database lock, see dataKeys.ts).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { open, seal } from './aead.js';
import type { MasterKey } from './masterKey.js';
import { SETUP, errorKind } from '../errors.js';

export const BUCKETS = 1024;

const FILE = 'bucket-keys.sealed';
const AAD = 'palmid-bucket-key-store';

export class KeyStoreError extends errorKind(SETUP) {}

interface StoredForm {
  format: 1;
  /** bucket -> version -> key (base64) */
  buckets: Record<string, Record<string, string>>;
}

export class KeyStore {
  private keys = new Map<number, Map<number, Buffer>>();
  private loaded = false;
  /** The file as last read (inode, size, mtime): another process's change is seen at the next use. */
  private seen = '';

  private constructor(
    /** The folder, or null for a store that lives only in this process (tests, benchmarks). */
    readonly dir: string | null,
    private readonly sealingKey: Buffer,
  ) {}

  /** The store in `dir` (created on first write). */
  static inFolder(dir: string, master: MasterKey): KeyStore {
    return new KeyStore(path.resolve(dir), master.derive('bucket-key-store'));
  }

  /**
   * The installation's store (PALMID_KEY_STORE); warns if it sits inside the data folder, where
   * every copy of the data folder would carry it.
   */
  static forInstallation(o: {
    dir: string;
    dataDir: string;
    master: MasterKey;
    log?: { warn(obj: object, msg: string): void } | undefined;
  }): KeyStore {
    const relative = path.relative(path.resolve(o.dataDir), path.resolve(o.dir));
    if (!relative.startsWith('..') && !path.isAbsolute(relative)) {
      o.log?.warn(
        { keyStore: o.dir, dataDir: o.dataDir },
        'the key store is inside the data folder: backups of the data folder then carry the keys that erasure ' +
          'destroys; set PALMID_KEY_STORE to a folder outside it',
      );
    }
    return KeyStore.inFolder(o.dir, o.master);
  }

  /** A store kept in memory only: everything wrapped under it is lost with the process. */
  static ephemeral(): KeyStore {
    const store = new KeyStore(null, randomBytes(32));
    store.loaded = true;
    return store;
  }

  get file(): string | null {
    return this.dir ? path.join(this.dir, FILE) : null;
  }

  /**
   * The key of a bucket at a version; re-reads the file once if it is not known (another process
   * may have added it).
   */
  key(bucket: number, version: number): Buffer | undefined {
    this.ensureLoaded();
    this.reloadIfChanged();
    let key = this.keys.get(bucket)?.get(version);
    if (!key && this.dir) {
      this.reload();
      key = this.keys.get(bucket)?.get(version);
    }
    if (!key && !this.dir) {
      // An ephemeral store starts with a fresh database: any key it is asked for is a new one.
      this.add([{ bucket, version }]);
      key = this.keys.get(bucket)!.get(version);
    }
    return key;
  }

  /** Every (bucket, version) held, for checks and tests. */
  entries(): Array<{ bucket: number; version: number; key: Buffer }> {
    this.ensureLoaded();
    this.reloadIfChanged();
    return [...this.keys].flatMap(([bucket, versions]) =>
      [...versions].map(([version, key]) => ({ bucket, version, key })),
    );
  }

  /** The highest version held for a bucket. */
  latest(bucket: number): number | undefined {
    this.ensureLoaded();
    this.reloadIfChanged();
    const versions = this.keys.get(bucket);
    return versions?.size ? Math.max(...versions.keys()) : undefined;
  }

  /**
   * Adds a fresh random key for each (bucket, version) given and writes the store. Re-reads the
   * file first so that it never writes back a stale copy.
   */
  add(entries: Array<{ bucket: number; version: number }>): void {
    if (!entries.length) return;
    this.reload();
    this.addKeys(entries);
    this.write();
  }

  private addKeys(entries: Array<{ bucket: number; version: number }>): void {
    for (const { bucket, version } of entries) {
      if (!Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKETS || !Number.isInteger(version) || version < 1) {
        throw new KeyStoreError(`not a bucket key: ${bucket}/${version}`);
      }
      let versions = this.keys.get(bucket);
      if (!versions) {
        versions = new Map();
        this.keys.set(bucket, versions);
      }
      if (versions.has(version)) throw new KeyStoreError(`bucket ${bucket} already has a key version ${version}`);
      versions.set(version, randomBytes(32));
    }
  }

  /**
   * A fresh key for each bucket at the version given, replacing any key held at that version or
   * above (left by an erasure that never committed: nothing uses them); one write.
   */
  replaceFrom(entries: Array<{ bucket: number; version: number }>): void {
    if (!entries.length) return;
    this.reload();
    for (const { bucket, version } of entries) {
      for (const [v, key] of this.keys.get(bucket) ?? []) {
        if (v < version) continue;
        key.fill(0);
        this.keys.get(bucket)!.delete(v);
      }
    }
    this.addKeys(entries);
    this.write();
  }

  /** Drops every key `keep` refuses and writes the store: those keys are destroyed. Returns how many. */
  retain(keep: (bucket: number, version: number) => boolean): number {
    this.reload();
    let dropped = 0;
    for (const [bucket, versions] of this.keys) {
      for (const [version, key] of versions) {
        if (keep(bucket, version)) continue;
        key.fill(0);
        versions.delete(version);
        dropped++;
      }
      if (!versions.size) this.keys.delete(bucket);
    }
    if (dropped) this.write();
    return dropped;
  }

  private ensureLoaded(): void {
    if (!this.loaded) this.reload();
  }

  /** A version another process dropped leaves this process's memory at its next use of the store. */
  private reloadIfChanged(): void {
    if (this.dir && this.stamp() !== this.seen) this.reload();
  }

  private stamp(): string {
    try {
      const st = fs.statSync(this.file!);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'none';
    }
  }

  private replaceKeys(keys: Map<number, Map<number, Buffer>>): void {
    for (const versions of this.keys.values()) for (const key of versions.values()) key.fill(0);
    this.keys = keys;
    this.loaded = true;
  }

  private reload(): void {
    if (!this.dir) return;
    const file = this.file!;
    this.seen = this.stamp();
    let sealed: Buffer;
    try {
      sealed = fs.readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.replaceKeys(new Map());
      return;
    }
    const mode = fs.statSync(file).mode & 0o777;
    if (mode & 0o077)
      throw new KeyStoreError(`${file} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${file}`);
    let form: StoredForm;
    try {
      form = JSON.parse(open(this.sealingKey, sealed, AAD).toString('utf8')) as StoredForm;
    } catch {
      throw new KeyStoreError(
        `${file} does not open with this master key (another installation's store, or a damaged file)`,
      );
    }
    if (form.format !== 1) throw new KeyStoreError(`${file}: unknown format ${String(form.format)}`);
    const keys = new Map<number, Map<number, Buffer>>();
    for (const [bucket, versions] of Object.entries(form.buckets)) {
      keys.set(
        Number(bucket),
        new Map(Object.entries(versions).map(([v, k]) => [Number(v), Buffer.from(k, 'base64')])),
      );
    }
    this.replaceKeys(keys);
  }

  private write(): void {
    if (!this.dir) return;
    const form: StoredForm = { format: 1, buckets: {} };
    for (const [bucket, versions] of this.keys) {
      form.buckets[bucket] = Object.fromEntries([...versions].map(([v, k]) => [v, k.toString('base64')]));
    }
    const plain = Buffer.from(JSON.stringify(form));
    const sealed = seal(this.sealingKey, plain, AAD);
    plain.fill(0);
    writeAtomically(this.dir, FILE, sealed);
    this.seen = this.stamp();
  }
}

/** Replaces dir/name by `bytes` so that a crash leaves either the old or the new file. */
function writeAtomically(dir: string, name: string, bytes: Buffer): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = path.join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(temp, 'wx', 0o600);
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(temp, path.join(dir, name));
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
  const dirFd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

/**
 * The key store each database's data keys use. The server and the CLI attach the configured
 * file store when they open the database; a database opened by a test or benchmark without one
 * gets an ephemeral store (its data lives no longer than the process either).
 */
const attached = new WeakMap<object, KeyStore>();

export function attachKeyStore(db: object, store: KeyStore): KeyStore {
  const existing = attached.get(db);
  if (existing) return existing;
  attached.set(db, store);
  return store;
}

export function keyStoreOf(db: object): KeyStore {
  return attachKeyStore(db, KeyStore.ephemeral());
}
