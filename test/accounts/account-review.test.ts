/**
 * The account page's sign-in against the tricks a person at the same browser (or one holding
 * their own signed cookies) could try: an authorization request edited to drop prompt=login (the
 * provider's lingering session must not open the page), and a step-up cookie from another
 * sign-in carried over to a palm sign-in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportAccount } from '../../src/accounts/accountData.js';
import { createInvitation, invitationUrl } from '../../src/accounts/invitations.js';
import { createPerson } from '../../src/accounts/people.js';
import { audit } from '../../src/audit/audit.js';
import { SoftAuthenticator } from '../support/authenticator.js';
import { registerPasskey, UserAgent } from '../support/browserless.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

/** The cookies a UserAgent holds (test/support/browserless.ts keeps them private). */
const jar = (agent: UserAgent) => (agent as unknown as { cookies: Map<string, string> }).cookies;

describe('account page sign-in, attacked', () => {
  let server: TestServer;
  const anaKey = new SoftAuthenticator();
  const boKey = new SoftAuthenticator();
  let anaId: string;

  beforeAll(async () => {
    server = await startTestServer(databaseKinds[0]!);
    for (const [email, key] of [
      ['ana@example.org', anaKey],
      ['bo@example.org', boKey],
    ] as const) {
      const person = await createPerson(server.db, { email, role: 'user' });
      if (email.startsWith('ana')) anaId = person.id;
      const invitation = await createInvitation(server.db, { email, role: 'user', ttlSeconds: 600 });
      const registered = await registerPasskey(new UserAgent(), invitationUrl(server.issuer, invitation.token), key, {
        email,
      });
      expect(registered.status).toBe(200);
    }
  }, 60_000);
  afterAll(async () => server?.stop());

  /** Signs in to /account with a passkey; the agent then holds the account and provider sessions. */
  async function passkeySignIn(agent: UserAgent, key: SoftAuthenticator) {
    const origin = server.issuer;
    const { url } = await agent.follow(`${origin}/account`, origin);
    const uid = /\/interaction\/([^/?]+)/.exec(url)![1]!;
    const options = await agent.fetch(`${origin}/interaction/${uid}/passkey/options`, { method: 'POST' });
    const assertion = key.get((await options.json()) as { challenge: string }, origin);
    const verify = await agent.postJson(`${origin}/interaction/${uid}/passkey/verify`, assertion);
    const { redirectTo } = (await verify.json()) as { redirectTo: string };
    const done = await agent.follow(redirectTo, origin);
    expect(new URL(done.url).pathname).toBe('/account');
    expect(done.response.status).toBe(200);
  }

  it('needs a fresh sign-in even when the authorization request is edited to drop prompt=login', async () => {
    const agent = new UserAgent();
    await passkeySignIn(agent, anaKey);
    const signOut = await agent.fetch(`${server.issuer}/account/logout`, {
      method: 'POST',
      headers: { origin: server.issuer },
    });
    expect(signOut.status).toBe(200);
    // The next person at this browser: the page asks for a sign-in; they drop prompt=login.
    const start = await agent.fetch(`${server.issuer}/account`);
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get('location')!);
    authorize.searchParams.delete('prompt');
    const { response, url } = await agent.follow(authorize.href, server.issuer);
    // The provider asks for a sign-in all the same: its open session does not open the page.
    expect(url).toMatch(/\/interaction\/[^/]+$/);
    expect(await response.text()).toContain('id="passkey"');
    expect(jar(agent).has('palmid_account')).toBe(false);
    expect(await server.db.prisma.auditEvent.count({ where: { action: 'account.signin', actor: anaId } })).toBe(1);
  });

  it('leaves no provider session behind: signing out of the page signs the browser out', async () => {
    const agent = new UserAgent();
    await passkeySignIn(agent, anaKey);
    const sessions = await server.db.prisma.oidcPayload.count({
      where: { type: 'Session', payload: { path: ['accountId'], equals: anaId } },
    });
    expect(sessions).toBe(0);
  });

  it('exports what the person did to others without naming them or their details', async () => {
    const bo = await server.db.prisma.person.findUniqueOrThrow({ where: { email: 'bo@example.org' } });
    await audit(server.db, {
      action: 'station.card_linked',
      actor: anaId,
      subject: bo.id,
      detail: { tenant: 'office', brand: 'visa', last4: '4242' },
    });
    await audit(server.db, { action: 'invitation.created', actor: anaId, subject: 'inv-1', detail: { person: bo.id } });
    await audit(server.db, { action: 'card.linked', actor: anaId, subject: 'card-1', detail: { last4: '1881' } });
    const text = JSON.stringify(await exportAccount(server.db, anaId));
    expect(text).not.toContain(bo.id);
    expect(text).not.toContain('4242');
    expect(text).toContain('station.card_linked');
    expect(text).toContain('1881'); // her own card stays
  });

  it('does not carry a passkey sign-in’s step-up over to another person’s session', async () => {
    // Bo signs in with his passkey; Ana then signs in (here by passkey, the point is the cookie).
    const bo = new UserAgent();
    await passkeySignIn(bo, boKey);
    const boStepUp = jar(bo).get('palmid_account_acr')!;
    const boStepUpSig = jar(bo).get('palmid_account_acr.sig')!;
    expect(boStepUp).toBeTruthy();

    const ana = new UserAgent();
    await passkeySignIn(ana, anaKey);
    // Pretend Ana's session came from a palm sign-in: drop its step-up, then put Bo's in its place.
    jar(ana).set('palmid_account_acr', boStepUp);
    jar(ana).set('palmid_account_acr.sig', boStepUpSig);
    const options = await ana.fetch(`${server.issuer}/account/passkeys/options`, {
      method: 'POST',
      headers: { origin: server.issuer },
    });
    expect(options.status).toBe(403);
    const page = await (await ana.fetch(`${server.issuer}/account`)).text();
    expect(page).toContain('ana@example.org');
  });
});
