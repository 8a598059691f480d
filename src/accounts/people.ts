import { randomBytes, randomUUID } from 'node:crypto';
import type { PrismaClient } from '../db/database.js';

export type Role = 'admin' | 'user';

export interface PersonRecord {
  id: string;
  email: string;
  name: string | null;
  role: string;
  webauthnId: string;
}

export class PersonExistsError extends Error {
  override name = 'PersonExistsError';
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** A plausible address: one @, no spaces, RFC 5321 length limits. Ownership is not checked. */
export function isValidEmail(email: string): boolean {
  return /^[^\s@]{1,64}@[^\s@]{1,255}$/.test(email.trim());
}

export async function createPerson(
  prisma: PrismaClient,
  input: { email: string; name?: string | null | undefined; role: Role },
): Promise<PersonRecord> {
  const email = normaliseEmail(input.email);
  if (await prisma.person.findUnique({ where: { email } }))
    throw new PersonExistsError(`${email} already has an account`);
  return prisma.person.create({
    data: {
      id: randomUUID(),
      email,
      name: input.name ?? null,
      role: input.role,
      // WebAuthn user handle: random, so the authenticator learns nothing about the person.
      webauthnId: randomBytes(32).toString('base64url'),
    },
  });
}

export async function findPersonById(prisma: PrismaClient, id: string): Promise<PersonRecord | null> {
  return prisma.person.findUnique({ where: { id } });
}

export async function countAdministrators(prisma: PrismaClient): Promise<number> {
  return prisma.person.count({ where: { role: 'admin' } });
}
