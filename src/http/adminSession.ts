/**
 * The admin console's own session: a signed, HttpOnly, SameSite=Strict cookie naming the person,
 * with an expiry. It is separate from oidc-provider's session on purpose: signing in to a
 * relying party must not open the console.
 */
import type { Context } from 'koa';

const COOKIE = 'palmid_admin';
export const ADMIN_SESSION_SECONDS = 30 * 60;

export function setAdminSession(ctx: Context, personId: string): void {
  const expires = Math.floor(Date.now() / 1000) + ADMIN_SESSION_SECONDS;
  ctx.cookies.set(COOKIE, `${personId}.${expires}`, {
    signed: true,
    httpOnly: true,
    sameSite: 'strict',
    secure: ctx.secure,
    path: '/admin',
    maxAge: ADMIN_SESSION_SECONDS * 1000,
    overwrite: true,
  });
}

export function readAdminSession(ctx: Context): string | undefined {
  const value = ctx.cookies.get(COOKIE, { signed: true });
  if (!value) return undefined;
  const dot = value.lastIndexOf('.');
  const expires = Number(value.slice(dot + 1));
  if (dot <= 0 || !Number.isFinite(expires) || expires * 1000 <= Date.now()) return undefined;
  return value.slice(0, dot);
}

export function clearAdminSession(ctx: Context): void {
  ctx.cookies.set(COOKIE, null, { path: '/admin', overwrite: true });
}
