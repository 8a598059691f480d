import { hkdfSync } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { SETUP, errorKind } from '../errors.js';

/**
 * The master key protects everything else: signing keys, cookie keys, pairwise salts and the
 * key store file are encrypted under it or derived from it. It comes from PALMID_MASTER_KEY;
 * only the embedded single-machine default may fall back to a key file. Person data keys do not
 * depend on it alone: they are wrapped under key-store bucket keys (keyStore.ts), which an
 * erasure destroys.
 */
export class MasterKey {
  private constructor(private readonly key: Buffer) {}

  static fromBytes(key: Buffer): MasterKey {
    if (key.length !== 32) throw new MasterKeyError('the master key must be 32 bytes');
    return new MasterKey(Buffer.from(key));
  }

  /** A 32-byte subkey for one purpose (HKDF-SHA256), so no two uses share key material. */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.key, Buffer.alloc(0), `palmid:${purpose}`, 32));
  }
}

export class MasterKeyError extends errorKind(SETUP) {}

/** Accepts 32 bytes as base64, base64url or 64 hex digits. */
export function parseMasterKey(text: string): MasterKey {
  const t = text.trim();
  let bytes: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(t)) bytes = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) bytes = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  else
    throw new MasterKeyError('PALMID_MASTER_KEY must be 32 bytes as base64 (openssl rand -base64 32) or 64 hex digits');
  return MasterKey.fromBytes(bytes);
}

export interface MasterKeySource {
  envValue: string | undefined;
  dataDir: string;
  /** The key store folder (outside the data folder): where a generated key file goes. */
  keyStoreDir: string;
  /** The key file fallback is allowed only for the embedded database. */
  embedded: boolean;
  log?: Logger | undefined;
}

/**
 * PALMID_MASTER_KEY, or for the embedded default a key file: in the key store folder, generated
 * there on first start. Installations from before the key store keep theirs in the data folder;
 * it is still read (no key may be lost), with a warning to move it.
 */
export function loadMasterKey({ envValue, dataDir, keyStoreDir, embedded, log }: MasterKeySource): MasterKey {
  if (envValue) return parseMasterKey(envValue);
  if (!embedded) {
    throw new MasterKeyError(
      'PALMID_MASTER_KEY is required when DATABASE_URL is set (generate one with: openssl rand -base64 32)',
    );
  }
  const file = path.join(keyStoreDir, 'master.key');
  const inDataFolder = path.join(dataDir, 'master.key');
  if (fs.existsSync(file)) return readKeyFile(file);
  if (fs.existsSync(inDataFolder)) {
    log?.warn(
      { file: inDataFolder, moveTo: file },
      'the master key file is in the data folder, so every copy of the data folder carries it: ' +
        'stop palmid, move it to the key store folder (or set PALMID_MASTER_KEY)',
    );
    return readKeyFile(inDataFolder);
  }
  fs.mkdirSync(keyStoreDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  log?.warn({ file }, 'generated a master key file; set PALMID_MASTER_KEY in production');
  return readKeyFile(file);
}

function readKeyFile(file: string): MasterKey {
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new MasterKeyError(`${file} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${file}`);
  }
  return parseMasterKey(fs.readFileSync(file, 'utf8'));
}
