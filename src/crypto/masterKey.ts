import { hkdfSync } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';

/**
 * The master key protects everything else: signing keys, cookie keys, pairwise salts and (later)
 * per-person data keys are encrypted under it or derived from it. It comes from
 * PALMID_MASTER_KEY; only the embedded single-machine default may fall back to a key file.
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

export class MasterKeyError extends Error {
  override name = 'MasterKeyError';
}

/** Accepts 32 bytes as base64, base64url or 64 hex digits. */
export function parseMasterKey(text: string): MasterKey {
  const t = text.trim();
  let bytes: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(t)) bytes = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) bytes = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  else throw new MasterKeyError('PALMID_MASTER_KEY must be 32 bytes as base64 (openssl rand -base64 32) or 64 hex digits');
  return MasterKey.fromBytes(bytes);
}

export interface MasterKeySource {
  envValue: string | undefined;
  dataDir: string;
  /** The key file fallback is allowed only for the embedded database. */
  embedded: boolean;
  log?: Logger | undefined;
}

export function loadMasterKey({ envValue, dataDir, embedded, log }: MasterKeySource): MasterKey {
  if (envValue) return parseMasterKey(envValue);
  if (!embedded) {
    throw new MasterKeyError('PALMID_MASTER_KEY is required when DATABASE_URL is set (generate one with: openssl rand -base64 32)');
  }
  const file = path.join(dataDir, 'master.key');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    log?.warn({ file }, 'generated a master key file; set PALMID_MASTER_KEY and keep it out of the data folder in production');
  } else {
    const mode = fs.statSync(file).mode & 0o777;
    if (mode & 0o077) {
      throw new MasterKeyError(`${file} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${file}`);
    }
    log?.warn({ file }, 'using the master key file from the data folder; set PALMID_MASTER_KEY in production');
  }
  return parseMasterKey(fs.readFileSync(file, 'utf8'));
}
