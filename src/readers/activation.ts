/**
 * Kiosk activation: a browser reader (views/kiosk.eta) generates its own ES256 key pair as a
 * non-extractable WebCrypto key and installs the public half with a one-time code from
 * `palmid reader add`. The private key never leaves the tablet; the key `reader add` wrote is
 * replaced. Codes are 12 Crockford base32 characters (60 bits: guessing within the lifetime is
 * hopeless, so no throttle is needed), valid 15 minutes, stored only as a SHA-256 hash and
 * usable once.
 */
import { createHash, randomInt } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose';
import type { Database } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import { announceClientChange } from '../clients/cache.js';
import { PalmidError } from '../errors.js';

export const ACTIVATION_TTL_SECONDS = 15 * 60;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford: no I, L, O, U

/** A refused activation (kiosk: 400 invalid_grant, or invalid_request for a bad key) or code request (CLI). */
export class ActivationError extends PalmidError {
  constructor(
    readonly reason: 'invalid_code' | 'invalid_key' | 'unknown_reader',
    message: string,
  ) {
    super(message, { code: reason === 'invalid_key' ? 'invalid_request' : 'invalid_grant', status: 400, exitCode: 1 });
  }
}

export function newActivationCode(): string {
  const chars = Array.from({ length: 12 }, () => ALPHABET[randomInt(ALPHABET.length)]!);
  return `${chars.slice(0, 4).join('')}-${chars.slice(4, 8).join('')}-${chars.slice(8).join('')}`;
}

/** Typed on a tablet: case, dashes and spaces do not matter, and O/I/L read as 0/1/1. */
export function hashActivationCode(code: string): string {
  const normalised = code.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return createHash('sha256').update(`palmid-kiosk-activation:${normalised}`).digest('hex');
}

/** A fresh code for a reader (replacing any earlier one that was not used). */
export async function issueActivationCode(
  db: Database,
  clientId: string,
  now = new Date(),
): Promise<{ code: string; expiresAt: Date }> {
  const code = newActivationCode();
  const expiresAt = new Date(now.getTime() + ACTIVATION_TTL_SECONDS * 1000);
  const { count } = await db.prisma.reader.updateMany({
    where: { clientId, revokedAt: null },
    data: { activationCodeHash: hashActivationCode(code), activationExpiresAt: expiresAt },
  });
  if (count === 0) throw new ActivationError('unknown_reader', `no active reader ${clientId}`);
  await audit(db, {
    action: 'reader.activation_code',
    subject: clientId,
    detail: { expiresAt: expiresAt.toISOString() },
  });
  return { code, expiresAt };
}

export interface ActivatedReader {
  client_id: string;
  tenant: string;
  name: string;
  kid: string;
}

/** Consumes the code and installs the kiosk's public key as the reader's only key. */
export async function activateReader(
  db: Database,
  input: { code: string; publicKey: unknown },
): Promise<ActivatedReader> {
  const key = await publicSigningKey(input.publicKey);
  const hash = hashActivationCode(String(input.code ?? ''));
  // The reader's client record (oidc_client) takes the new key in the transaction that uses the code.
  const activated = await db.prisma.$transaction(async (tx) => {
    // One statement: two tablets racing with the same code cannot both win.
    const rows = await tx.$queryRawUnsafe<Array<{ client_id: string; tenant_id: string; name: string }>>(
      `UPDATE reader SET activation_code_hash = NULL, activation_expires_at = NULL, activated_at = now()
        WHERE activation_code_hash = $1 AND activation_expires_at > now() AND revoked_at IS NULL
        RETURNING client_id, tenant_id, name`,
      hash,
    );
    const reader = rows[0];
    if (!reader) return undefined;
    const client = await tx.oidcClient.findUniqueOrThrow({ where: { clientId: reader.client_id } });
    const metadata = { ...(client.metadata as Record<string, unknown>), jwks: { keys: [key] } };
    await tx.oidcClient.update({
      where: { clientId: reader.client_id },
      data: { metadata: metadata as Prisma.InputJsonValue },
    });
    return reader;
  });
  if (!activated)
    throw new ActivationError(
      'invalid_code',
      'This activation code is unknown, already used or expired. ' +
        'Ask for a new one (palmid reader activation <reader id>).',
    );
  await announceClientChange(db, activated.client_id);
  await audit(db, { action: 'reader.activated', subject: activated.client_id, detail: { kid: key.kid } });
  return { client_id: activated.client_id, tenant: activated.tenant_id, name: activated.name, kid: key.kid as string };
}

/** A P-256 public key in JWK form, nothing else (a private part is refused, not dropped). */
async function publicSigningKey(value: unknown): Promise<JWK> {
  const jwk = (value ?? {}) as Record<string, unknown>;
  const coordinate = (v: unknown) => typeof v === 'string' && /^[A-Za-z0-9_-]{43}$/.test(v);
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !coordinate(jwk.x) || !coordinate(jwk.y)) {
    throw new ActivationError(
      'invalid_key',
      'the reader key must be a P-256 public key (JWK with kty EC, crv P-256, x, y)',
    );
  }
  if ('d' in jwk)
    throw new ActivationError('invalid_key', 'send only the public key: the private key stays on the device');
  const publicJwk: JWK = { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string };
  try {
    await importJWK(publicJwk, 'ES256'); // rejects a point that is not on the curve
  } catch {
    throw new ActivationError('invalid_key', 'the reader key is not a valid P-256 point');
  }
  return { ...publicJwk, kid: await calculateJwkThumbprint(publicJwk), alg: 'ES256', use: 'sig' };
}
