import { randomBytes, randomUUID } from 'node:crypto';
import type { Database } from '../db/database.js';
import { errorKind, invalidRequest } from '../errors.js';

export type Role = 'admin' | 'user';

export interface PersonRecord {
  id: string;
  email: string;
  name: string | null;
  role: string;
  webauthnId: string;
}

export class PersonExistsError extends errorKind(invalidRequest(1)) {}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** A plausible address: one @, no spaces, RFC 5321 length limits. Ownership is not checked. */
export function isValidEmail(email: string): boolean {
  return /^[^\s@]{1,64}@[^\s@]{1,255}$/.test(email.trim());
}

export async function createPerson(
  db: Database,
  input: { email: string; name?: string | null | undefined; role: Role },
): Promise<PersonRecord> {
  const email = normaliseEmail(input.email);
  if (await db.prisma.person.findUnique({ where: { email } }))
    throw new PersonExistsError(`${email} already has an account`);
  return db.prisma.person.create({
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

export async function findPersonById(db: Database, id: string): Promise<PersonRecord | null> {
  return db.prisma.person.findUnique({ where: { id } });
}

/** The person with this email address (compared as normalised), if any. */
export async function findPersonByEmail(db: Database, email: string): Promise<PersonRecord | null> {
  return db.prisma.person.findUnique({ where: { email: normaliseEmail(email) } });
}

/** What the provider's `findAccount` needs: every token and userinfo request asks, so plain SQL. */
export async function findAccount(
  db: Database,
  id: string,
): Promise<{ id: string; email: string; name: string | null } | undefined> {
  const [person] = await db.query<{ id: string; email: string; name: string | null }>(
    `SELECT id, email, name FROM person WHERE id = $1`,
    [id],
    'person_for_account',
  );
  return person;
}

/** Everyone, oldest first, with how many passkeys each has (the admin console). */
export async function listPeople(
  db: Database,
): Promise<Array<{ email: string; name: string | null; role: string; createdAt: Date; passkeys: number }>> {
  const people = await db.prisma.person.findMany({
    orderBy: { createdAt: 'asc' },
    select: { email: true, name: true, role: true, createdAt: true, _count: { select: { passkeys: true } } },
  });
  return people.map(({ _count, ...person }) => ({ ...person, passkeys: _count.passkeys }));
}

export async function countAdministrators(db: Database): Promise<number> {
  return db.prisma.person.count({ where: { role: 'admin' } });
}

/** The argon2id hash of the person's step-up PIN (src/readers/pin.ts), or null when none is set. */
export async function findPinHash(db: Database, personId: string): Promise<string | null> {
  const person = await db.prisma.person.findUnique({ where: { id: personId }, select: { pinHash: true } });
  return person?.pinHash ?? null;
}

export async function setPinHash(db: Database, personId: string, pinHash: string): Promise<void> {
  await db.prisma.person.update({ where: { id: personId }, data: { pinHash } });
}
