import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { PrismaClient } from '../db/database.js';
import { open, seal } from './aead.js';
import type { MasterKey } from './masterKey.js';

/**
 * Token signing keys: one ES256 and one RS256 key are active at a time. Private JWKs are stored
 * sealed under a subkey of the master key. A rotation retires the active keys (they stop
 * signing) but keeps them published until every token they signed has expired.
 */
export const SIGNING_ALGS = ['ES256', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

export interface SigningKeySet {
  /** Private JWKs: active keys first (oidc-provider signs with the first key of an alg). */
  keys: JWK[];
  /** A fingerprint of the set, to notice a rotation made by another process. */
  version: string;
}

export class SigningKeyStore {
  private readonly sealingKey: Buffer;

  constructor(
    private readonly prisma: PrismaClient,
    master: MasterKey,
  ) {
    this.sealingKey = master.derive('signing-keys');
  }

  /** Creates the first keys on first start; a no-op afterwards. */
  async ensureActiveKeys(): Promise<void> {
    for (const alg of SIGNING_ALGS) {
      const active = await this.prisma.signingKey.count({ where: { alg, retiredAt: null } });
      if (active === 0) await this.create(alg);
    }
  }

  /**
   * Retires the active keys and creates new ones. `publishFor` is how long the retired keys must
   * stay published: the longest lifetime of a token they may have signed, plus clock tolerance.
   */
  async rotate(publishForSeconds: number): Promise<{ retired: string[]; created: string[] }> {
    const now = new Date();
    const active = await this.prisma.signingKey.findMany({ where: { retiredAt: null } });
    const created: string[] = [];
    for (const alg of SIGNING_ALGS) created.push(await this.create(alg));
    await this.prisma.signingKey.updateMany({
      where: { kid: { in: active.map((k) => k.kid) } },
      data: { retiredAt: now, publishUntil: new Date(now.getTime() + publishForSeconds * 1000) },
    });
    return { retired: active.map((k) => k.kid), created };
  }

  /** The keys to publish, after dropping retired keys whose tokens can no longer be valid. */
  async load(): Promise<SigningKeySet> {
    await this.prisma.signingKey.deleteMany({ where: { publishUntil: { lt: new Date() } } });
    const rows = await this.prisma.signingKey.findMany({ orderBy: [{ createdAt: 'desc' }] });
    rows.sort((a, b) => Number(a.retiredAt !== null) - Number(b.retiredAt !== null));
    const keys = rows.map((row) => {
      const jwk = JSON.parse(open(this.sealingKey, Buffer.from(row.encryptedJwk), `signing-key:${row.kid}`).toString()) as JWK;
      return { ...jwk, kid: row.kid, alg: row.alg, use: 'sig' };
    });
    return { keys, version: rows.map((r) => `${r.kid}:${r.retiredAt ? 'r' : 'a'}`).join(',') };
  }

  async list(): Promise<Array<{ kid: string; alg: string; status: 'active' | 'retired'; createdAt: Date; publishUntil: Date | null }>> {
    const rows = await this.prisma.signingKey.findMany({ orderBy: { createdAt: 'asc' } });
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      status: r.retiredAt ? 'retired' : 'active',
      createdAt: r.createdAt,
      publishUntil: r.publishUntil,
    }));
  }

  private async create(alg: SigningAlg): Promise<string> {
    const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
    const jwk = await exportJWK(privateKey);
    const kid = randomUUID();
    await this.prisma.signingKey.create({
      data: {
        kid,
        alg,
        encryptedJwk: new Uint8Array(seal(this.sealingKey, Buffer.from(JSON.stringify(jwk)), `signing-key:${kid}`)),
      },
    });
    return kid;
  }
}
