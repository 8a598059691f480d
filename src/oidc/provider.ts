import Provider, { errors, type Configuration, type KoaContextWithOIDC, type SigningAlgorithm } from 'oidc-provider';
import type { JWK } from 'jose';
import { createOidcAdapter } from '../../adapters/oidc-adapter.js';
import { findAccount } from '../accounts/people.js';
import type { Database } from '../db/database.js';
import type { MasterKey } from '../crypto/masterKey.js';
import type { ClientCache } from '../clients/cache.js';
import { verifyClientSecret } from './clientSecrets.js';
import { EXCHANGEABLE_SCOPES, authenticationContextClaims, registerTokenExchange } from './tokenExchange.js';
import { pairwiseSubject } from './pairwise.js';
import { ACR_VALUES } from '../acr.js';
import { CLOCK_TOLERANCE, SCOPES, TTL } from './policy.js';
import { renderError, renderLogout, renderLogoutSuccess } from './pages.js';
import { palmidInteractionPolicy } from './recognised.js';
import { GREETINGS, greetingName, isGreeting } from '../readers/greeting.js';
import { accountSignInIsFresh, isFirstPartyClient } from './accountClient.js';

export { Provider };

export interface ProviderDeps {
  issuer: string;
  db: Database;
  /** Shared across provider rebuilds; without it every lookup reads the table. */
  clientCache?: ClientCache;
  master: MasterKey;
  signingKeys: JWK[];
  trustProxy: boolean;
  /** CIBA for palm readers (src/readers/ciba.ts); off when absent. */
  ciba?: NonNullable<Configuration['features']>['ciba'];
  /** Outgoing requests (CIBA ping notifications); global fetch when absent. */
  fetch?: typeof fetch;
  /** Let them reach private and loopback addresses (Config.notifyPrivateNetworks). */
  notifyPrivateNetworks?: boolean;
}

const SIGNING_ALGS: SigningAlgorithm[] = ['ES256', 'RS256', 'PS256'];

export function createProvider(deps: ProviderDeps): Provider {
  const pairwiseSalt = deps.master.derive('pairwise-subject');
  const issuerOrigin = new URL(deps.issuer).origin;
  const configuration: Configuration = {
    adapter: createOidcAdapter(deps.db, deps.clientCache),
    clients: [],
    // oidc-provider passes a dispatcher that refuses special-use addresses (SSRF protection);
    // an operator whose readers listen on a private network turns that off explicitly.
    fetch: (url, options) => {
      const init = options as RequestInit & { dispatcher?: unknown };
      if (deps.notifyPrivateNetworks) delete init.dispatcher;
      return (deps.fetch ?? globalThis.fetch)(url, init);
    },
    jwks: { keys: deps.signingKeys as Configuration['jwks'] extends { keys: infer K } ? K : never },
    cookies: {
      keys: [deps.master.derive('cookies').toString('base64url')],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    claims: {
      // How the person authenticated (acr, amr) always goes into the ID token: relying parties
      // decide on it, and it reveals nothing about the person.
      openid: ['sub', 'acr', 'amr', 'auth_time', 'sid'],
      email: ['email'],
      profile: ['name', 'given_name'],
    },
    scopes: SCOPES,
    // Authorization code flow only: no implicit or hybrid responses.
    responseTypes: ['code', 'none'],
    acrValues: ACR_VALUES,
    subjectTypes: ['public', 'pairwise'],
    clockTolerance: CLOCK_TOLERANCE,
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    // No HMAC algorithms: a client "secret" here is an argon2 hash and must never be a key.
    enabledJWA: {
      clientAuthSigningAlgValues: [...SIGNING_ALGS, 'EdDSA'],
      idTokenSigningAlgValues: SIGNING_ALGS,
      requestObjectSigningAlgValues: [...SIGNING_ALGS, 'EdDSA'],
      userinfoSigningAlgValues: SIGNING_ALGS,
      introspectionSigningAlgValues: SIGNING_ALGS,
      authorizationSigningAlgValues: SIGNING_ALGS,
      dPoPSigningAlgValues: ['ES256', 'EdDSA', 'PS256', 'RS256'],
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'ES256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    pkce: {
      // S256 is the only method oidc-provider 9 accepts; public clients must use it.
      required: (_ctx, client) => client.clientAuthMethod === 'none',
    },
    features: {
      devInteractions: { enabled: false },
      // A client may introspect and revoke only what was issued to it; anything else reads as
      // inactive (introspection) or is refused (revocation).
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: true },
      clientCredentials: { enabled: true },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      dPoP: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource: renderLogout, postLogoutSuccessSource: renderLogoutSuccess },
      ...(deps.ciba ? { ciba: deps.ciba } : {}),
    },
    extraClientMetadata: {
      // A client (e.g. a checkout reader) that must always get palm + PIN.
      // palmid_exchange_audiences: the APIs a client may exchange palm sign-in tokens for (RFC 8693).
      // palmid_tenant: whose consented people a palm at this client's browser login is searched among,
      //   and whose readers' tokens it may exchange.
      // palmid_exchange_scopes / palmid_exchange_subject_clients: what it may exchange for, and from
      //   which readers only (src/oidc/tokenExchange.ts).
      // palmid_require_pad: palm sign-ins for this client must pass liveness (PAD, src/palm/pad):
      //   unchecked ones (one frame, a page without PAD) are refused with access_denied.
      // palmid_greeting: how much of the name a reader gets to greet with (src/readers/greeting.ts).
      properties: [
        'palmid_require_pin',
        'palmid_require_pad',
        'palmid_exchange_audiences',
        'palmid_tenant',
        'palmid_exchange_scopes',
        'palmid_exchange_subject_clients',
        'palmid_greeting',
      ],
      validator(_ctx, key, value) {
        if (key === 'palmid_require_pin' && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata('palmid_require_pin must be a boolean');
        }
        if (key === 'palmid_require_pad' && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata('palmid_require_pad must be a boolean');
        }
        if (
          key === 'palmid_exchange_audiences' &&
          value !== undefined &&
          (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length > 0))
        ) {
          throw new errors.InvalidClientMetadata('palmid_exchange_audiences must be an array of strings');
        }
        if (
          key === 'palmid_exchange_scopes' &&
          value !== undefined &&
          (!Array.isArray(value) || !value.every((v) => EXCHANGEABLE_SCOPES.includes(v as string)))
        ) {
          throw new errors.InvalidClientMetadata(
            `palmid_exchange_scopes must be an array of ${EXCHANGEABLE_SCOPES.join(', ')}`,
          );
        }
        if (
          key === 'palmid_exchange_subject_clients' &&
          value !== undefined &&
          (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length > 0))
        ) {
          throw new errors.InvalidClientMetadata('palmid_exchange_subject_clients must be an array of client ids');
        }
        if (key === 'palmid_greeting' && value !== undefined && !isGreeting(value)) {
          throw new errors.InvalidClientMetadata(`palmid_greeting must be one of ${GREETINGS.join(', ')}`);
        }
        if (key === 'palmid_tenant' && value !== undefined && (typeof value !== 'string' || value.length === 0)) {
          throw new errors.InvalidClientMetadata('palmid_tenant must be a tenant id');
        }
      },
    },
    interactions: {
      // A palm login is followed by a page naming whom it recognised, with "Not you?" (recognised.ts).
      policy: withFreshAccountSignIn(palmidInteractionPolicy()),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    // palmid's own account page (src/oidc/accountClient.ts) needs no consent page: its grant is
    // made here (openid only). A palm sign-in is still followed by the "who was recognised" page.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session!.grantIdFor(oidc.client!.clientId);
      const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (existing || !isFirstPartyClient(oidc.client?.clientId) || !oidc.session?.accountId) return existing;
      const grant = new oidc.provider.Grant({ clientId: oidc.client!.clientId, accountId: oidc.session.accountId });
      grant.addOIDCScope('openid');
      await grant.save();
      return grant;
    },
    // Refresh tokens rotate on every use; a replayed old one revokes the grant (oidc-provider).
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') &&
      (code.scopes.has('offline_access') || code.scope?.includes('offline_access') === true),
    pairwiseIdentifier: async (_ctx, accountId, client) =>
      pairwiseSubject(pairwiseSalt, String(client.sectorIdentifier ?? client.clientId), accountId),
    async findAccount(ctx, id) {
      const person = await findAccount(deps.db, id);
      if (!person) return undefined;
      // A reader's public screen gets no more of the name than its palmid_greeting allows.
      const names = greetingName(ctx.oidc?.client, person.name);
      return {
        accountId: person.id,
        async claims() {
          return { sub: person.id, email: person.email, ...names };
        },
      };
    },
    clientBasedCORS(_ctx, origin, client) {
      // palmid's own pages (the kiosk reader) call the backchannel and token endpoints.
      if (origin === issuerOrigin) return true;
      // Browser-based (public) clients may call the token endpoint from their own origins.
      return client.redirectUris?.some((uri) => safeOrigin(uri) === origin) ?? false;
    },
    ttl: { ...TTL },
    extraTokenClaims: authenticationContextClaims,
    renderError,
    extraParams: [],
  };

  const provider = new Provider(deps.issuer, configuration);
  provider.proxy = deps.trustProxy;
  registerTokenExchange(provider, {
    db: deps.db,
    issuer: deps.issuer,
    signingKey: () => deps.signingKeys.find((k) => k.alg === 'ES256'),
  });

  const secretHashes = provider.Client.prototype as unknown as {
    clientSecret?: string;
    compareClientSecret(this: { clientSecret?: string }, actual: string): Promise<boolean>;
  };
  secretHashes.compareClientSecret = async function compareClientSecret(actual: string) {
    return this.clientSecret ? verifyClientSecret(this.clientSecret, actual) : false;
  };
  return provider;
}

function safeOrigin(uri: string): string | undefined {
  try {
    return new URL(uri).origin;
  } catch {
    return undefined;
  }
}

export type { KoaContextWithOIDC };

/** The login prompt also asks for a sign-in whenever the account page is the client (src/oidc/accountClient.ts). */
function withFreshAccountSignIn(policy: ReturnType<typeof palmidInteractionPolicy>) {
  policy.get('login')!.checks.add(accountSignInIsFresh());
  return policy;
}
