import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRedeemableInvitation } from '../../src/accounts/invitations.js';
import { SoftAuthenticator } from '../support/authenticator.js';
import { UserAgent, registerPasskey } from '../support/browserless.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

async function adminSignIn(server: TestServer, agent: UserAgent, authenticator: SoftAuthenticator) {
  const origin = new URL(server.issuer).origin;
  const options = await agent.fetch(`${server.issuer}/admin/passkey/options`, { method: 'POST', headers: { origin } });
  expect(options.status).toBe(200);
  const assertion = authenticator.get((await options.json()) as { challenge: string }, origin);
  return agent.fetch(`${server.issuer}/admin/passkey/verify`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: JSON.stringify(assertion),
  });
}

describe('admin console', () => {
  const kind = databaseKinds[0]!;
  let server: TestServer;
  const adminKey = new SoftAuthenticator();

  beforeAll(async () => {
    server = await startTestServer(kind);
    expect(
      (await registerPasskey(new UserAgent(), server.setupLink!, adminKey, { email: 'root@example.org' })).status,
    ).toBe(200);
  });
  afterAll(async () => server?.stop());

  it('shows only the sign-in button without a session', async () => {
    const page = await new UserAgent().fetch(`${server.issuer}/admin`);
    const html = await page.text();
    expect(html).toContain('id="passkey"');
    expect(html).not.toContain('id="invite"');
  });

  it('lets an administrator create an invitation that works once', async () => {
    const agent = new UserAgent();
    const verify = await adminSignIn(server, agent, adminKey);
    expect(verify.status).toBe(200);
    expect(await verify.json()).toEqual({ redirectTo: '/admin' });
    const page = await agent.fetch(`${server.issuer}/admin`);
    expect(await page.text()).toContain('root@example.org');

    const origin = new URL(server.issuer).origin;
    const created = await agent.fetch(`${server.issuer}/admin/invitations`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'email=bea%40example.org&role=user',
    });
    expect(created.status).toBe(200);
    const link = /<output id="invite-link">([^<]+)<\/output>/.exec(await created.text())![1]!;
    const token = link.split('/invite/')[1]!;
    expect(await findRedeemableInvitation(server.db, token)).toMatchObject({
      email: 'bea@example.org',
      role: 'user',
    });

    const bea = new SoftAuthenticator();
    expect((await registerPasskey(new UserAgent(), link, bea, { email: 'ignored@example.org' })).status).toBe(200);
    expect(await server.db.prisma.person.findUnique({ where: { email: 'bea@example.org' } })).toMatchObject({
      role: 'user',
    });
    expect(await findRedeemableInvitation(server.db, token)).toBeNull();

    // A second link for Bea, who has a passkey now, would let its holder into her account: only with the checkbox.
    const again = (body: string) =>
      agent.fetch(`${server.issuer}/admin/invitations`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    const refusedLink = await again('email=bea%40example.org&role=user');
    expect(refusedLink.status).toBe(400);
    expect(await refusedLink.text()).toMatch(/already has an account/);
    const added = await again('email=bea%40example.org&role=user&add_passkey=on');
    expect(added.status).toBe(200);
    expect(await added.text()).toMatch(/<output id="invite-link">[^<]+<\/output>/);

    // A person who is not an administrator cannot open the console.
    const refused = await adminSignIn(server, new UserAgent(), bea);
    expect(refused.status).toBe(403);
  });

  it('refuses writes from another origin and without a session', async () => {
    const agent = new UserAgent();
    await adminSignIn(server, agent, adminKey);
    const crossSite = await agent.fetch(`${server.issuer}/admin/invitations`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'role=admin',
    });
    expect(crossSite.status).toBe(403);
    const anonymous = await new UserAgent().fetch(`${server.issuer}/admin/invitations`, {
      method: 'POST',
      headers: { origin: new URL(server.issuer).origin, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'role=admin',
    });
    expect(anonymous.status).toBe(401);
    expect(await server.db.prisma.invitation.count({ where: { role: 'admin', createdById: { not: null } } })).toBe(0);
  });
});
