/** The registry of relying parties, managed by `palmid client`. */
import { randomBytes } from 'node:crypto';
import type { Database } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';
import type Provider from 'oidc-provider';
import { deletePayloadsOfClient } from '../../adapters/oidc-adapter.js';
import { findTenant } from '../accounts/tenants.js';
import { announceClientChange } from '../clients/cache.js';
import { findReader } from '../readers/registry.js';
import { generateClientSecret, hashClientSecret } from './clientSecrets.js';
import { TOKEN_EXCHANGE_GRANT } from './tokenExchange.js';
import { errorKind, invalidRequest } from '../errors.js';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', TOKEN_EXCHANGE_GRANT] as const;
export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;

export interface NewClient {
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  grantTypes: string[];
  authMethod: string;
  subjectType: 'public' | 'pairwise';
  jwksUri?: string;
  /** APIs this client may exchange palm sign-in tokens for (token exchange). */
  exchangeAudiences?: string[];
  /** Scopes it may ask for by token exchange (at most). */
  exchangeScopes?: string[];
  /** Readers whose tokens it may exchange; all readers of its tenant when absent. */
  exchangeSubjectClients?: string[];
  /**
   * The tenant whose consented people may sign in to this client with their palm, and whose
   * readers' tokens it may exchange.
   */
  tenant?: string | undefined;
  /** Refuse palm sign-ins whose liveness was not checked (palmid_require_pad, src/acr.ts). */
  requirePad?: boolean;
}

export interface ClientSummary {
  client_id: string;
  client_name: string;
  redirect_uris: string[];
  grant_types: string[];
  token_endpoint_auth_method: string;
  subject_type: string;
  /** Palm sign-in at the browser login searches this tenant's consented people. */
  tenant: string | null;
  created_at: string;
}

export class ClientInputError extends errorKind(invalidRequest(2)) {}

export async function addClient(
  db: Database,
  provider: Provider,
  input: NewClient,
): Promise<{ client: ClientSummary; clientSecret: string | undefined }> {
  for (const g of input.grantTypes) {
    if (!(GRANT_TYPES as readonly string[]).includes(g))
      throw new ClientInputError(`unknown grant type ${g} (one of ${GRANT_TYPES.join(', ')})`);
  }
  if (!(AUTH_METHODS as readonly string[]).includes(input.authMethod)) {
    throw new ClientInputError(`unknown auth method ${input.authMethod} (one of ${AUTH_METHODS.join(', ')})`);
  }
  const codeFlow = input.grantTypes.includes('authorization_code');
  if (codeFlow && input.redirectUris.length === 0)
    throw new ClientInputError('authorization_code needs at least one --redirect-uri');
  if (input.authMethod === 'none' && input.grantTypes.includes('client_credentials')) {
    throw new ClientInputError('client_credentials needs an authenticated client (not --auth-method none)');
  }
  if (input.grantTypes.includes('refresh_token') && !codeFlow)
    throw new ClientInputError('refresh_token needs authorization_code');
  const exchange = input.grantTypes.includes(TOKEN_EXCHANGE_GRANT);
  if (input.tenant !== undefined) {
    if (!codeFlow && !exchange)
      throw new ClientInputError(
        'a tenant is for palm sign-in at the browser login or token exchange: ' +
          'it needs authorization_code or token-exchange',
      );
    if (!(await findTenant(db, input.tenant))) throw new ClientInputError(`unknown tenant ${input.tenant}`);
  }
  const exchangeSettings = [input.exchangeAudiences, input.exchangeScopes, input.exchangeSubjectClients].some(
    (v) => v?.length,
  );
  if (exchangeSettings && !exchange)
    throw new ClientInputError(`--exchange-* options need the ${TOKEN_EXCHANGE_GRANT} grant`);
  if (exchange) {
    // Exchange is confined to one tenant's readers: no tenant, nothing to exchange.
    if (input.tenant === undefined)
      throw new ClientInputError("token exchange needs --tenant: the tenant whose readers' tokens it may exchange");
    if (!input.exchangeAudiences?.length)
      throw new ClientInputError('token exchange needs at least one --exchange-audience');
    for (const readerId of input.exchangeSubjectClients ?? []) {
      const reader = await findReader(db, readerId);
      if (!reader || reader.tenantId !== input.tenant)
        throw new ClientInputError(`${readerId} is not a reader of tenant ${input.tenant}`);
    }
  }

  const clientId = randomBytes(16).toString('base64url');
  const secret = input.authMethod.startsWith('client_secret_') ? generateClientSecret() : undefined;
  const metadata: Record<string, unknown> = {
    client_name: input.name,
    redirect_uris: input.redirectUris,
    post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
    grant_types: input.grantTypes,
    response_types: codeFlow ? ['code'] : [],
    token_endpoint_auth_method: input.authMethod,
    subject_type: input.subjectType,
    ...(input.jwksUri ? { jwks_uri: input.jwksUri } : {}),
    ...(input.exchangeAudiences?.length ? { palmid_exchange_audiences: input.exchangeAudiences } : {}),
    ...(exchange ? { palmid_exchange_scopes: input.exchangeScopes ?? [] } : {}),
    ...(input.exchangeSubjectClients?.length ? { palmid_exchange_subject_clients: input.exchangeSubjectClients } : {}),
    ...(input.tenant !== undefined ? { palmid_tenant: input.tenant } : {}),
    ...(input.requirePad ? { palmid_require_pad: true } : {}),
  };
  // Let oidc-provider judge the metadata now, rather than fail at the first sign-in.
  try {
    await provider.Client.validate({
      ...metadata,
      client_id: clientId,
      ...(secret ? { client_secret: secret } : {}),
    } as never);
  } catch (err) {
    const e = err as { error_description?: string; message: string };
    throw new ClientInputError(e.error_description ?? e.message);
  }
  const row = await db.prisma.oidcClient.create({
    data: {
      clientId,
      name: input.name,
      metadata: metadata as Prisma.InputJsonValue,
      secretHash: secret ? await hashClientSecret(secret) : null,
    },
  });
  return { client: summarise(row), clientSecret: secret };
}

export async function listClients(db: Database): Promise<ClientSummary[]> {
  const rows = await db.prisma.oidcClient.findMany({ orderBy: { createdAt: 'asc' } });
  return rows.map(summarise);
}

/** Removes the client and every token, code and grant issued to it. */
export async function removeClient(db: Database, clientId: string): Promise<boolean> {
  const { count } = await db.prisma.oidcClient.deleteMany({ where: { clientId } });
  if (count) {
    await announceClientChange(db, clientId);
    await deletePayloadsOfClient(db, clientId);
  }
  return count === 1;
}

function summarise(row: {
  clientId: string;
  name: string;
  metadata: Prisma.JsonValue;
  createdAt: Date;
}): ClientSummary {
  const m = row.metadata as Record<string, unknown>;
  return {
    client_id: row.clientId,
    client_name: row.name,
    redirect_uris: (m.redirect_uris as string[]) ?? [],
    grant_types: (m.grant_types as string[]) ?? [],
    token_endpoint_auth_method: String(m.token_endpoint_auth_method),
    subject_type: String(m.subject_type ?? 'public'),
    tenant: typeof m.palmid_tenant === 'string' ? m.palmid_tenant : null,
    created_at: row.createdAt.toISOString(),
  };
}
