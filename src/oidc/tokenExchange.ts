/**
 * RFC 8693 token exchange for loyalty and payment apps: an access token issued from a palm
 * sign-in at a reader (the subject token) becomes a short-lived JWT access token (RFC 9068) for
 * the exchanging client's API, naming that client in `act` and carrying, for the `loyalty` and
 * `payment` scopes, the person's loyalty number at the reader's tenant and their card references
 * (brand, last four, vault token: never a card number).
 *
 * Who may exchange what is the exchanging client's registration:
 * - `palmid_tenant`: only tokens from readers of this tenant (a client without one exchanges none);
 * - `palmid_exchange_subject_clients` (optional): only tokens issued to these readers;
 * - `palmid_exchange_scopes`: the scopes it may ask for, at most;
 * - `palmid_exchange_audiences`: the APIs it may ask tokens for.
 * and the subject token itself: OpenID scopes only if it carries them (down-scoping), `loyalty`
 * after any palm sign-in, `payment` only after palm + PIN.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, importJWK, type JWK } from 'jose';
import { errors, type Client, type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import type { Database } from '../db/database.js';
import { findLoyaltyNumber, listCards } from '../accounts/cards.js';
import { audit } from '../audit/audit.js';
import { clientMetadata } from '../clients/metadata.js';
import { ACR_PALM, ACR_PALM_PIN } from '../acr.js';
import { PalmidError } from '../errors.js';
import { findReader } from '../readers/registry.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const EXCHANGED_TOKEN_SECONDS = 300;

/** Issued by exchange only, whatever the subject token's scope; each needs one of these acr values. */
const EXCHANGE_ONLY_SCOPES: Record<string, readonly string[]> = {
  loyalty: [ACR_PALM, ACR_PALM_PIN],
  payment: [ACR_PALM_PIN],
};
/** OpenID scopes an exchanged token may keep when the subject token has them. */
const CARRIED_SCOPES = ['openid', 'email', 'profile'];
export const EXCHANGEABLE_SCOPES = [...CARRIED_SCOPES, ...Object.keys(EXCHANGE_ONLY_SCOPES)];

interface ExchangeParams {
  subject_token?: string;
  subject_token_type?: string;
  audience?: string;
  scope?: string;
  requested_token_type?: string;
}

/** What the exchanging client registered (see the module comment). */
export interface ExchangingClient {
  clientId: string;
  tenant: string | undefined;
  subjectClients: string[] | undefined;
  scopes: string[];
}

/** The subject token, as far as the rules need it. */
export interface SubjectToken {
  clientId: string;
  /** The tenant of the reader it was issued to. */
  tenant: string;
  scopes: string[];
  acr: string | undefined;
}

/** A refusal: the OAuth error, and the reason the audit log keeps. */
export class ExchangeRefused extends PalmidError {
  constructor(
    readonly error: 'invalid_grant' | 'invalid_scope' | 'invalid_target' | 'unauthorized_client',
    readonly reason: string,
    /** The scope values refused (invalid_scope). */
    readonly scope?: string,
  ) {
    super(reason, { code: error, status: 400 });
  }
}

/** The rules: throws ExchangeRefused when `client` may not turn `subject` into a token for `requested`. */
export function checkExchange(client: ExchangingClient, subject: SubjectToken, requested: string[]): void {
  if (!client.tenant)
    throw new ExchangeRefused('unauthorized_client', 'the client has no tenant, so may exchange no tokens');
  if (subject.tenant !== client.tenant)
    throw new ExchangeRefused('invalid_grant', 'subject_token was issued in another tenant');
  if (client.subjectClients && !client.subjectClients.includes(subject.clientId)) {
    throw new ExchangeRefused('invalid_grant', 'subject_token was issued to a reader this client may not act for');
  }
  const unknown = requested.filter((s) => !EXCHANGEABLE_SCOPES.includes(s));
  if (unknown.length)
    throw new ExchangeRefused('invalid_scope', 'scopes not available by token exchange', unknown.join(' '));
  const notAllowed = requested.filter((s) => !client.scopes.includes(s));
  if (notAllowed.length)
    throw new ExchangeRefused('invalid_scope', "scopes beyond this client's exchange scopes", notAllowed.join(' '));
  const notGranted = requested.filter((s) => CARRIED_SCOPES.includes(s) && !subject.scopes.includes(s));
  if (notGranted.length)
    throw new ExchangeRefused('invalid_scope', "scopes beyond the subject token's scope", notGranted.join(' '));
  for (const scope of requested) {
    const acrs = EXCHANGE_ONLY_SCOPES[scope];
    if (acrs && !(subject.acr && acrs.includes(subject.acr))) {
      throw new ExchangeRefused(
        'invalid_grant',
        `${scope} needs a subject token from a ${scope === 'payment' ? 'palm + PIN' : 'palm'} sign-in`,
      );
    }
  }
}

/**
 * oidc-provider's extraTokenClaims: an access token remembers how the person authenticated
 * (acr), which opaque tokens otherwise lose; exchange decides on it.
 */
export function authenticationContextClaims(
  ctx: KoaContextWithOIDC | undefined,
  token: { kind: string },
): Record<string, unknown> | undefined {
  if (token.kind !== 'AccessToken' || !ctx?.oidc) return undefined;
  const e = ctx.oidc.entities as Record<string, { acr?: string } | undefined>;
  const acr = (e.BackchannelAuthenticationRequest ?? e.AuthorizationCode ?? e.RefreshToken)?.acr;
  return acr ? { acr } : undefined;
}

function exchangingClient(client: Client): ExchangingClient {
  return {
    clientId: client.clientId,
    tenant: clientMetadata<string>(client, 'palmid_tenant'),
    subjectClients: clientMetadata<string[]>(client, 'palmid_exchange_subject_clients'),
    scopes: clientMetadata<string[]>(client, 'palmid_exchange_scopes') ?? [],
  };
}

function oauthError(refusal: ExchangeRefused): Error {
  if (refusal.error === 'invalid_scope') return new errors.InvalidScope(refusal.reason, refusal.scope ?? '');
  if (refusal.error === 'unauthorized_client') return new errors.UnauthorizedClient(refusal.reason);
  if (refusal.error === 'invalid_target') return new errors.InvalidTarget(refusal.reason);
  // The reason goes to the client too: it is about its own request, or tells it to step up.
  return Object.assign(new errors.InvalidGrant(refusal.reason), { error_description: refusal.reason });
}

export function registerTokenExchange(
  provider: Provider,
  deps: { db: Database; issuer: string; signingKey: () => JWK | undefined },
): void {
  provider.registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    async (ctx) => {
      const params = ctx.oidc.params as ExchangeParams;
      const client = ctx.oidc.client!;
      const requested = (params.scope ?? '').split(' ').filter(Boolean);
      let subjectAccount: string | undefined;
      const refuse = async (refusal: ExchangeRefused): Promise<never> => {
        await audit(deps.db, {
          action: 'token.exchange_refused',
          actor: client.clientId,
          subject: subjectAccount ?? null,
          detail: {
            error: refusal.error,
            reason: refusal.reason,
            ...(refusal.scope ? { refused_scope: refusal.scope } : {}),
            audience: params.audience ?? null,
            scope: requested,
          },
        });
        throw oauthError(refusal);
      };

      if (params.subject_token_type !== ACCESS_TOKEN_TYPE)
        throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
      if (params.requested_token_type && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest('only access tokens can be requested');
      }
      if (!params.subject_token) throw new errors.InvalidRequest('subject_token is required');
      const allowed = clientMetadata<string[]>(client, 'palmid_exchange_audiences') ?? [];
      if (!params.audience) throw new errors.InvalidTarget('audience is required');
      if (!allowed.includes(params.audience))
        return refuse(new ExchangeRefused('invalid_target', 'this client may not exchange tokens for that audience'));

      // find() answers nothing for an unknown or revoked token; expired ones are checked here.
      const subject = await ctx.oidc.provider.AccessToken.find(params.subject_token);
      if (!subject || subject.isExpired)
        return refuse(new ExchangeRefused('invalid_grant', 'subject_token is not an active access token'));
      subjectAccount = subject.accountId;
      // oidc-provider records how a token came to be in `gty` ('ciba' for a reader sign-in).
      if (subject.gty?.split(' ')[0] !== 'ciba' || !subject.accountId) {
        return refuse(new ExchangeRefused('invalid_grant', 'subject_token was not issued from a palm sign-in'));
      }
      const reader = await findReader(deps.db, subject.clientId ?? '');
      if (!reader || reader.revokedAt)
        return refuse(new ExchangeRefused('invalid_grant', 'subject_token was not issued to an active reader'));
      const acr = (subject.extra as Record<string, unknown> | undefined)?.acr;
      try {
        checkExchange(
          exchangingClient(client),
          {
            clientId: reader.clientId,
            tenant: reader.tenantId,
            scopes: String(subject.scope ?? '')
              .split(' ')
              .filter(Boolean),
            acr: typeof acr === 'string' ? acr : undefined,
          },
          requested,
        );
      } catch (err) {
        if (err instanceof ExchangeRefused) return refuse(err);
        throw err;
      }

      const claims: Record<string, unknown> = {
        scope: requested.join(' '),
        client_id: client.clientId,
        act: { sub: client.clientId },
        acr,
      };
      if (requested.includes('loyalty')) {
        claims.loyalty_number = await findLoyaltyNumber(deps.db, subject.accountId, reader.tenantId);
      }
      if (requested.includes('payment')) {
        const cards = await listCards(deps.db, subject.accountId);
        claims.payment_cards = cards.map((c) => ({
          brand: c.brand,
          last4: c.last4,
          vault_token: c.vaultToken,
          exp_month: c.expMonth,
          exp_year: c.expYear,
        }));
      }
      const key = deps.signingKey();
      if (!key) throw new Error('no ES256 signing key');
      const now = Math.floor(Date.now() / 1000);
      const accessToken = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.kid })
        .setIssuer(deps.issuer)
        .setSubject(subject.accountId)
        .setAudience(params.audience)
        .setIssuedAt(now)
        .setExpirationTime(now + EXCHANGED_TOKEN_SECONDS)
        .setJti(randomUUID())
        .sign(await importJWK(key, 'ES256'));
      await audit(deps.db, {
        action: 'token.exchanged',
        actor: client.clientId,
        subject: subject.accountId,
        detail: { audience: params.audience, scope: requested, tenant: reader.tenantId, reader: reader.clientId },
      });
      ctx.body = {
        access_token: accessToken,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: EXCHANGED_TOKEN_SECONDS,
        ...(requested.length ? { scope: requested.join(' ') } : {}),
      };
    },
    [
      'subject_token',
      'subject_token_type',
      'audience',
      'resource',
      'scope',
      'requested_token_type',
      'actor_token',
      'actor_token_type',
    ],
  );
}
