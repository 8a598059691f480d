/** A person's step-up PIN: 4 to 12 digits, stored only as an argon2id hash. */
import argon2 from 'argon2';
import { findPinHash, setPinHash } from '../accounts/people.js';
import type { Database } from '../db/database.js';
import { errorKind, invalidRequest } from '../errors.js';

export class PinError extends errorKind(invalidRequest(2)) {}

export async function setPin(db: Database, personId: string, pin: string): Promise<void> {
  if (!/^\d{4,12}$/.test(pin)) throw new PinError('a PIN has 4 to 12 digits');
  await setPinHash(db, personId, await argon2.hash(pin, { type: argon2.argon2id }));
}

export async function verifyPin(db: Database, personId: string, pin: unknown): Promise<boolean> {
  if (typeof pin !== 'string' || pin.length > 64) return false;
  const pinHash = await findPinHash(db, personId);
  if (!pinHash) return false;
  return argon2.verify(pinHash, pin).catch(() => false);
}
