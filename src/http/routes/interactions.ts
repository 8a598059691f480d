/**
 * The provider's interactions: the login page (passkeys) and the consent page. oidc-provider
 * sends the browser here with an interaction uid bound to a cookie; we finish the interaction
 * with the result and it resumes the authorization request.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Client } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Database } from '../../db/database.js';
import { audit } from '../../audit/audit.js';
import { clientMetadata, requiresPad } from '../../clients/metadata.js';
import { ACR_PASSKEY } from '../../acr.js';
import { finishAuthentication, startAuthentication } from '../../webauthn/authentication.js';
import type { RelyingParty } from '../../webauthn/relyingParty.js';
import { readBody } from '../body.js';
import { HttpError } from '../errors.js';
import { allowHandTracker } from '../security.js';
import { renderView } from '../../views.js';
import { clientMessages, translator } from '../../i18n/index.js';
import { pageLocale } from '../locale.js';
import { findAccount } from '../../accounts/people.js';
import { isPalmLogin, recognisedAs } from '../../oidc/recognised.js';

export interface InteractionDeps {
  provider: () => Provider;
  db: Database;
  rp: RelyingParty;
  bodyLimitBytes: number;
}

/** The interaction bound to this browser's cookie; it must be the one the URL names. */
export async function currentInteraction(ctx: Context, provider: Provider) {
  let interaction;
  try {
    interaction = await provider.interactionDetails(ctx.req, ctx.res);
  } catch {
    throw new HttpError(
      400,
      'invalid_request',
      'This sign-in has expired or was opened in another browser. Go back to the application and start again.',
    );
  }
  if (ctx.params.uid !== interaction.uid) throw new HttpError(400, 'invalid_request', 'interaction mismatch');
  return interaction;
}

/** The tenant whose consented people may sign in to this client with their palm, if any. */
function palmTenantOf(client: Client | undefined): string | undefined {
  const tenant = client ? clientMetadata<string>(client, 'palmid_tenant') : undefined;
  return typeof tenant === 'string' && tenant ? tenant : undefined;
}

/**
 * Whether the login page offers palm sign-in to this client, and on which terms: the one rule the
 * page and its palm endpoint share. A client that needs PAD (palmid_require_pad) is offered only
 * the challenge path: a sequence the hand follows (src/http/routes/palmLogin.ts), never one frame.
 */
export function palmOffer(client: Client | undefined): { tenantId: string; requirePad: boolean } | 'not_offered' {
  const tenantId = palmTenantOf(client);
  if (!tenantId) return 'not_offered';
  return { tenantId, requirePad: Boolean(client && requiresPad(client)) };
}

export function interactionRoutes(deps: InteractionDeps): Router {
  const router = new Router();
  const details = (ctx: Context) => currentInteraction(ctx, deps.provider());
  /** The interaction for a page: an expired one is told in the page's language. */
  const pageDetails = async (ctx: Context) => {
    try {
      return await details(ctx);
    } catch (err) {
      if (!(err instanceof HttpError) || err.code !== 'invalid_request') throw err;
      throw new HttpError(err.status, err.code, translator(pageLocale(ctx))('errors:interactionExpired'));
    }
  };

  router.get('/interaction/:uid', async (ctx) => {
    const interaction = await pageDetails(ctx);
    // The relying party's ui_locales for this sign-in first (OIDC Core 3.1.2.1), then the browser's.
    const locale = pageLocale(ctx, interaction.params.ui_locales);
    const client = await deps.provider().Client.find(String(interaction.params.client_id));
    const clientName = client?.clientName ?? String(interaction.params.client_id);
    ctx.set('cache-control', 'no-store');
    ctx.type = 'html';
    if (interaction.prompt.name === 'login') {
      // Palm sign-in is offered only where the client names a tenant to search; where the client
      // needs liveness (PAD), the page must follow a challenge (src/http/routes/palmLogin.ts).
      const offer = palmOffer(client);
      const palm =
        typeof offer === 'object'
          ? {
              maxBytes: deps.bodyLimitBytes,
              requirePad: offer.requirePad,
              challengeUrl: `/interaction/${interaction.uid}/palm/challenge`,
            }
          : undefined;
      // The palm capture runs the hand tracker (WebAssembly) in the page.
      if (palm) allowHandTracker(ctx);
      ctx.body = renderView('login', {
        uid: interaction.uid,
        clientName,
        palm,
        locale,
        clientMessages: clientMessages(locale, 'login', 'capture', 'common'),
      });
      return;
    }
    if (interaction.prompt.name === 'consent') {
      const missing = (interaction.prompt.details.missingOIDCScope as string[] | undefined) ?? [];
      // Asked only to confirm whom the palm recognised (src/oidc/recognised.ts): no scopes to list.
      const confirmOnly = interaction.prompt.reasons.every((r) => r === 'palm_recognised');
      // Scope names: the page words them (consent:scopes.*), an unknown one shown as it is.
      const scopes = confirmOnly
        ? []
        : missing.length
          ? missing
          : String(interaction.params.scope ?? 'openid').split(' ');
      const recognised = await recognisedPerson(interaction);
      ctx.body = renderView('consent', { uid: interaction.uid, clientName, scopes, recognised, locale });
      return;
    }
    throw new HttpError(400, 'invalid_request', `unsupported interaction prompt ${interaction.prompt.name}`);
  });

  router.post('/interaction/:uid/passkey/options', async (ctx) => {
    const interaction = await details(ctx);
    if (interaction.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'not a login interaction');
    ctx.set('cache-control', 'no-store');
    ctx.body = await startAuthentication(deps.db, deps.rp, `login:${interaction.uid}`);
  });

  router.post('/interaction/:uid/passkey/verify', async (ctx) => {
    const interaction = await details(ctx);
    if (interaction.prompt.name !== 'login') throw new HttpError(400, 'invalid_request', 'not a login interaction');
    const body = await readBody(ctx, deps.bodyLimitBytes);
    const signIn = await finishAuthentication(deps.db, deps.rp, `login:${interaction.uid}`, body);
    await audit(deps.db, {
      action: 'signin.passkey',
      actor: signIn.personId,
      subject: String(interaction.params.client_id),
    });
    const redirectTo = await deps
      .provider()
      .interactionResult(
        ctx.req,
        ctx.res,
        { login: { accountId: signIn.personId, acr: ACR_PASSKEY, amr: signIn.amr, remember: true } },
        { mergeWithLastSubmission: false },
      );
    ctx.set('cache-control', 'no-store');
    ctx.body = { redirectTo };
  });

  router.post('/interaction/:uid/confirm', async (ctx) => {
    const provider = deps.provider();
    const interaction = await details(ctx);
    if (interaction.prompt.name !== 'consent' || !interaction.session) {
      throw new HttpError(400, 'invalid_request', 'not a consent interaction');
    }
    const { prompt, params, session } = interaction;
    const grant = interaction.grantId
      ? await provider.Grant.find(interaction.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
    if (!grant) throw new HttpError(400, 'invalid_request', 'the grant for this sign-in is gone; start again');
    const missingScope = prompt.details.missingOIDCScope as string[] | undefined;
    const missingClaims = prompt.details.missingOIDCClaims as string[] | undefined;
    const missingResourceScopes = prompt.details.missingResourceScopes as Record<string, string[]> | undefined;
    if (missingScope) grant.addOIDCScope(missingScope.join(' '));
    if (missingClaims) grant.addOIDCClaims(missingClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {}))
      grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await audit(deps.db, {
      action: 'consent.granted',
      actor: session.accountId,
      subject: String(params.client_id),
      detail: { scope: missingScope ?? [] },
    });
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  });

  /** The person this interaction's palm login recognised, named for the page; undefined after any other login. */
  async function recognisedPerson(interaction: Awaited<ReturnType<typeof details>>): Promise<string | undefined> {
    const login = interaction.lastSubmission?.login as { acr?: unknown; accountId?: string } | undefined;
    if (!isPalmLogin(login) || !interaction.session?.accountId) return undefined;
    const person = await findAccount(deps.db, interaction.session.accountId);
    return person ? recognisedAs(person) : undefined;
  }

  // "Not you?" after a palm sign-in: the application is told access_denied, and the login is
  // dropped from the browser's session, so the next authorization asks again instead of reusing it.
  router.post('/interaction/:uid/not-you', async (ctx) => {
    const provider = deps.provider();
    const interaction = await details(ctx);
    const login = interaction.lastSubmission?.login as { acr?: unknown } | undefined;
    if (interaction.prompt.name !== 'consent' || !interaction.session || !isPalmLogin(login)) {
      throw new HttpError(400, 'invalid_request', 'not a palm sign-in to disown');
    }
    const { accountId, uid } = interaction.session;
    // The result first: oidc-provider refuses an interaction whose session principal changed.
    const redirectTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'The person said the palm sign-in was not them.' },
      { mergeWithLastSubmission: false },
    );
    // Before the browser resumes: the session keeps its identifier (the resume checks it) but
    // loses the login and the clients it was used for.
    const session = uid ? await provider.Session.findByUid(uid) : undefined;
    if (session && session.accountId === accountId) {
      session.accountId = undefined;
      session.acr = undefined;
      session.amr = undefined;
      session.loginTs = undefined;
      session.authorizations = undefined;
      await session.persist();
    }
    await audit(deps.db, {
      action: 'signin.disowned',
      actor: accountId,
      subject: String(interaction.params.client_id),
      detail: { acr: String((login as { acr: string }).acr) },
    });
    ctx.set('cache-control', 'no-store');
    ctx.status = 303;
    ctx.redirect(redirectTo);
  });

  router.get('/interaction/:uid/abort', async (ctx) => {
    await pageDetails(ctx);
    await deps
      .provider()
      .interactionFinished(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'The person cancelled the sign-in.' },
        { mergeWithLastSubmission: false },
      );
  });

  return router;
}
