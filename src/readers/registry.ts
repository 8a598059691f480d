import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type Provider from 'oidc-provider';
import type { Database } from '../db/database.js';
import { Prisma } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import { announceClientChange } from '../oidc/clientCache.js';

/**
 * Readers: each is an OpenID client of its own (private_key_jwt with its own ES256 key pair,
 * CIBA poll or ping delivery) that belongs to one tenant. Revoking a reader takes effect at once:
 * its client record is no longer found, and every server forgets it (NOTIFY).
 */
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

export class ReaderError extends Error {
  override name = 'ReaderError';
}

export interface NewReader {
  tenantId: string;
  name: string;
  location?: string | undefined;
  deliveryMode?: 'poll' | 'ping';
  notificationEndpoint?: string | undefined;
  /** Sign-ins at this reader always need the PIN step-up. */
  requirePin?: boolean;
}

export interface ReaderCredentials {
  client_id: string;
  tenant: string;
  /** The reader's private key: for the device only, never stored by palmid. */
  key: JWK;
}

export async function addReader(db: Database, provider: Provider, input: NewReader): Promise<ReaderCredentials> {
  if (!(await db.prisma.tenant.findUnique({ where: { id: input.tenantId } })))
    throw new ReaderError(`unknown tenant ${input.tenantId}`);
  const mode = input.deliveryMode ?? 'poll';
  if (mode === 'ping' && !input.notificationEndpoint)
    throw new ReaderError('ping delivery needs a notification endpoint');
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const clientId = `rdr_${randomBytes(12).toString('base64url')}`;
  const metadata: Record<string, unknown> = {
    client_name: input.name,
    grant_types: [CIBA_GRANT],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: { keys: [publicJwk] },
    backchannel_token_delivery_mode: mode,
    ...(mode === 'ping' ? { backchannel_client_notification_endpoint: input.notificationEndpoint } : {}),
    backchannel_user_code_parameter: true,
    id_token_signed_response_alg: 'ES256',
    subject_type: 'public',
    ...(input.requirePin ? { palmid_require_pin: true } : {}),
  };
  try {
    await provider.Client.validate({ ...metadata, client_id: clientId } as never);
  } catch (err) {
    const e = err as { error_description?: string; message: string };
    throw new ReaderError(e.error_description ?? e.message);
  }
  await db.prisma.$transaction([
    db.prisma.oidcClient.create({ data: { clientId, name: input.name, metadata: metadata as Prisma.InputJsonValue } }),
    db.prisma.reader.create({
      data: { clientId, tenantId: input.tenantId, name: input.name, location: input.location ?? null },
    }),
  ]);
  await audit(db.prisma, { action: 'reader.added', subject: clientId, detail: { tenant: input.tenantId, mode } });
  return { client_id: clientId, tenant: input.tenantId, key: privateJwk };
}

export async function listReaders(db: Database) {
  return db.prisma.reader.findMany({ orderBy: { createdAt: 'asc' } });
}

export async function revokeReader(db: Database, clientId: string): Promise<boolean> {
  const { count } = await db.prisma.reader.updateMany({
    where: { clientId, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  if (count === 0) return false;
  await announceClientChange(db, clientId);
  await db.query(`DELETE FROM oidc_payload WHERE payload->>'clientId' = $1`, [clientId]);
  await audit(db.prisma, { action: 'reader.revoked', subject: clientId });
  return true;
}
