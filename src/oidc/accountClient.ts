/**
 * The account page (/account) signs people in as a first-party OpenID client of palmid itself,
 * as Keycloak's account console does: the login page (passkey, and palm where the operator names
 * a tenant for this client) is reused with its throttling, PAD and "who was recognised" page.
 * The client is public (code + PKCE, no secret) and issues no tokens: the account route redeems
 * the code in-process (redeemAccountCode) and keeps only its own page session.
 */
import type Provider from 'oidc-provider';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Database } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';
import { announceClientChange } from '../clients/cache.js';

export const ACCOUNT_CLIENT_ID = 'palmid-account';

export function accountRedirectUri(issuer: string): string {
  return `${issuer}/account/callback`;
}

/**
 * Creates the account client, or points its redirect at this issuer. Settings an operator made
 * (palmid_tenant: palm sign-in to the account page; palmid_require_pad) are kept.
 */
export async function ensureAccountClient(db: Database, issuer: string): Promise<void> {
  const redirect = accountRedirectUri(issuer);
  const existing = await db.prisma.oidcClient.findUnique({ where: { clientId: ACCOUNT_CLIENT_ID } });
  const kept = (existing?.metadata ?? {}) as Record<string, unknown>;
  const metadata = {
    ...kept,
    client_name: 'palmid account',
    redirect_uris: [redirect],
    post_logout_redirect_uris: [],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    subject_type: 'public',
  };
  if (existing && JSON.stringify(existing.metadata) === JSON.stringify(metadata)) return;
  await db.prisma.oidcClient.upsert({
    where: { clientId: ACCOUNT_CLIENT_ID },
    create: { clientId: ACCOUNT_CLIENT_ID, name: 'palmid account', metadata: metadata as Prisma.InputJsonValue },
    update: { metadata: metadata as Prisma.InputJsonValue },
  });
  await announceClientChange(db, ACCOUNT_CLIENT_ID);
}

/** Palm sign-in to the account page searches this tenant's consented people (null: passkeys only). */
export async function setAccountClientTenant(db: Database, tenant: string | null): Promise<void> {
  const existing = await db.prisma.oidcClient.findUniqueOrThrow({ where: { clientId: ACCOUNT_CLIENT_ID } });
  const { palmid_tenant: _old, ...rest } = existing.metadata as Record<string, unknown>;
  const metadata = tenant ? { ...rest, palmid_tenant: tenant } : rest;
  await db.prisma.oidcClient.update({
    where: { clientId: ACCOUNT_CLIENT_ID },
    data: { metadata: metadata as Prisma.InputJsonValue },
  });
  await announceClientChange(db, ACCOUNT_CLIENT_ID);
}

/** The first-party client gets its grant without a consent page (a palm sign-in still shows whom it recognised). */
export function isFirstPartyClient(clientId: string | undefined): boolean {
  return clientId === ACCOUNT_CLIENT_ID;
}

export interface AccountSignIn {
  accountId: string;
  acr: string | undefined;
  amr: string[];
}

/**
 * The token endpoint's checks for an authorization code, done in-process (no tokens are issued,
 * and the issuer need not be reachable from the node itself): the code is the account client's,
 * unexpired, unused, for this redirect URI, and the verifier matches its S256 challenge. The code
 * is consumed and its grant destroyed: the account page holds nothing at the provider.
 */
export async function redeemAccountCode(
  provider: Provider,
  input: { code: string; verifier: string; redirectUri: string },
): Promise<AccountSignIn | undefined> {
  let code;
  try {
    code = await provider.AuthorizationCode.find(input.code);
  } catch {
    return undefined;
  }
  if (!code || code.clientId !== ACCOUNT_CLIENT_ID || !code.accountId) return undefined;
  const consumed = Boolean((code as unknown as { consumed?: unknown }).consumed);
  if (code.isExpired || consumed) {
    // A code used twice: whatever it granted goes (as the token endpoint does).
    if (consumed && code.grantId) await (await provider.Grant.find(code.grantId))?.destroy();
    return undefined;
  }
  if (code.redirectUri !== input.redirectUri || code.codeChallengeMethod !== 'S256' || !code.codeChallenge)
    return undefined;
  const expected = Buffer.from(createHash('sha256').update(input.verifier).digest('base64url'));
  const challenge = Buffer.from(code.codeChallenge);
  if (expected.length !== challenge.length || !timingSafeEqual(expected, challenge)) return undefined;
  await code.consume();
  if (code.grantId) {
    const grant = await provider.Grant.find(code.grantId);
    if (!grant || grant.accountId !== code.accountId) return undefined;
    await grant.destroy();
  }
  return { accountId: code.accountId, acr: code.acr, amr: code.amr ?? [] };
}
