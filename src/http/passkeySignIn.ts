/**
 * The passkey sign-in of a page session (the admin console, the enrolment station): POST
 * `/passkey/options` starts a ceremony tied to a short-lived cookie on the page's path, POST
 * `/passkey/verify` finishes it and hands the person to the page, which lets them in or refuses.
 */
import { randomBytes } from 'node:crypto';
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Database } from '../db/database.js';
import { finishAuthentication, startAuthentication } from '../webauthn/authentication.js';
import type { RelyingParty } from '../webauthn/relyingParty.js';
import { readBody } from './body.js';
import { HttpError } from './errors.js';

const CEREMONY_MS = 5 * 60 * 1000;

export interface PasskeySignIn {
  db: Database;
  rp: RelyingParty;
  bodyLimitBytes: number;
  /** The ceremony cookie: its name and the page's path. */
  cookie: string;
  path: string;
  /** Names the page's ceremonies apart from other pages' (`admin`, `station`). */
  purpose: string;
  /** Lets the signed-in person in (session, audit) and answers the JSON body; throws an HttpError to refuse. */
  admit(ctx: Context, personId: string): Promise<unknown>;
}

/** Adds the two routes of the ceremony to the page's router (its prefix is `path`). */
export function passkeySignInRoutes(router: Router, signIn: PasskeySignIn): void {
  const { db, rp, cookie, path, purpose } = signIn;

  router.post('/passkey/options', async (ctx) => {
    const ceremony = randomBytes(16).toString('base64url');
    ctx.cookies.set(cookie, ceremony, {
      httpOnly: true,
      sameSite: 'strict',
      path,
      maxAge: CEREMONY_MS,
      secure: ctx.secure,
    });
    ctx.set('cache-control', 'no-store');
    ctx.body = await startAuthentication(db, rp, `${purpose}:${ceremony}`);
  });

  router.post('/passkey/verify', async (ctx) => {
    const ceremony = ctx.cookies.get(cookie);
    if (!ceremony) throw new HttpError(400, 'invalid_request', 'The sign-in expired; try again.');
    const body = await readBody(ctx, signIn.bodyLimitBytes);
    const { personId } = await finishAuthentication(db, rp, `${purpose}:${ceremony}`, body);
    ctx.cookies.set(cookie, null, { path });
    ctx.body = await signIn.admit(ctx, personId);
  });
}
