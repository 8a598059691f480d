/** The person signed in to their account page (ACCOUNT_SESSION, src/http/signedSession.ts). */
import type { Context } from 'koa';
import { countPasskeys, findPersonById, type PersonRecord } from '../accounts/people.js';
import { ACR_PASSKEY } from '../acr.js';
import type { Database } from '../db/database.js';
import { ACCOUNT_SESSION, readPageSession } from './signedSession.js';

export async function currentAccountPerson(ctx: Context, db: Database): Promise<PersonRecord | null> {
  const id = readPageSession(ctx, ACCOUNT_SESSION);
  return id ? findPersonById(db, id) : null;
}

/**
 * How the account session was opened (its acr), beside ACCOUNT_SESSION and as long. Its value
 * names the person and its expiry: a signed cookie from another sign-in (another person's passkey
 * session, kept by whoever holds that browser) must not step up a palm session.
 */
const METHOD_COOKIE = 'palmid_account_acr';

export function setAccountSignInMethod(ctx: Context, personId: string, acr: string | undefined): void {
  const expires = Math.floor(Date.now() / 1000) + ACCOUNT_SESSION.seconds;
  ctx.cookies.set(METHOD_COOKIE, `${personId}|${expires}|${acr ?? ''}`, {
    signed: true,
    httpOnly: true,
    sameSite: 'strict',
    secure: ctx.secure,
    path: ACCOUNT_SESSION.path,
    maxAge: ACCOUNT_SESSION.seconds * 1000,
    overwrite: true,
  });
}

/**
 * The acr of this person's account sign-in (src/acr.ts: ACR_PASSKEY for a passkey); undefined
 * when the cookie is another person's, expired or altered. Pages that let a sign-in add a way in
 * (a passkey, a palm) check it: a palm is found among many people, and a false match must not
 * be able to take the account over.
 */
export function accountSignInMethod(ctx: Context, personId: string): string | undefined {
  const [who, expires, acr] = ctx.cookies.get(METHOD_COOKIE, { signed: true })?.split('|') ?? [];
  if (who !== personId || !(Number(expires) * 1000 > Date.now())) return undefined;
  return acr || undefined;
}

export function clearAccountSignInMethod(ctx: Context): void {
  ctx.cookies.set(METHOD_COOKIE, null, { path: ACCOUNT_SESSION.path, overwrite: true });
}

/**
 * Whether this sign-in may change how the person is recognised (add a passkey, enrol a palm, set
 * the PIN, delete the account): a passkey sign-in, or any sign-in for someone without a passkey.
 * A palm sign-in is a 1:N match, which can be someone else's palm: it must not let that someone
 * enrol their own palm or passkey into an account its owner protects with a passkey.
 */
export async function mayChangeRecognition(ctx: Context, db: Database, personId: string): Promise<boolean> {
  if (accountSignInMethod(ctx, personId) === ACR_PASSKEY) return true;
  return (await countPasskeys(db, personId)) === 0;
}
