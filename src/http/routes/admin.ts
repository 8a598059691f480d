/**
 * The administrators' console: sign in with a passkey, see people, create invitation links.
 * Writes are accepted only from the console's own origin (Origin header) on top of the
 * SameSite=Strict session cookie.
 */
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Database } from '../../db/database.js';
import { createInvitation, InvitationRefusedError, invitationUrl } from '../../accounts/invitations.js';
import { findPersonById, isValidEmail, listPeople, type Role } from '../../accounts/people.js';
import { audit } from '../../audit/audit.js';
import type { RelyingParty } from '../../webauthn/relyingParty.js';
import { clearAdminSession, readAdminSession, setAdminSession } from '../adminSession.js';
import { readBody } from '../body.js';
import { HttpError } from '../errors.js';
import { passkeySignInRoutes } from '../passkeySignIn.js';
import { renderView } from '../../views.js';
import { clientMessages, translator } from '../../i18n/index.js';
import { pageLocale } from '../locale.js';

export interface AdminDeps {
  db: Database;
  rp: RelyingParty;
  issuer: string;
  bodyLimitBytes: number;
}

const INVITATION_TTL_SECONDS = 7 * 24 * 60 * 60;
const CEREMONY_COOKIE = 'palmid_admin_ceremony';

export function adminRoutes(deps: AdminDeps): Router {
  const router = new Router({ prefix: '/admin' });

  const sameOrigin = async (ctx: Context, next: Next) => {
    if (ctx.method === 'POST' && ctx.get('origin') !== deps.rp.origin) {
      throw new HttpError(403, 'access_denied', 'cross-origin request refused');
    }
    // Under the default `no-referrer` policy browsers send `Origin: null` with form posts, and
    // the check above would refuse the console's own forms: keep the origin for same-origin requests.
    ctx.set('referrer-policy', 'same-origin');
    await next();
  };
  router.use(sameOrigin);

  async function currentAdmin(ctx: Context) {
    const id = readAdminSession(ctx);
    const person = id ? await findPersonById(deps.db, id) : null;
    return person?.role === 'admin' ? person : null;
  }

  async function renderConsole(
    ctx: Context,
    adminEmail: string,
    created?: { url: string; email: string | null; expiresAt: Date },
    refused?: { message: string; email: string | null },
  ) {
    const people = await listPeople(deps.db);
    ctx.set('cache-control', 'no-store');
    ctx.type = 'html';
    ctx.body = renderView('admin', { adminEmail, people, created, refused, locale: pageLocale(ctx) });
  }

  /** The console again with why the invitation was refused (400), in the page's language. */
  async function refuseInvitation(ctx: Context, adminEmail: string, key: string, email: string | null) {
    ctx.status = 400;
    await renderConsole(ctx, adminEmail, undefined, { message: translator(pageLocale(ctx))(key, { email }), email });
  }

  router.get('/', async (ctx) => {
    const admin = await currentAdmin(ctx);
    if (!admin) {
      ctx.set('cache-control', 'no-store');
      ctx.type = 'html';
      const locale = pageLocale(ctx);
      ctx.body = renderView('admin-login', {
        locale,
        clientMessages: clientMessages(locale, 'admin', 'login', 'common'),
      });
      return;
    }
    await renderConsole(ctx, admin.email);
  });

  passkeySignInRoutes(router, {
    ...deps,
    cookie: CEREMONY_COOKIE,
    path: '/admin',
    purpose: 'admin',
    async admit(ctx, personId) {
      const person = await findPersonById(deps.db, personId);
      if (person?.role !== 'admin') {
        await audit(deps.db, { action: 'admin.refused', actor: personId });
        throw new HttpError(403, 'access_denied', 'This account is not an administrator.');
      }
      setAdminSession(ctx, person.id);
      await audit(deps.db, { action: 'admin.signin', actor: person.id });
      return { redirectTo: '/admin' };
    },
  });

  router.post('/invitations', async (ctx) => {
    const admin = await currentAdmin(ctx);
    if (!admin) throw new HttpError(401, 'login_required', 'Sign in to the admin console first.');
    const body = await readBody(ctx, deps.bodyLimitBytes);
    const email = typeof body.email === 'string' && body.email.trim() ? body.email.trim() : null;
    if (email && !isValidEmail(email)) return refuseInvitation(ctx, admin.email, 'admin:refused.invalidEmail', email);
    const role: Role = body.role === 'admin' ? 'admin' : 'user';
    let invitation;
    try {
      invitation = await createInvitation(deps.db, {
        email,
        role,
        ttlSeconds: INVITATION_TTL_SECONDS,
        createdById: admin.id,
        actor: admin.id,
        // The form's checkbox: a link for an account that already signs in is refused without it.
        addPasskey: body.add_passkey === 'on' || body.add_passkey === 'true',
      });
    } catch (err) {
      if (!(err instanceof InvitationRefusedError)) throw err;
      return refuseInvitation(ctx, admin.email, 'admin:refused.hasAccount', email);
    }
    await renderConsole(ctx, admin.email, {
      url: invitationUrl(deps.issuer, invitation.token),
      email: invitation.email,
      expiresAt: invitation.expiresAt,
    });
  });

  router.post('/logout', async (ctx) => {
    clearAdminSession(ctx);
    ctx.redirect('/admin');
    ctx.status = 303;
  });

  return router;
}
