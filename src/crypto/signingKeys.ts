/**
 * The provider's keys: token signing keys (one ES256 and one RS256 active at a time) and the
 * capture key (ECDH-ES on P-256, `use: enc`) to which readers encrypt their capture envelopes. Private JWKs are stored
 * sealed under a subkey of the master key. A rotation retires the active keys (they stop
 * signing) but keeps them published until every token they signed has expired.
 */
import { randomUUID } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Database } from '../db/database.js';
import { open, seal } from './aead.js';
import type { MasterKey } from './masterKey.js';

export const SIGNING_ALGS = ['ES256', 'RS256'] as const;
export const KEY_ALGS = [...SIGNING_ALGS, 'ECDH-ES'] as const;
export type KeyAlg = (typeof KEY_ALGS)[number];
export const CAPTURE_KEY_ALG = 'ECDH-ES';

export interface SigningKeySet {
  /** Private JWKs, signing and capture keys: active keys first (oidc-provider signs with the first key of an alg). */
  keys: JWK[];
  /** The signing keys alone (what oidc-provider gets). */
  signing: JWK[];
  /** Capture (decryption) keys, active first. */
  capture: JWK[];
  /** Every key's public part, as published at /jwks. */
  publicJwks: { keys: JWK[] };
  /** A fingerprint of the set, to notice a rotation made by another process. */
  version: string;
}

export class SigningKeyStore {
  private readonly sealingKey: Buffer;

  constructor(
    private readonly db: Database,
    master: MasterKey,
  ) {
    this.sealingKey = master.derive('signing-keys');
  }

  /** Creates the first keys on first start; a no-op afterwards. */
  async ensureActiveKeys(): Promise<void> {
    for (const alg of KEY_ALGS) {
      const active = await this.db.prisma.signingKey.count({ where: { alg, retiredAt: null } });
      if (active === 0) await this.create(alg);
    }
  }

  /**
   * Retires the active keys and creates new ones. `publishFor` is how long the retired keys must
   * stay published: the longest lifetime of a token they may have signed, plus clock tolerance.
   */
  async rotate(publishForSeconds: number): Promise<{ retired: string[]; created: string[] }> {
    const now = new Date();
    const active = await this.db.prisma.signingKey.findMany({ where: { retiredAt: null } });
    const created: string[] = [];
    for (const alg of KEY_ALGS) created.push(await this.create(alg));
    await this.db.prisma.signingKey.updateMany({
      where: { kid: { in: active.map((k) => k.kid) } },
      data: { retiredAt: now, publishUntil: new Date(now.getTime() + publishForSeconds * 1000) },
    });
    return { retired: active.map((k) => k.kid), created };
  }

  /** The keys to publish, after dropping retired keys whose tokens can no longer be valid. */
  async load(): Promise<SigningKeySet> {
    await this.db.prisma.signingKey.deleteMany({ where: { publishUntil: { lt: new Date() } } });
    const rows = await this.db.prisma.signingKey.findMany({ orderBy: [{ createdAt: 'desc' }] });
    rows.sort((a, b) => Number(a.retiredAt !== null) - Number(b.retiredAt !== null));
    const keys = rows.map((row) => {
      const jwk = JSON.parse(
        open(this.sealingKey, Buffer.from(row.encryptedJwk), `signing-key:${row.kid}`).toString(),
      ) as JWK;
      return { ...jwk, kid: row.kid, alg: row.alg, use: row.alg === CAPTURE_KEY_ALG ? 'enc' : 'sig' };
    });
    return {
      keys,
      signing: keys.filter((k) => k.use === 'sig'),
      capture: keys.filter((k) => k.use === 'enc'),
      publicJwks: { keys: keys.map(publicPart) },
      version: rows.map((r) => `${r.kid}:${r.retiredAt ? 'r' : 'a'}`).join(','),
    };
  }

  async list(): Promise<
    Array<{ kid: string; alg: string; status: 'active' | 'retired'; createdAt: Date; publishUntil: Date | null }>
  > {
    const rows = await this.db.prisma.signingKey.findMany({ orderBy: { createdAt: 'asc' } });
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      status: r.retiredAt ? 'retired' : 'active',
      createdAt: r.createdAt,
      publishUntil: r.publishUntil,
    }));
  }

  private async create(alg: KeyAlg): Promise<string> {
    const { privateKey } = await generateKeyPair(alg, {
      extractable: true,
      ...(alg === 'RS256' ? { modulusLength: 2048 } : {}),
      ...(alg === CAPTURE_KEY_ALG ? { crv: 'P-256' } : {}),
    });
    const jwk = await exportJWK(privateKey);
    const kid = randomUUID();
    await this.db.prisma.signingKey.create({
      data: {
        kid,
        alg,
        encryptedJwk: new Uint8Array(seal(this.sealingKey, Buffer.from(JSON.stringify(jwk)), `signing-key:${kid}`)),
      },
    });
    return kid;
  }
}

function publicPart(jwk: JWK): JWK {
  const pub = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({
    format: 'jwk',
  }) as JWK;
  return { ...pub, kid: jwk.kid, alg: jwk.alg, use: jwk.use };
}
