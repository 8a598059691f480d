import Router from '@koa/router';
import type { Database } from '../../db/database.js';
import { findRedeemableInvitation } from '../../accounts/invitations.js';
import { finishRegistration, startRegistration } from '../../webauthn/registration.js';
import type { RelyingParty } from '../../webauthn/relyingParty.js';
import { readBody } from '../body.js';
import { HttpError } from '../errors.js';
import { renderView } from '../../views.js';
import { clientMessages, translator } from '../../i18n/index.js';
import { pageLocale } from '../locale.js';

/** Invitation links (and the first administrator's setup link): register a passkey. */
export function invitationRoutes(deps: { db: Database; rp: RelyingParty; bodyLimitBytes: number }): Router {
  const router = new Router();

  router.get('/invite/:token', async (ctx) => {
    const locale = pageLocale(ctx);
    const invitation = await findRedeemableInvitation(deps.db, ctx.params.token ?? '');
    if (!invitation) throw new HttpError(410, 'invalid_invitation', translator(locale)('invite:invalid'));
    ctx.set('cache-control', 'no-store');
    ctx.set('referrer-policy', 'no-referrer');
    ctx.type = 'html';
    ctx.body = renderView('invite', {
      token: ctx.params.token,
      email: invitation.email,
      admin: invitation.role === 'admin',
      locale,
      clientMessages: clientMessages(locale, 'invite', 'common'),
    });
  });

  router.post('/invite/:token/options', async (ctx) => {
    const body = await readBody(ctx, deps.bodyLimitBytes);
    ctx.set('cache-control', 'no-store');
    ctx.body = await startRegistration(deps.db, deps.rp, {
      token: ctx.params.token ?? '',
      email: body.email,
      name: body.name,
    });
  });

  router.post('/invite/:token/verify', async (ctx) => {
    const body = await readBody(ctx, deps.bodyLimitBytes);
    const result = await finishRegistration(deps.db, deps.rp, {
      token: ctx.params.token ?? '',
      ceremony: body.ceremony,
      response: body.response,
    });
    ctx.body = { ok: true, role: result.role };
  });

  return router;
}
