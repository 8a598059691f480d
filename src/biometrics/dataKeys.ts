import { randomBytes } from 'node:crypto';
import type { PrismaClient } from '../db/database.js';
import { open, seal } from '../crypto/aead.js';
import type { MasterKey } from '../crypto/masterKey.js';

/**
 * Per-person data keys for the fine palm templates. A person's templates are sealed under
 * their own random AES-256 key; that key is stored only wrapped by a subkey of the master key.
 * Erasing a person's palm data deletes the wrapped key first: every copy of their templates,
 * backups included, is then unreadable (crypto-shredding).
 */
export class PersonDataKeys {
  private readonly kek: Buffer;

  constructor(
    private readonly prisma: PrismaClient,
    master: MasterKey,
  ) {
    this.kek = master.derive('person-data-keys');
  }

  /** The person's key, created on first use. */
  async getOrCreate(personId: string): Promise<Buffer> {
    const existing = await this.find(personId);
    if (existing) return existing;
    const key = randomBytes(32);
    await this.prisma.personDataKey.createMany({
      data: [{ personId, wrappedKey: new Uint8Array(this.wrap(personId, key)) }],
      skipDuplicates: true,
    });
    // Another request may have won the race: use whatever is stored.
    return (await this.find(personId))!;
  }

  /** The stored form of a person's key (bulk loaders write it themselves). */
  wrap(personId: string, key: Buffer): Buffer {
    return seal(this.kek, key, `person-data-key:${personId}`);
  }

  async find(personId: string): Promise<Buffer | null> {
    const row = await this.prisma.personDataKey.findUnique({ where: { personId } });
    return row ? this.unwrap(personId, row.wrappedKey) : null;
  }

  unwrap(personId: string, wrapped: Uint8Array): Buffer {
    return open(this.kek, Buffer.from(wrapped), `person-data-key:${personId}`);
  }

  /** Destroys the key: everything sealed under it becomes unreadable. */
  async destroy(personId: string): Promise<boolean> {
    const { count } = await this.prisma.personDataKey.deleteMany({ where: { personId } });
    return count === 1;
  }
}

export function sealTemplate(key: Buffer, template: Uint8Array, referenceId: string): Buffer {
  return seal(key, Buffer.from(template), `palm-template:${referenceId}`);
}

export function openTemplate(key: Buffer, sealed: Uint8Array, referenceId: string): Buffer {
  return open(key, Buffer.from(sealed), `palm-template:${referenceId}`);
}
