/**
 * palmid's own page sessions (the admin console, the enrolment station, the account page): a
 * signed, HttpOnly, SameSite=Strict cookie naming the person, with an expiry, scoped to the pages'
 * path. Each is separate from oidc-provider's session on purpose: signing in to a relying party
 * opens none of them.
 */
import type { Context } from 'koa';

export interface PageSession {
  cookie: string;
  path: string;
  seconds: number;
}

export const ADMIN_SESSION: PageSession = { cookie: 'palmid_admin', path: '/admin', seconds: 30 * 60 };
/** A station is staffed for a shift, but left alone it should not stay open: one hour. */
export const STATION_SESSION: PageSession = { cookie: 'palmid_station', path: '/enrol', seconds: 60 * 60 };
export const ACCOUNT_SESSION: PageSession = { cookie: 'palmid_account', path: '/account', seconds: 15 * 60 };

export function setPageSession(ctx: Context, session: PageSession, personId: string): void {
  const expires = Math.floor(Date.now() / 1000) + session.seconds;
  ctx.cookies.set(session.cookie, `${personId}.${expires}`, {
    signed: true,
    httpOnly: true,
    sameSite: 'strict',
    secure: ctx.secure,
    path: session.path,
    maxAge: session.seconds * 1000,
    overwrite: true,
  });
}

/** The person the session names, or undefined when there is none, it was altered or it expired. */
export function readPageSession(ctx: Context, session: PageSession): string | undefined {
  const value = ctx.cookies.get(session.cookie, { signed: true });
  if (!value) return undefined;
  const dot = value.lastIndexOf('.');
  const expires = Number(value.slice(dot + 1));
  if (dot <= 0 || !Number.isFinite(expires) || expires * 1000 <= Date.now()) return undefined;
  return value.slice(0, dot);
}

export function clearPageSession(ctx: Context, session: PageSession): void {
  ctx.cookies.set(session.cookie, null, { path: session.path, overwrite: true });
}
