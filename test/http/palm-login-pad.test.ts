/**
 * The browser palm login sends one frame per request, so it cannot show liveness (src/palm/pad):
 * a client registered with palmid_require_pad gets 403 access_denied before any frame is read;
 * other clients keep signing in with amr ["palm"] (test/http/palm-login.test.ts).
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenant } from '../../src/accounts/tenants.js';
import { UserAgent } from '../support/browserless.js';
import { discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

describe.each(databaseKinds)('browser palm login for a client that requires PAD ($name)', (kind) => {
  let server: TestServer;
  const redirectUri = 'http://127.0.0.1:9/cb';

  beforeAll(async () => {
    server = await startTestServer(kind);
    await addTenant(server.db, { id: 'office', name: 'Office' });
  }, 120_000);
  afterAll(async () => server?.stop());

  async function palmFrameStatus(client: { client_id: string; client_secret: string | undefined }) {
    const rp = await discoverRp(server, client);
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const agent = new UserAgent();
    const { response, url: page } = await agent.follow(url.href, server.issuer);
    const html = await response.text();
    const uid = /\/interaction\/([^/?#]+)$/.exec(page)![1]!;
    const res = await agent.fetch(`${server.issuer}/interaction/${uid}/palm`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      // not even a picture: the refusal comes before the frame is read
      body: new Uint8Array([0xff, 0xd8, 0xff, 0xd9]),
    });
    return {
      offered: html.includes('id="palm"'),
      status: res.status,
      body: (await res.json()) as { error?: string; error_description?: string },
    };
  }

  it('refuses palm sign-in without liveness for that client only', async () => {
    const strict = await server.addClient({
      name: 'Bank',
      redirectUris: [redirectUri],
      tenant: 'office',
      requirePad: true,
    });
    const refused = await palmFrameStatus(strict);
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(refused.body.error).toBe('access_denied');
    expect(refused.body.error_description).toMatch(/liveness/);
    expect(refused.offered).toBe(false); // the login page does not offer it either
    // a client without the setting reads the frame (and refuses it as a picture, not for PAD)
    const plain = await server.addClient({ name: 'Portal', redirectUris: [redirectUri], tenant: 'office' });
    const read = await palmFrameStatus(plain);
    expect(read.body.error).not.toBe('access_denied');
    expect(read.offered).toBe(true);
  }, 60_000);
});
