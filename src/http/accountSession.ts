/** The person signed in to their account page (ACCOUNT_SESSION, src/http/signedSession.ts). */
import type { Context } from 'koa';
import { findPersonById, type PersonRecord } from '../accounts/people.js';
import type { Database } from '../db/database.js';
import { ACCOUNT_SESSION, readPageSession } from './signedSession.js';

export async function currentAccountPerson(ctx: Context, db: Database): Promise<PersonRecord | null> {
  const id = readPageSession(ctx, ACCOUNT_SESSION);
  return id ? findPersonById(db, id) : null;
}
