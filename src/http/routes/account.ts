/**
 * The person's account page (/account, #13 item 4): profile, passkeys, palms and consents per
 * tenant, PIN, cards and loyalty numbers, apps, "download my data", "delete my account".
 *
 * Sign-in: /account is a first-party OpenID client of palmid itself (src/oidc/accountClient.ts),
 * so the login page, with a passkey and, where the operator names a tenant for that client, a
 * palm, is the one relying parties get, with its throttling, PAD and "who was recognised". The
 * code is redeemed in-process with PKCE and state checked, then the page keeps its own session
 * (ACCOUNT_SESSION: 15 minutes, path /account, SameSite=Strict). Every sign-in is fresh
 * (prompt=login), so the session is always a recent sign-in.
 *
 * Changes are plain HTML forms (POST, same origin, redirect back with a status), except adding
 * a passkey (WebAuthn, views/static/account.js). Every change is audited by its service.
 */
import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { LocalCardVault } from '../../../adapters/card-vault.js';
import { accountOverview, exportAccount, palmStandingAt, personLocale } from '../../accounts/accountData.js';
import {
  AccountError,
  removeLoyaltyNumber,
  removePasskey,
  renamePasskey,
  revokeApp,
  unlinkCard,
  updateProfile,
} from '../../accounts/accountActions.js';
import { normaliseEmail, PersonInputError, type PersonRecord } from '../../accounts/people.js';
import { closeSubjectRequest, openSubjectRequest, recordSelfServiceRequest } from '../../accounts/subjectRequests.js';
import { withdrawConsent } from '../../accounts/tenants.js';
import { ACR_PASSKEY } from '../../acr.js';
import { audit } from '../../audit/audit.js';
import type { BiometricContext } from '../../biometrics/context.js';
import { erasePalmDataAt } from '../../biometrics/lifecycle.js';
import { LastAdministratorError, removePersonAndData } from '../../biometrics/personRemoval.js';
import type { Database } from '../../db/database.js';
import { clientMessages, formatDateTime, LOCALE_NAMES, SUPPORTED_LOCALES, translator } from '../../i18n/index.js';
import {
  ACCOUNT_CLIENT_ID,
  accountRedirectUri,
  ensureAccountClient,
  redeemAccountCode,
} from '../../oidc/accountClient.js';
import { PinError, setPin, verifyPin } from '../../readers/pin.js';
import { clearFailures, LIMITS, personSubject, reserveAttempt } from '../../throttling/attemptLimits.js';
import { renderView } from '../../views.js';
import { finishPasskeyAddition, startPasskeyAddition } from '../../webauthn/accountPasskeys.js';
import type { RelyingParty } from '../../webauthn/relyingParty.js';
import {
  accountSignInMethod,
  clearAccountSignInMethod,
  currentAccountPerson,
  mayChangeRecognition,
  setAccountSignInMethod,
} from '../accountSession.js';
import { readBody } from '../body.js';
import { HttpError } from '../errors.js';
import { pageLocale } from '../locale.js';
import { accountReturnPath } from '../returnTo.js';
import { ACCOUNT_SESSION, clearPageSession, setPageSession } from '../signedSession.js';

export interface AccountDeps {
  db: Database;
  bio: BiometricContext;
  rp: RelyingParty;
  issuer: string;
  provider: () => Provider;
  bodyLimitBytes: number;
}

/** The sign-in in progress: state and PKCE verifier, for the callback (10 minutes). */
const LOGIN_COOKIE = 'palmid_account_login';
/** What the page may say after a change (?done=…) or a refusal (?error=…): keys of account.json. */
const DONE = new Set([
  'profile',
  'passkey_added',
  'passkey_renamed',
  'passkey_removed',
  'palms_deleted',
  'consent_withdrawn',
  'pin_set',
  'pin_changed',
  'card_unlinked',
  'loyalty_unlinked',
  'app_revoked',
]);
const ERRORS = new Set([
  'invalid',
  'profile_invalid',
  'passkey_name',
  'last_passkey',
  'passkey_signin',
  'pin_invalid',
  'pin_mismatch',
  'pin_wrong',
  'pin_locked',
  'confirm_email',
  'last_admin',
]);

export function accountRoutes(deps: AccountDeps): Router {
  const router = new Router({ prefix: '/account' });
  const vault = () => new LocalCardVault(deps.db, deps.bio.master.derive('card-vault'));
  const redirectUri = accountRedirectUri(deps.issuer);

  router.use(async (ctx: Context, next: Next) => {
    // Same-origin writes only (as the admin console); the Origin header is kept on our own forms.
    if (ctx.method === 'POST' && ctx.get('origin') !== deps.rp.origin)
      throw new HttpError(403, 'access_denied', 'cross-origin request refused');
    ctx.set('referrer-policy', 'same-origin');
    ctx.set('cache-control', 'no-store');
    await next();
  });

  const back = (ctx: Context, outcome: { done?: string; error?: string }, anchor = '') => {
    const query = outcome.error ? `?error=${outcome.error}` : outcome.done ? `?done=${outcome.done}` : '';
    ctx.status = 303;
    ctx.redirect(`/account${query}${anchor}`);
  };

  /** The signed-in person for a form post; none: back to the page, which signs in again. */
  async function signedIn(ctx: Context): Promise<PersonRecord | null> {
    const person = await currentAccountPerson(ctx, deps.db);
    if (!person) {
      ctx.status = 303;
      ctx.redirect('/account');
    }
    return person;
  }

  /**
   * Passkey changes, the PIN and account deletion need a passkey sign-in when the person has a
   * passkey: a palm is found among many people (1:N), and a false match must not be able to take
   * the account over, lock its owner out or choose the PIN that steps their palm up. A palm-only
   * person may do these after a palm sign-in (changing a PIN still needs the current one).
   */
  const strongEnough = (ctx: Context, personId: string) => mayChangeRecognition(ctx, deps.db, personId);

  /** Runs a change; a refusal the person can act on goes back to the page as ?error=. */
  async function change(ctx: Context, run: () => Promise<string | undefined>, anchor: string) {
    try {
      const done = await run();
      if (ctx.status !== 303) back(ctx, { done }, anchor);
    } catch (err) {
      const error = refusal(err);
      if (!error) throw err;
      back(ctx, { error }, anchor);
    }
  }

  router.get('/', async (ctx) => {
    const person = await currentAccountPerson(ctx, deps.db);
    if (!person) {
      await startSignIn(ctx, pageLocale(ctx), accountReturnPath(ctx.query.return));
      return;
    }
    // The language the person chose in their profile, else the page's usual negotiation.
    const chosen = await personLocale(deps.db, person.id);
    const locale = chosen ?? pageLocale(ctx);
    const overview = (await accountOverview(deps.db, person.id))!;
    const done = typeof ctx.query.done === 'string' && DONE.has(ctx.query.done) ? ctx.query.done : undefined;
    const error = typeof ctx.query.error === 'string' && ERRORS.has(ctx.query.error) ? ctx.query.error : undefined;
    ctx.type = 'html';
    ctx.body = renderView('account', {
      locale,
      account: overview,
      done,
      error,
      passkeySignIn: accountSignInMethod(ctx, person.id) === ACR_PASSKEY,
      locales: SUPPORTED_LOCALES.map((l) => ({ id: l, name: LOCALE_NAMES[l] })),
      clientMessages: clientMessages(locale, 'account'),
    });
  });

  async function startSignIn(ctx: Context, locale: string, returnTo?: string) {
    // Created (or its redirect corrected) on first use: nothing to configure for the page to work.
    await ensureAccountClient(deps.db, deps.issuer);
    const state = randomBytes(16).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    // When it started: the code must come from a sign-in made after it (see the callback).
    const startedAt = Math.floor(Date.now() / 1000);
    // Lax: the callback arrives at the end of a redirect chain that may have begun on another site.
    // Where to land after it (src/http/returnTo.ts; checked again on the way back).
    const back = returnTo ? `.${Buffer.from(returnTo).toString('base64url')}` : '';
    ctx.cookies.set(LOGIN_COOKIE, `${state}.${verifier}.${startedAt}${back}`, {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      path: '/account',
      maxAge: 10 * 60 * 1000,
      overwrite: true,
    });
    const url = new URL(deps.provider().pathFor('authorization'), deps.issuer);
    url.search = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid',
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      // Always a fresh sign-in: an open provider session must not open the account page.
      prompt: 'login',
      ui_locales: locale,
    }).toString();
    ctx.redirect(url.href);
  }

  router.get('/callback', async (ctx) => {
    const locale = pageLocale(ctx);
    const t = translator(locale);
    const pending = ctx.cookies.get(LOGIN_COOKIE, { signed: true });
    ctx.cookies.set(LOGIN_COOKIE, null, { path: '/account', overwrite: true });
    const [state, verifier, startedAt, back] = pending?.split('.') ?? [];
    const failed = (message: string, status = 400) => {
      ctx.status = status;
      ctx.type = 'html';
      ctx.body = renderView('account-message', {
        locale,
        title: t('account:signin.failedTitle'),
        message,
        retry: true,
      });
    };
    if (!state || !verifier || !startedAt || ctx.query.state !== state) return failed(t('account:signin.expired'));
    if (typeof ctx.query.error === 'string') return failed(t('account:signin.cancelled'), 200);
    const code = typeof ctx.query.code === 'string' ? ctx.query.code : '';
    // prompt=login is only asked for: an edited request could get a code from a provider session
    // left open in this browser. Only a sign-in made after this one started opens the page.
    const signIn = code
      ? await redeemAccountCode(deps.provider(), {
          code,
          verifier,
          redirectUri,
          authenticatedSince: Number(startedAt),
        })
      : undefined;
    if (!signIn) return failed(t('account:signin.expired'));
    setPageSession(ctx, ACCOUNT_SESSION, signIn.accountId);
    setAccountSignInMethod(ctx, signIn.accountId, signIn.acr);
    await audit(deps.db, { action: 'account.signin', actor: signIn.accountId, detail: { acr: signIn.acr ?? null } });
    ctx.status = 303;
    ctx.redirect(accountReturnPath(back && Buffer.from(back, 'base64url').toString('utf8')) ?? '/account');
  });

  router.post('/logout', async (ctx) => {
    const locale = pageLocale(ctx);
    const person = await currentAccountPerson(ctx, deps.db);
    clearPageSession(ctx, ACCOUNT_SESSION);
    clearAccountSignInMethod(ctx);
    if (person) await audit(deps.db, { action: 'account.signout', actor: person.id });
    const t = translator(locale);
    ctx.type = 'html';
    ctx.body = renderView('account-message', {
      locale,
      title: t('account:signedOut.title'),
      message: t('account:signedOut.message'),
      retry: true,
    });
  });

  router.post('/profile', async (ctx) => {
    const person = await signedIn(ctx);
    if (!person) return;
    const body = await readBody(ctx, deps.bodyLimitBytes);
    await change(
      ctx,
      async () => {
        await updateProfile(deps.db, person.id, { name: body.name, phone: body.phone, locale: body.locale });
        return 'profile';
      },
      '#profile',
    );
  });

  router.post('/passkeys/options', async (ctx) => {
    const person = await currentAccountPerson(ctx, deps.db);
    if (!person) throw new HttpError(401, 'login_required', 'Your session ended: sign in again.');
    if (!(await strongEnough(ctx, person.id)))
      throw new HttpError(403, 'access_denied', translator(pageLocale(ctx))('account:error.passkey_signin'));
    ctx.body = await startPasskeyAddition(deps.db, deps.rp, person.id);
  });

  router.post('/passkeys/verify', async (ctx) => {
    const person = await currentAccountPerson(ctx, deps.db);
    if (!person) throw new HttpError(401, 'login_required', 'Your session ended: sign in again.');
    if (!(await strongEnough(ctx, person.id)))
      throw new HttpError(403, 'access_denied', translator(pageLocale(ctx))('account:error.passkey_signin'));
    const body = await readBody(ctx, deps.bodyLimitBytes);
    await finishPasskeyAddition(deps.db, deps.rp, person.id, {
      ceremony: body.ceremony,
      response: body.response,
      name: body.name,
    });
    ctx.body = { redirectTo: '/account?done=passkey_added#passkeys' };
  });

  /** A change from a form on the page: the signed-in person, the change, back to the page. */
  function formAction(
    path: string,
    anchor: string,
    run: (ctx: Context, person: PersonRecord, body: Record<string, unknown>) => Promise<string>,
  ) {
    router.post(path, async (ctx) => {
      const person = await signedIn(ctx);
      if (!person) return;
      const body = await readBody(ctx, deps.bodyLimitBytes);
      await change(ctx, () => run(ctx, person, body), anchor);
    });
  }

  formAction('/passkeys/:id/rename', '#passkeys', async (ctx, person, body) => {
    await renamePasskey(deps.db, person.id, ctx.params.id!, body.name);
    return 'passkey_renamed';
  });
  formAction('/cards/:id/unlink', '#cards', async (ctx, person) => {
    await unlinkCard(deps.db, vault(), person.id, ctx.params.id!);
    return 'card_unlinked';
  });
  formAction('/loyalty/:tenant/unlink', '#cards', async (ctx, person) => {
    await removeLoyaltyNumber(deps.db, person.id, ctx.params.tenant!);
    return 'loyalty_unlinked';
  });
  formAction('/apps/:client/revoke', '#apps', async (ctx, person) => {
    await revokeApp(deps.db, person.id, ctx.params.client!);
    return 'app_revoked';
  });

  router.post('/passkeys/:id/remove', async (ctx) => {
    const person = await signedIn(ctx);
    if (!person) return;
    const body = await readBody(ctx, deps.bodyLimitBytes);
    if (!(await strongEnough(ctx, person.id))) return back(ctx, { error: 'passkey_signin' }, '#passkeys');
    await change(
      ctx,
      async () => {
        await removePasskey(deps.db, person.id, ctx.params.id!, { confirmLast: body.confirm_last === 'on' });
        return 'passkey_removed';
      },
      '#passkeys',
    );
  });

  // Palms at one tenant: the references go with the key that opened them (lifecycle.ts); the
  // consent stays, so the person may enrol again there.
  router.post('/tenants/:tenant/palms/delete', async (ctx) => {
    const person = await signedIn(ctx);
    if (!person) return;
    const tenantId = ctx.params.tenant!;
    if (!(await palmStandingAt(deps.db, person.id, tenantId)).palms) return back(ctx, { error: 'invalid' }, '#tenants');
    const { references } = await erasePalmDataAt(deps.bio, person.id, tenantId);
    await audit(deps.db, {
      action: 'account.palms_deleted',
      actor: person.id,
      subject: tenantId,
      detail: { references },
    });
    back(ctx, { done: 'palms_deleted' }, '#tenants');
  });

  // Withdrawing consent ends palm use at that tenant: palm data erased first, then the withdrawal
  // (which deletes any reference a late enrolment wrote), as `palmid consent --withdraw` does.
  router.post('/tenants/:tenant/consent/withdraw', async (ctx) => {
    const person = await signedIn(ctx);
    if (!person) return;
    const tenantId = ctx.params.tenant!;
    const standing = await palmStandingAt(deps.db, person.id, tenantId);
    if (!standing.consented) return back(ctx, { error: 'invalid' }, '#tenants');
    const erased = standing.palms ? (await erasePalmDataAt(deps.bio, person.id, tenantId)).references : 0;
    await withdrawConsent(deps.db, person.id, tenantId);
    await recordSelfServiceRequest(deps.db, {
      personId: person.id,
      kind: 'withdrawal',
      tenantId,
      outcome: `consent withdrawn on the account page; ${erased} palm references erased`,
    });
    back(ctx, { done: 'consent_withdrawn' }, '#tenants');
  });

  router.post('/pin', async (ctx) => {
    const person = await signedIn(ctx);
    if (!person) return;
    const body = await readBody(ctx, deps.bodyLimitBytes);
    if (!(await strongEnough(ctx, person.id))) return back(ctx, { error: 'passkey_signin' }, '#pin');
    const overview = (await accountOverview(deps.db, person.id))!;
    const pin = typeof body.pin === 'string' ? body.pin : '';
    if (pin !== body.confirm) return back(ctx, { error: 'pin_mismatch' }, '#pin');
    if (overview.pinSet) {
      // The current PIN is a secret readers rely on: wrong guesses count towards the same limit
      // as at the readers (NIST SP 800-63B-4), and a right one clears it.
      const verdict = await reserveAttempt(deps.db, personSubject(person.id), LIMITS.pin);
      if (!verdict.allowed) return back(ctx, { error: 'pin_locked' }, '#pin');
      if (!(await verifyPin(deps.db, person.id, body.current))) return back(ctx, { error: 'pin_wrong' }, '#pin');
      await clearFailures(deps.db, personSubject(person.id));
    }
    await change(
      ctx,
      async () => {
        await setPin(deps.db, person.id, pin);
        await audit(deps.db, { action: overview.pinSet ? 'account.pin_changed' : 'account.pin_set', actor: person.id });
        return overview.pinSet ? 'pin_changed' : 'pin_set';
      },
      '#pin',
    );
  });

  router.post('/export', async (ctx) => {
    const person = await signedIn(ctx);
    if (!person) return;
    const data = await exportAccount(deps.db, person.id);
    await audit(deps.db, { action: 'account.exported', actor: person.id, subject: person.id });
    await recordSelfServiceRequest(deps.db, {
      personId: person.id,
      kind: 'export',
      outcome: 'downloaded from the account page',
    });
    ctx.type = 'application/json; charset=utf-8';
    ctx.set(
      'content-disposition',
      `attachment; filename="palmid-account-${new Date().toISOString().slice(0, 10)}.json"`,
    );
    ctx.body = JSON.stringify(data, null, 2);
  });

  router.post('/delete', async (ctx) => {
    const person = await signedIn(ctx);
    if (!person) return;
    const locale = pageLocale(ctx);
    const body = await readBody(ctx, deps.bodyLimitBytes);
    if (typeof body.confirm_email !== 'string' || normaliseEmail(body.confirm_email) !== person.email)
      return back(ctx, { error: 'confirm_email' }, '#delete');
    if (!(await strongEnough(ctx, person.id))) return back(ctx, { error: 'passkey_signin' }, '#delete');
    // Queued first: an erasure that fails half-way stays open in the operators' queue to be finished.
    const request = await openSubjectRequest(deps.db, {
      personId: person.id,
      kind: 'erasure',
      source: 'account',
      enteredBy: person.id,
    });
    let removed: Awaited<ReturnType<typeof removePersonAndData>>;
    try {
      removed = await removePersonAndData(deps.bio, person.id, { vault: vault(), actor: person.id });
    } catch (err) {
      if (err instanceof LastAdministratorError) {
        await closeSubjectRequest(deps.db, request.id, {
          status: 'refused',
          outcome: 'the last administrator cannot be erased',
          handledBy: person.id,
        });
        return back(ctx, { error: 'last_admin' }, '#delete');
      }
      throw err;
    }
    const receipt = await closeSubjectRequest(deps.db, request.id, {
      status: 'done',
      outcome: `account erased on the account page: ${removed.palmReferences} palm references (data key destroyed), ${removed.passkeys} passkeys, ${removed.consents} consents, ${removed.cards} cards`,
      handledBy: person.id,
    });
    clearPageSession(ctx, ACCOUNT_SESSION);
    clearAccountSignInMethod(ctx);
    const t = translator(locale);
    ctx.type = 'html';
    ctx.body = renderView('account-message', {
      locale,
      title: t('account:deleted.title'),
      message: t('account:deleted.message'),
      receipt: t('account:deleted.receipt', {
        id: receipt.request.id,
        date: formatDateTime(receipt.request.completedAt!, locale),
        hash: receipt.hash,
      }),
    });
  });

  return router;
}

/** The page's key for a refusal the person can act on; undefined for anything else (then thrown). */
function refusal(err: unknown): string | undefined {
  if (err instanceof PinError) return 'pin_invalid';
  if (err instanceof PersonInputError) return 'profile_invalid';
  if (err instanceof AccountError) return err.reason === 'not_found' ? 'invalid' : err.reason;
  return undefined;
}
