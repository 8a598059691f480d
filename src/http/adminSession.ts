/** The admin console's session (src/http/signedSession.ts): 30 minutes, cookie path /admin. */
import type { Context } from 'koa';
import { ADMIN_SESSION, clearPageSession, readPageSession, setPageSession } from './signedSession.js';

export const ADMIN_SESSION_SECONDS = ADMIN_SESSION.seconds;

export function setAdminSession(ctx: Context, personId: string): void {
  setPageSession(ctx, ADMIN_SESSION, personId);
}

export function readAdminSession(ctx: Context): string | undefined {
  return readPageSession(ctx, ADMIN_SESSION);
}

export function clearAdminSession(ctx: Context): void {
  clearPageSession(ctx, ADMIN_SESSION);
}
