/**
 * Self-enrolment at /account/enrol?tenant=T: a person signed in to their account page
 * (ACCOUNT_SESSION, src/http/accountSession.ts) reads the tenant's notice, accepts it themselves
 * (consent method 'self'), then enrols a palm with their own webcam or phone camera through the
 * same capture component and the same enrolment handler as the station (src/http/palmEnrolment.ts).
 * Without an account session the page sends the browser to /account to sign in.
 */
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { PersonRecord } from '../../accounts/people.js';
import { TenantError, currentNotice, findTenant, recordConsent } from '../../accounts/tenants.js';
import { audit } from '../../audit/audit.js';
import type { BiometricContext } from '../../biometrics/context.js';
import type { FramePool } from '../../biometrics/framePool.js';
import type { Database } from '../../db/database.js';
import { describePerson } from '../../accounts/people.js';
import { translator } from '../../i18n/index.js';
import { renderView } from '../../views.js';
import type { RelyingParty } from '../../webauthn/relyingParty.js';
import { currentAccountPerson, mayChangeRecognition } from '../accountSession.js';
import { readBody } from '../body.js';
import { HttpError } from '../errors.js';
import { pageLocale } from '../locale.js';
import { ENROL_FRAMES, answerPalmEnrolment, consentsToCurrentNotice, palmEnrolmentLimit } from '../palmEnrolment.js';
import { allowHandTracker } from '../security.js';
import { enrolPageMessages } from './enrol.js';

export interface SelfEnrolDeps {
  db: Database;
  bio: BiometricContext;
  frames: FramePool;
  rp: RelyingParty;
  bodyLimitBytes: number;
}

function page(ctx: Context, view: string, data: Record<string, unknown>): void {
  ctx.set('cache-control', 'no-store');
  ctx.type = 'html';
  ctx.body = renderView(view, { locale: pageLocale(ctx), ...data });
}

function text(ctx: Context, key: string, vars: Record<string, unknown> = {}): string {
  return translator(pageLocale(ctx))(key, vars);
}

const enrolUrl = (tenantId: string, rest = '') => `/account/enrol${rest}?tenant=${encodeURIComponent(tenantId)}`;

export function selfEnrolRoutes(deps: SelfEnrolDeps): Router {
  const router = new Router({ prefix: '/account/enrol' });

  router.use(async (ctx: Context, next: Next) => {
    if (ctx.method === 'POST' && ctx.get('origin') !== deps.rp.origin)
      throw new HttpError(403, 'access_denied', 'cross-origin request refused');
    ctx.set('referrer-policy', 'same-origin');
    await next();
  });

  /** The tenant the request names (query, or form field), or a 404. */
  async function namedTenant(ctx: Context, body?: Record<string, unknown>) {
    const id = typeof body?.tenant === 'string' ? body.tenant : ctx.query.tenant;
    const tenant = typeof id === 'string' && id ? await findTenant(deps.db, id) : null;
    if (!tenant) throw new HttpError(404, 'invalid_request', text(ctx, 'enrol:self.unknownTenant'));
    return tenant;
  }

  async function signedIn(ctx: Context): Promise<PersonRecord> {
    const person = await currentAccountPerson(ctx, deps.db);
    if (!person) throw new HttpError(401, 'login_required', 'Sign in to your account first.');
    return person;
  }

  /** Enrolling a palm changes how the person is recognised: a passkey sign-in where they have one. */
  async function mayEnrol(ctx: Context, person: PersonRecord): Promise<void> {
    if (!(await mayChangeRecognition(ctx, deps.db, person.id)))
      throw new HttpError(403, 'access_denied', text(ctx, 'enrol:self.passkeyNeeded'));
  }

  router.get('/', async (ctx) => {
    const person = await currentAccountPerson(ctx, deps.db);
    if (!person) {
      // Signed in at the account page, the browser comes back here (src/http/returnTo.ts).
      ctx.status = 303;
      return ctx.redirect(`/account?return=${encodeURIComponent(ctx.url)}`);
    }
    const tenant = await namedTenant(ctx);
    if (!(await consentsToCurrentNotice(deps.db, person.id, tenant.id))) {
      return page(ctx, 'enrol-notice', {
        notice: await currentNotice(deps.db, tenant.id),
        intro: text(ctx, 'enrol:notice.selfIntro', { tenant: tenant.name }),
        acceptAction: '/account/enrol/consent',
        tenantField: tenant.id,
      });
    }
    allowHandTracker(ctx);
    page(ctx, 'enrol-capture', {
      intro: text(ctx, 'enrol:palm.intro'),
      endpoint: enrolUrl(tenant.id, '/palm'),
      frames: ENROL_FRAMES,
      maxBytes: palmEnrolmentLimit(deps.bodyLimitBytes),
      next: '/account/enrol/done',
      tenantField: tenant.id,
      nextLabel: text(ctx, 'enrol:palm.continue'),
      clientMessages: enrolPageMessages(pageLocale(ctx)),
    });
  });

  router.post('/consent', async (ctx) => {
    const person = await signedIn(ctx);
    await mayEnrol(ctx, person);
    const body = await readBody(ctx, deps.bodyLimitBytes);
    const tenant = await namedTenant(ctx, body);
    if (body.accept !== 'yes') throw new HttpError(400, 'invalid_request', 'The notice was not accepted.');
    try {
      await recordConsent(deps.db, person.id, tenant.id, Number(body.notice_version), { method: 'self' });
    } catch (err) {
      if (!(err instanceof TenantError)) throw err;
      ctx.status = 409;
      return page(ctx, 'enrol-notice', {
        notice: await currentNotice(deps.db, tenant.id),
        intro: text(ctx, 'enrol:notice.selfIntro', { tenant: tenant.name }),
        acceptAction: '/account/enrol/consent',
        tenantField: tenant.id,
        error: text(ctx, 'enrol:notice.changed'),
      });
    }
    ctx.status = 303;
    ctx.redirect(enrolUrl(tenant.id));
  });

  router.post('/palm', async (ctx) => {
    const person = await signedIn(ctx);
    await mayEnrol(ctx, person);
    const tenant = await namedTenant(ctx);
    // Only ever the signed-in person's palm, under their own consent to the current notice (checked there).
    const answer = await answerPalmEnrolment(ctx, deps, { personId: person.id, tenantId: tenant.id });
    if (answer)
      await audit(deps.db, {
        action: answer.outcome === 'enrolled' ? 'self.palm_enrolled' : 'self.duplicate_refused',
        actor: person.id,
        subject: tenant.id,
        detail: { hand: answer.hand },
      });
  });

  router.get('/done', async (ctx) => {
    const person = await currentAccountPerson(ctx, deps.db);
    if (!person) {
      ctx.status = 303;
      return ctx.redirect('/account');
    }
    const tenant = await namedTenant(ctx);
    const described = await describePerson(deps.db, person.id);
    page(ctx, 'enrol-done', {
      summary: text(ctx, 'enrol:self.doneIntro', { tenant: tenant.name }),
      palms: (described?.palms ?? []).filter((p) => p.tenant === tenant.id).map((p) => p.hand),
    });
  });

  return router;
}
