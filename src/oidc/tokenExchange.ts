import { randomUUID } from 'node:crypto';
import { SignJWT, importJWK, type JWK } from 'jose';
import { errors, type Provider } from 'oidc-provider';
import type { Database } from '../db/database.js';
import { audit } from '../audit/audit.js';
import { clientMetadata } from './clientMetadata.js';

/**
 * RFC 8693 token exchange for loyalty and payment apps: an access token issued from a palm
 * sign-in (the subject token) becomes a short-lived JWT access token (RFC 9068) for the
 * exchanging client's API, naming that client in `act` and carrying, for the `loyalty` and
 * `payment` scopes, the person's loyalty number at the reader's tenant and their card references
 * (brand, last four, vault token: never a card number). Which client may exchange for which
 * audience is its `palmid_exchange_audiences` metadata.
 */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const EXCHANGED_TOKEN_SECONDS = 300;
const EXCHANGE_SCOPES = ['loyalty', 'payment'];

interface ExchangeParams {
  subject_token?: string;
  subject_token_type?: string;
  audience?: string;
  scope?: string;
  requested_token_type?: string;
}

export function registerTokenExchange(
  provider: Provider,
  deps: { db: Database; issuer: string; signingKey: () => JWK | undefined },
): void {
  provider.registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    async (ctx) => {
      const params = ctx.oidc.params as ExchangeParams;
      const client = ctx.oidc.client;
      if (params.subject_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
      if (params.requested_token_type && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest('only access tokens can be requested');
      }
      if (!params.subject_token) throw new errors.InvalidRequest('subject_token is required');
      const allowed = clientMetadata<string[]>(client, 'palmid_exchange_audiences') ?? [];
      if (!params.audience) throw new errors.InvalidTarget('audience is required');
      if (!allowed.includes(params.audience)) throw new errors.InvalidTarget('this client may not exchange tokens for that audience');

      const subject = await ctx.oidc.provider.AccessToken.find(params.subject_token);
      if (!subject || subject.isExpired) throw new errors.InvalidGrant('subject_token is not an active access token');
      // oidc-provider records how a token came to be in `gty` ('ciba' for a reader sign-in).
      if (subject.gty?.split(' ')[0] !== 'ciba' || !subject.accountId) {
        throw new errors.InvalidGrant('subject_token was not issued from a palm sign-in');
      }
      const reader = await deps.db.prisma.reader.findUnique({ where: { clientId: subject.clientId } });
      if (!reader) throw new errors.InvalidGrant('subject_token was not issued to a reader');

      const requested = (params.scope ?? '').split(' ').filter(Boolean);
      const unknown = requested.filter((s) => !EXCHANGE_SCOPES.includes(s));
      if (unknown.length) throw new errors.InvalidScope('scopes not available by token exchange', unknown.join(' '));

      const claims: Record<string, unknown> = { scope: requested.join(' '), client_id: client.clientId, act: { sub: client.clientId } };
      if (requested.includes('loyalty')) {
        const loyalty = await deps.db.prisma.loyaltyNumber.findUnique({ where: { personId_tenantId: { personId: subject.accountId, tenantId: reader.tenantId } } });
        claims.loyalty_number = loyalty?.number ?? null;
      }
      if (requested.includes('payment')) {
        const cards = await deps.db.prisma.paymentCard.findMany({ where: { personId: subject.accountId }, orderBy: { createdAt: 'asc' } });
        claims.payment_cards = cards.map((c) => ({ brand: c.brand, last4: c.last4, vault_token: c.vaultToken, exp_month: c.expMonth, exp_year: c.expYear }));
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
      await audit(deps.db.prisma, {
        action: 'token.exchanged',
        actor: client.clientId,
        subject: subject.accountId,
        detail: { audience: params.audience, scope: requested, tenant: reader.tenantId },
      });
      ctx.body = {
        access_token: accessToken,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: EXCHANGED_TOKEN_SECONDS,
        ...(requested.length ? { scope: requested.join(' ') } : {}),
      };
    },
    ['subject_token', 'subject_token_type', 'audience', 'resource', 'scope', 'requested_token_type', 'actor_token', 'actor_token_type'],
  );
}
