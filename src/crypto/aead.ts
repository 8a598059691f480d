/**
 * AES-256-GCM sealing with a one-byte format version, a random 96-bit nonce and the tag kept
 * with the ciphertext: version(1) | iv(12) | tag(16) | ciphertext. The associated data binds a
 * ciphertext to its purpose and row (e.g. "signing-key:<kid>"), so rows cannot be swapped.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { INTERNAL, errorKind } from '../errors.js';

const VERSION = 1;

/** A ciphertext that does not open: a wrong master key or tampered data, never expected by a command. */
export class DecryptionError extends errorKind(INTERNAL) {}

export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  if (key.length !== 32) throw new Error('AES-256-GCM needs a 32-byte key');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ct]);
}

export function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < 29 || sealed[0] !== VERSION) throw new DecryptionError('unknown ciphertext format');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(sealed.subarray(13, 29));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]);
  } catch {
    throw new DecryptionError('ciphertext does not authenticate (wrong master key or tampered data)');
  }
}
