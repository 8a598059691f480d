/**
 * The account page (/account) signs people in as a first-party OpenID client of palmid itself,
 * as Keycloak's account console does: the login page (passkey, and palm where the operator names
 * a tenant for this client) is reused with its throttling, PAD and "who was recognised" page.
 * The client is public (code + PKCE, no secret) and issues no tokens: the account route redeems
 * the code in-process (redeemAccountCode) and keeps only its own page session.
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
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

/**
 * The login prompt's check that makes every authorization for the account page a sign-in made in
 * it. The page asks for prompt=login, but a request is the browser's to edit: without this, a
 * provider session left open in the browser (someone who signed out of the account page only)
 * would hand the next person at it a code, and with it the account page.
 */
export function accountSignInIsFresh(): interactionPolicy.Check {
  return new interactionPolicy.Check(
    'account_fresh_login',
    'the account page needs a sign-in made for it',
    (ctx: KoaContextWithOIDC) =>
      isFirstPartyClient(ctx.oidc.client?.clientId) && !(ctx.oidc.result as { login?: unknown } | undefined)?.login
        ? interactionPolicy.Check.REQUEST_PROMPT
        : interactionPolicy.Check.NO_NEED_TO_PROMPT,
  );
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
 * is consumed and its grant destroyed: the account page holds nothing at the provider. The
 * sign-in behind it must be no older than `authenticatedSince` (seconds): prompt=login in the
 * request can be edited out, and a provider session left open would then answer without one.
 */
export async function redeemAccountCode(
  provider: Provider,
  input: { code: string; verifier: string; redirectUri: string; authenticatedSince: number },
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
  // The sign-in was for the account page alone: the provider keeps no session of it, so signing
  // out of the page leaves nothing open in this browser for relying parties or the next person.
  const session = code.sessionUid ? await provider.Session.findByUid(code.sessionUid) : undefined;
  if (session && session.accountId === code.accountId) await session.destroy();
  // A few seconds of slack for the clocks of several nodes; accountSignInIsFresh is the main guard.
  if (!Number.isFinite(input.authenticatedSince) || !(Number(code.authTime) >= input.authenticatedSince - 5))
    return undefined;
  return { accountId: code.accountId, acr: code.acr, amr: code.amr ?? [] };
}
