import argon2 from 'argon2';
import type { PrismaClient } from '../db/database.js';

/** A person's step-up PIN: 4 to 12 digits, stored only as an argon2id hash. */
export class PinError extends Error {
  override name = 'PinError';
}

export async function setPin(prisma: PrismaClient, personId: string, pin: string): Promise<void> {
  if (!/^\d{4,12}$/.test(pin)) throw new PinError('a PIN has 4 to 12 digits');
  await prisma.person.update({
    where: { id: personId },
    data: { pinHash: await argon2.hash(pin, { type: argon2.argon2id }) },
  });
}

export async function verifyPin(prisma: PrismaClient, personId: string, pin: unknown): Promise<boolean> {
  if (typeof pin !== 'string' || pin.length > 64) return false;
  const person = await prisma.person.findUnique({ where: { id: personId }, select: { pinHash: true } });
  if (!person?.pinHash) return false;
  return argon2.verify(person.pinHash, pin).catch(() => false);
}
