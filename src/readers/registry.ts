/**
 * Readers: each is an OpenID client of its own (private_key_jwt with its own ES256 key pair,
 * CIBA poll or ping delivery) that belongs to one tenant. Revoking a reader takes effect at once:
 * its client record is no longer found, and every server forgets it (NOTIFY).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type Provider from 'oidc-provider';
import type { Database } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';
import { deletePayloadsOfClient } from '../../adapters/oidc-adapter.js';
import { findTenant } from '../accounts/tenants.js';
import { audit } from '../audit/audit.js';
import { announceClientChange } from '../clients/cache.js';
import { errorKind, invalidRequest } from '../errors.js';
import type { Greeting } from './greeting.js';

export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

export class ReaderError extends errorKind(invalidRequest(2)) {}

export interface NewReader {
  tenantId: string;
  name: string;
  location?: string | undefined;
  deliveryMode?: 'poll' | 'ping';
  notificationEndpoint?: string | undefined;
  /** Sign-ins at this reader always need the PIN step-up. */
  requirePin?: boolean;
  /** Refuse palm sign-ins whose liveness was not checked (palmid_require_pad). */
  requirePad?: boolean;
  /** How much of the name the reader greets with (palmid_greeting; first_name when absent). */
  greeting?: Greeting | undefined;
}

export interface ReaderCredentials {
  client_id: string;
  tenant: string;
  /** The reader's private key: for the device only, never stored by palmid. */
  key: JWK;
}

export async function addReader(db: Database, provider: Provider, input: NewReader): Promise<ReaderCredentials> {
  if (!(await findTenant(db, input.tenantId))) throw new ReaderError(`unknown tenant ${input.tenantId}`);
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
    ...(input.requirePad ? { palmid_require_pad: true } : {}),
    ...(input.greeting ? { palmid_greeting: input.greeting } : {}),
  };
  try {
    await provider.Client.validate({ ...metadata, client_id: clientId } as never);
  } catch (err) {
    const e = err as { error_description?: string; message: string };
    throw new ReaderError(e.error_description ?? e.message);
  }
  // A reader's client record (oidc_client, src/oidc/clients.ts for relying parties) is written with
  // the reader in one transaction: readers sit beside src/oidc, not above it.
  await db.prisma.$transaction([
    db.prisma.oidcClient.create({ data: { clientId, name: input.name, metadata: metadata as Prisma.InputJsonValue } }),
    db.prisma.reader.create({
      data: { clientId, tenantId: input.tenantId, name: input.name, location: input.location ?? null },
    }),
  ]);
  await audit(db, { action: 'reader.added', subject: clientId, detail: { tenant: input.tenantId, mode } });
  return { client_id: clientId, tenant: input.tenantId, key: privateJwk };
}

/** A reader by its client id, revoked or not. Plain SQL: every palm sign-in at a reader asks. */
export async function findReader(
  db: Database,
  clientId: string,
): Promise<{ clientId: string; tenantId: string; revokedAt: Date | null } | undefined> {
  const [reader] = await db.query<{ clientId: string; tenantId: string; revokedAt: Date | null }>(
    `SELECT client_id AS "clientId", tenant_id AS "tenantId", revoked_at AS "revokedAt"
       FROM reader WHERE client_id = $1`,
    [clientId],
    'reader_by_client',
  );
  return reader;
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
  await deletePayloadsOfClient(db, clientId);
  await audit(db, { action: 'reader.revoked', subject: clientId });
  return true;
}
