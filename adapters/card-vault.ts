import { randomBytes } from 'node:crypto';
import type { Database } from '../src/db/database.js';
import { open, seal } from '../src/crypto/aead.js';

/**
 * Where card numbers go. palmid itself keeps only the token a vault hands back (plus brand and
 * last four digits); a deployment that uses a payment provider's vault implements this
 * interface for it.
 */
export interface CardVault {
  readonly name: string;
  /** Stores the card number and returns an opaque token for it. */
  tokenize(card: { number: string; expMonth: number; expYear: number }): Promise<string>;
  /** Forgets the card. */
  remove(token: string): Promise<void>;
}

/**
 * The default vault: the card number sealed (AES-256-GCM) under the vault's own key in a table
 * of its own. The key is independent of everything else palmid derives.
 */
export class LocalCardVault implements CardVault {
  readonly name = 'local';

  constructor(
    private readonly db: Database,
    private readonly key: Buffer,
  ) {
    if (key.length !== 32) throw new Error('the card vault needs a 32-byte key');
  }

  async tokenize(card: { number: string; expMonth: number; expYear: number }): Promise<string> {
    const token = `vtok_${randomBytes(18).toString('base64url')}`;
    const plaintext = Buffer.from(JSON.stringify(card));
    await this.db.prisma.vaultEntry.create({
      data: { token, ciphertext: new Uint8Array(seal(this.key, plaintext, `vault:${token}`)) },
    });
    plaintext.fill(0);
    return token;
  }

  /** For a payment integration that needs the number back; never used by palmid itself. */
  async reveal(token: string): Promise<{ number: string; expMonth: number; expYear: number } | null> {
    const row = await this.db.prisma.vaultEntry.findUnique({ where: { token } });
    return row ? JSON.parse(open(this.key, Buffer.from(row.ciphertext), `vault:${token}`).toString()) : null;
  }

  async remove(token: string): Promise<void> {
    await this.db.prisma.vaultEntry.deleteMany({ where: { token } });
  }
}
