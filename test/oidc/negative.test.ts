import * as jose from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvitation, invitationUrl } from '../../src/accounts/invitations.js';
import { hashClientSecret, verifyClientSecret } from '../../src/oidc/clientSecrets.js';
import { SoftAuthenticator } from '../support/authenticator.js';
import { UserAgent, registerPasskey, signInWithPasskey } from '../support/browserless.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';
import { discoverRp } from '../support/oidc.js';

const REDIRECT = 'http://127.0.0.1:9/cb';
const EVIL_ORIGIN = 'http://evil.example:1234';

/** An error body must carry a code and a message, never a stack trace or a source path. */
function expectNoStack(text: string) {
  expect(text).not.toMatch(/\n\s*at\s+\S/);
  expect(text).not.toMatch(/\bat (async )?[\w.<>]+ \(/);
  expect(text).not.toMatch(/node_modules|\/src\/|\/work\/|file:\/\/|\.[cm]?[jt]s:\d+/);
}

/** The OAuth error code of an openid-client failure (a JSON body or a WWW-Authenticate challenge). */
async function oauthError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    const e = err as { error?: string; cause?: Array<{ parameters?: { error?: string } }> };
    if (typeof e.error === 'string') return e.error;
    if (err instanceof oidc.WWWAuthenticateChallengeError) return String(e.cause?.[0]?.parameters?.error);
    throw err;
  }
  throw new Error('expected the request to be refused');
}

async function errorBody(response: Response): Promise<{ error: string; error_description?: string }> {
  const text = await response.text();
  expectNoStack(text);
  return JSON.parse(text) as { error: string; error_description?: string };
}

describe.each(databaseKinds)('refused requests ($name)', (kind) => {
  let server: TestServer;
  let origin: string;
  let authenticator: SoftAuthenticator;
  let rp: oidc.Configuration;
  let clientId: string;
  let clientSecret: string;
  let personId: string;

  beforeAll(async () => {
    server = await startTestServer(kind);
    origin = new URL(server.issuer).origin;
    authenticator = new SoftAuthenticator();
    const registered = await registerPasskey(new UserAgent(), server.setupLink!, authenticator, {
      email: 'ana@example.org',
      name: 'Ana',
    });
    expect(registered.status).toBe(200);
    personId = (await server.db.prisma.person.findUniqueOrThrow({ where: { email: 'ana@example.org' } })).id;
    const client = await server.addClient({ redirectUris: [REDIRECT] });
    clientId = client.client_id;
    clientSecret = client.client_secret!;
    rp = await discoverRp(server, { client_id: clientId, client_secret: clientSecret });
  });
  afterAll(async () => server?.stop());

  function configFor(id: string, secret?: string, method: 'basic' | 'none' = 'basic') {
    const config = new oidc.Configuration(
      rp.serverMetadata(),
      id,
      secret,
      method === 'none' ? oidc.None() : oidc.ClientSecretBasic(secret),
    );
    oidc.allowInsecureRequests(config);
    return config;
  }

  async function authorizationUrl(config = rp, extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid email offline_access',
      prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    });
    return { url: url.href, verifier };
  }

  async function login(config = rp, withAuthenticator = authenticator) {
    const { url, verifier } = await authorizationUrl(config);
    const { callbackUrl, refused } = await signInWithPasskey(new UserAgent(), url, withAuthenticator);
    expect(refused).toBeUndefined();
    const callback = new URL(callbackUrl);
    expect(callback.searchParams.get('code')).toBeTruthy();
    return { callbackUrl: callback, verifier };
  }

  /** Walks an authorization request up to the login page; returns the interaction uid. */
  async function openLoginPage(agent: UserAgent) {
    const { url } = await authorizationUrl();
    const { response, url: pageUrl } = await agent.follow(url, origin);
    expect(await response.text()).toContain('id="passkey"');
    return /\/interaction\/([^/?#]+)/.exec(pageUrl)![1]!;
  }

  async function newPerson(email: string, userVerified?: boolean) {
    const invitation = await createInvitation(server.db, { role: 'user', ttlSeconds: 600 });
    const auth = new SoftAuthenticator();
    const response = await registerPasskey(new UserAgent(), invitationUrl(server.issuer, invitation.token), auth, {
      email,
      userVerified,
    });
    return { auth, response, invitation };
  }

  describe('token endpoint', () => {
    it('refuses a wrong PKCE verifier with invalid_grant', async () => {
      const { callbackUrl } = await login();
      await expect(
        oidc.authorizationCodeGrant(rp, callbackUrl, { pkceCodeVerifier: oidc.randomPKCECodeVerifier() }),
      ).rejects.toMatchObject({ error: 'invalid_grant' });
    });

    it('refuses a replayed authorization code and revokes what its first use issued', async () => {
      const { callbackUrl, verifier } = await login();
      const tokens = await oidc.authorizationCodeGrant(rp, callbackUrl, { pkceCodeVerifier: verifier });
      expect(tokens.refresh_token).toBeTruthy();
      expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(true);

      await expect(oidc.authorizationCodeGrant(rp, callbackUrl, { pkceCodeVerifier: verifier })).rejects.toMatchObject({
        error: 'invalid_grant',
      });
      expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
      expect((await oidc.tokenIntrospection(rp, tokens.refresh_token!)).active).toBe(false);
      await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    });

    it('refuses a redirect_uri at /token that differs from the one of the authorization request', async () => {
      const { callbackUrl, verifier } = await login();
      const other = new URL(callbackUrl);
      other.pathname = '/other';
      await expect(oidc.authorizationCodeGrant(rp, other, { pkceCodeVerifier: verifier })).rejects.toMatchObject({
        error: 'invalid_grant',
      });
      // A code is consumed only by a successful exchange: with the right redirect_uri it still works.
      const tokens = await oidc.authorizationCodeGrant(rp, callbackUrl, { pkceCodeVerifier: verifier });
      expect(tokens.claims()!.sub).toBe(personId);
    });

    it('refuses an unknown client with invalid_client', async () => {
      expect(await oauthError(oidc.clientCredentialsGrant(configFor('no-such-client', 'whatever')))).toBe(
        'invalid_client',
      );
      const raw = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: 'x',
          redirect_uri: REDIRECT,
          client_id: 'no-such-client',
        }).toString(),
      });
      expect(raw.status).toBe(401);
      expect((await errorBody(raw)).error).toBe('invalid_client');
    });

    it('refuses a bad client secret, before and after the right one was verified (and cached)', async () => {
      const cc = await server.addClient({ name: 'Service', grantTypes: ['client_credentials'], redirectUris: [] });
      const wrong = `${cc.client_secret!.slice(0, -2)}xx`;
      expect(await oauthError(oidc.clientCredentialsGrant(configFor(cc.client_id, wrong)))).toBe('invalid_client');
      const good = await oidc.clientCredentialsGrant(configFor(cc.client_id, cc.client_secret));
      expect(good.access_token).toBeTruthy();
      // Now the right secret is in the verify cache: a wrong one must still fail.
      expect(await oauthError(oidc.clientCredentialsGrant(configFor(cc.client_id, wrong)))).toBe('invalid_client');
      expect(await oauthError(oidc.clientCredentialsGrant(configFor(cc.client_id, 'short')))).toBe('invalid_client');
      // The secret of one client does not open another.
      expect(await oauthError(oidc.clientCredentialsGrant(configFor(cc.client_id, clientSecret)))).toBe(
        'invalid_client',
      );
      expect((await oidc.clientCredentialsGrant(configFor(cc.client_id, cc.client_secret))).access_token).toBeTruthy();
    });

    it('verifyClientSecret: the cache never accepts a wrong secret after a right one', async () => {
      const hash = await hashClientSecret('right-secret');
      expect(hash.startsWith('$argon2id$')).toBe(true);
      expect(await verifyClientSecret(hash, 'wrong-secret')).toBe(false);
      expect(await verifyClientSecret(hash, 'right-secret')).toBe(true);
      expect(await verifyClientSecret(hash, 'right-secret')).toBe(true); // from the cache
      expect(await verifyClientSecret(hash, 'wrong-secret')).toBe(false);
      expect(await verifyClientSecret(hash, 'right-secreT')).toBe(false);
      expect(await verifyClientSecret(hash, '')).toBe(false);
      expect(await verifyClientSecret(hash, 'x'.repeat(600))).toBe(false);
      // Another hash of the same secret is verified on its own (the cache is per hash).
      const other = await hashClientSecret('other-secret');
      expect(await verifyClientSecret(other, 'right-secret')).toBe(false);
      expect(await verifyClientSecret(other, 'other-secret')).toBe(true);
    });
  });

  describe('authorization endpoint', () => {
    it('does not redirect to a redirect_uri that is not registered', async () => {
      const { url } = await authorizationUrl(rp, { redirect_uri: 'http://evil.example:1234/cb' });
      const response = await fetch(url, { redirect: 'manual' });
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      const html = await response.text();
      expect(html).toContain('redirect_uri');
      expect(html).not.toContain('evil.example:1234/cb?');
      expectNoStack(html);
    });

    it('refuses an unknown client with invalid_client (an error page, no redirect)', async () => {
      const url = new URL(`${server.issuer}/auth`);
      url.search = new URLSearchParams({
        client_id: 'no-such-client',
        redirect_uri: REDIRECT,
        response_type: 'code',
        scope: 'openid',
      }).toString();
      const response = await fetch(url, { redirect: 'manual' });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.headers.get('location')).toBeNull();
      const html = await response.text();
      expect(html).toContain('invalid_client');
      expectNoStack(html);
    });

    it('refuses a public client without PKCE: invalid_request, code_challenge required', async () => {
      const pub = await server.addClient({ name: 'SPA', authMethod: 'none', grantTypes: ['authorization_code'] });
      expect(pub.client_secret).toBeUndefined();
      const config = configFor(pub.client_id, undefined, 'none');
      const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid' });
      const { url: landed } = await new UserAgent().follow(url.href, origin);
      const callback = new URL(landed);
      expect(callback.origin + callback.pathname).toBe(REDIRECT);
      expect(callback.searchParams.get('code')).toBeNull();
      expect(callback.searchParams.get('error')).toBe('invalid_request');
      expect(callback.searchParams.get('error_description')).toMatch(/PKCE|code_challenge/);
      // With PKCE the same client gets through.
      const verifier = oidc.randomPKCECodeVerifier();
      const ok = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const { callbackUrl } = await signInWithPasskey(new UserAgent(), ok.href, authenticator);
      const tokens = await oidc.authorizationCodeGrant(config, new URL(callbackUrl), { pkceCodeVerifier: verifier });
      expect(tokens.claims()!.sub).toBe(personId);
    });
  });

  describe('ID tokens', () => {
    it('a tampered ID token fails signature verification against the JWKS', async () => {
      const { callbackUrl, verifier } = await login();
      const tokens = await oidc.authorizationCodeGrant(rp, callbackUrl, { pkceCodeVerifier: verifier });
      const idToken = tokens.id_token!;
      const jwks = jose.createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri!));
      const { payload } = await jose.jwtVerify(idToken, jwks, { issuer: server.issuer, audience: clientId });
      expect(payload.sub).toBe(personId);

      const [header, body, signature] = idToken.split('.') as [string, string, string];
      const forgedBody = jose.base64url.encode(JSON.stringify({ ...payload, sub: 'someone-else' }));
      await expect(jose.jwtVerify(`${header}.${forgedBody}.${signature}`, jwks)).rejects.toBeInstanceOf(
        jose.errors.JWSSignatureVerificationFailed,
      );

      // One flipped byte of the payload (re-encoded so it still decodes).
      const bytes = Buffer.from(body, 'base64url');
      const at = bytes.indexOf(Buffer.from(personId)) + 2;
      bytes[at] = bytes[at] === 0x61 ? 0x62 : 0x61;
      await expect(
        jose.jwtVerify(`${header}.${bytes.toString('base64url')}.${signature}`, jwks),
      ).rejects.toBeInstanceOf(jose.errors.JWSSignatureVerificationFailed);
      // And a flipped byte of the signature.
      const sig = Buffer.from(signature, 'base64url');
      sig[5] = sig[5]! ^ 0x01;
      await expect(jose.jwtVerify(`${header}.${body}.${sig.toString('base64url')}`, jwks)).rejects.toBeInstanceOf(
        jose.errors.JWSSignatureVerificationFailed,
      );
    });

    it('openid-client (non-repudiation checks) rejects an ID token tampered in transit', async () => {
      const tampering = configFor(clientId, clientSecret);
      oidc.enableNonRepudiationChecks(tampering);
      tampering[oidc.customFetch] = async (url, options) => {
        const response = await fetch(url, options as RequestInit);
        if (!url.endsWith('/token') || !response.ok) return response;
        const json = (await response.json()) as { id_token: string };
        const [h, b, s] = json.id_token.split('.') as [string, string, string];
        const claims = JSON.parse(Buffer.from(b, 'base64url').toString()) as Record<string, unknown>;
        json.id_token = `${h}.${jose.base64url.encode(JSON.stringify({ ...claims, sub: 'mallory' }))}.${s}`;
        return new Response(JSON.stringify(json), {
          status: response.status,
          headers: { 'content-type': 'application/json' },
        });
      };
      const { callbackUrl, verifier } = await login(tampering);
      await expect(
        oidc.authorizationCodeGrant(tampering, callbackUrl, { pkceCodeVerifier: verifier }),
      ).rejects.toSatisfy(
        (err: Error) =>
          err instanceof oidc.ClientError &&
          /signature verification failed/i.test(String((err.cause as Error | undefined)?.message)),
      );
    });
  });

  describe('passkeys', () => {
    it('refuses a passkey assertion made for another origin, and no session is created', async () => {
      const agent = new UserAgent();
      const { url } = await authorizationUrl();
      const { refused } = await signInWithPasskey(agent, url, authenticator, { origin: EVIL_ORIGIN });
      expect(refused?.status).toBe(401);
      expect((await errorBody(refused!)).error).toBe('passkey_rejected');
      const rejected = await server.db.prisma.auditEvent.findMany({
        where: { action: 'passkey.rejected', subject: personId },
      });
      expect(rejected.some((e) => /origin/i.test(JSON.stringify(e.detail)))).toBe(true);
      // Still not signed in: a new request lands on the login page again.
      const again = await agent.follow((await authorizationUrl()).url, origin);
      expect(await again.response.text()).toContain('id="passkey"');
    });

    it('refuses sign-in without user verification', async () => {
      const { url } = await authorizationUrl();
      const { refused } = await signInWithPasskey(new UserAgent(), url, authenticator, { userVerified: false });
      expect(refused?.status).toBe(401);
      expect((await errorBody(refused!)).error).toBe('passkey_rejected');
    });

    it('refuses registration without user verification (nobody is created, the invitation stays usable)', async () => {
      const { response, invitation } = await newPerson('no-uv@example.org', false);
      expect(response.status).toBe(401);
      expect((await errorBody(response)).error).toBe('passkey_rejected');
      expect(await server.db.prisma.person.findUnique({ where: { email: 'no-uv@example.org' } })).toBeNull();
      expect((await server.db.prisma.invitation.findUniqueOrThrow({ where: { id: invitation.id } })).usedAt).toBeNull();
    });

    it('refuses registration from another origin', async () => {
      const invitation = await createInvitation(server.db, { role: 'user', ttlSeconds: 600 });
      const response = await registerPasskey(
        new UserAgent(),
        invitationUrl(server.issuer, invitation.token),
        new SoftAuthenticator(),
        {
          email: 'evil@example.org',
          origin: EVIL_ORIGIN,
        },
      );
      expect(response.status).toBe(401);
      expect((await errorBody(response)).error).toBe('passkey_rejected');
    });

    it('refuses a sign counter that goes backwards', async () => {
      const { auth, response } = await newPerson('counter@example.org');
      expect(response.status).toBe(200);
      const first = await signInWithPasskey(new UserAgent(), (await authorizationUrl()).url, auth, { signCount: 5 });
      expect(first.refused).toBeUndefined();
      const passkey = await server.db.prisma.passkey.findFirstOrThrow({
        where: { person: { email: 'counter@example.org' } },
      });
      expect(passkey.signCount).toBe(5n);
      for (const signCount of [3, 5]) {
        const { refused } = await signInWithPasskey(new UserAgent(), (await authorizationUrl()).url, auth, {
          signCount,
        });
        expect(refused?.status).toBe(401);
        expect((await errorBody(refused!)).error).toBe('passkey_rejected');
      }
      expect((await server.db.prisma.passkey.findUniqueOrThrow({ where: { id: passkey.id } })).signCount).toBe(5n);
      expect(
        (await signInWithPasskey(new UserAgent(), (await authorizationUrl()).url, auth, { signCount: 6 })).refused,
      ).toBeUndefined();
    });

    it('refuses a passkey that is not registered here', async () => {
      const stranger = new SoftAuthenticator();
      stranger.create({ challenge: 'AAAA', rp: { id: 'localhost' }, user: { id: 'dXNlcg' } }, origin);
      const { refused } = await signInWithPasskey(new UserAgent(), (await authorizationUrl()).url, stranger);
      expect(refused?.status).toBe(401);
      expect((await errorBody(refused!)).error).toBe('unknown_passkey');
    });

    it('a WebAuthn challenge cannot be used twice', async () => {
      const agent = new UserAgent();
      const uid = await openLoginPage(agent);
      const options = (await (
        await agent.fetch(`${origin}/interaction/${uid}/passkey/options`, { method: 'POST' })
      ).json()) as { challenge: string };
      const assertion = authenticator.get(options, origin);
      const first = await agent.postJson(`${origin}/interaction/${uid}/passkey/verify`, assertion);
      expect(first.status).toBe(200);
      // The same assertion again, on the same interaction: its challenge is gone.
      const replay = await agent.postJson(`${origin}/interaction/${uid}/passkey/verify`, assertion);
      expect(replay.status).toBe(400);
      expect((await errorBody(replay)).error).toBe('invalid_request');
      // And on a fresh interaction, with a fresh challenge, from another browser.
      const other = new UserAgent();
      const uid2 = await openLoginPage(other);
      expect((await other.fetch(`${origin}/interaction/${uid2}/passkey/options`, { method: 'POST' })).status).toBe(200);
      const replay2 = await other.postJson(`${origin}/interaction/${uid2}/passkey/verify`, assertion);
      expect(replay2.status).toBe(401);
      expect((await errorBody(replay2)).error).toBe('passkey_rejected');
    });

    it('a registration challenge cannot be used twice', async () => {
      const invitation = await createInvitation(server.db, { role: 'user', ttlSeconds: 600 });
      const link = invitationUrl(server.issuer, invitation.token);
      const agent = new UserAgent();
      const start = (await (await agent.postJson(`${link}/options`, { email: 'twice@example.org' })).json()) as {
        ceremony: string;
        publicKey: Parameters<SoftAuthenticator['create']>[0];
      };
      const response = new SoftAuthenticator().create(start.publicKey, origin);
      expect((await agent.postJson(`${link}/verify`, { ceremony: start.ceremony, response })).status).toBe(200);
      const replay = await agent.postJson(`${link}/verify`, { ceremony: start.ceremony, response });
      expect(replay.status).toBe(410); // the invitation is used now
      expect((await errorBody(replay)).error).toBe('invalid_invitation');
    });
  });

  describe('invitations', () => {
    it('refuses a used invitation with 410 invalid_invitation', async () => {
      const page = await fetch(server.setupLink!, { headers: { accept: 'application/json' } });
      expect(page.status).toBe(410);
      expect((await errorBody(page)).error).toBe('invalid_invitation');
      const start = await new UserAgent().postJson(`${server.setupLink}/options`, { email: 'late@example.org' });
      expect(start.status).toBe(410);
      expect((await errorBody(start)).error).toBe('invalid_invitation');
    });

    it('refuses an expired invitation with 410 invalid_invitation', async () => {
      const invitation = await createInvitation(server.db, { role: 'user', ttlSeconds: 600 });
      const link = invitationUrl(server.issuer, invitation.token);
      await server.db.prisma.invitation.update({
        where: { id: invitation.id },
        data: { expiresAt: new Date(Date.now() - 1000) },
      });
      const response = await registerPasskey(new UserAgent(), link, new SoftAuthenticator(), {
        email: 'expired@example.org',
      });
      expect(response.status).toBe(410);
      expect((await errorBody(response)).error).toBe('invalid_invitation');
      expect((await fetch(link)).status).toBe(410);
    });

    it('refuses to finish a registration whose invitation expired after it started', async () => {
      const invitation = await createInvitation(server.db, { role: 'user', ttlSeconds: 600 });
      const link = invitationUrl(server.issuer, invitation.token);
      const agent = new UserAgent();
      const start = (await (await agent.postJson(`${link}/options`, { email: 'slow@example.org' })).json()) as {
        ceremony: string;
        publicKey: Parameters<SoftAuthenticator['create']>[0];
      };
      await server.db.prisma.invitation.update({
        where: { id: invitation.id },
        data: { expiresAt: new Date(Date.now() - 1000) },
      });
      const response = await agent.postJson(`${link}/verify`, {
        ceremony: start.ceremony,
        response: new SoftAuthenticator().create(start.publicKey, origin),
      });
      expect(response.status).toBe(410);
      expect(await server.db.prisma.person.findUnique({ where: { email: 'slow@example.org' } })).toBeNull();
    });
  });

  describe('request bodies and error pages', () => {
    const token = 'A'.repeat(43);

    it('answers an oversized body with 413 invalid_request', async () => {
      const big = JSON.stringify({ email: 'a@example.org', pad: 'x'.repeat(70 * 1024) });
      const response = await fetch(`${server.url}/invite/${token}/options`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: big,
      });
      expect(response.status).toBe(413);
      expect((await errorBody(response)).error).toBe('invalid_request');

      // Without a content-length (chunked), the limit is enforced while reading.
      const chunked = await fetch(`${server.url}/invite/${token}/options`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(big));
            controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      expect(chunked.status).toBe(413);
      expect((await errorBody(chunked)).error).toBe('invalid_request');

      const tokenEndpoint = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=client_credentials&pad=${'x'.repeat(70 * 1024)}`,
      });
      expect(tokenEndpoint.status).toBe(413);
      expect((await errorBody(tokenEndpoint)).error).toBe('invalid_request');
    });

    it('answers malformed JSON with 400 invalid_request', async () => {
      for (const body of ['{"email": ', '[1,2]', '"just a string"']) {
        const response = await fetch(`${server.url}/invite/${token}/options`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        expect(response.status).toBe(400);
        expect((await errorBody(response)).error).toBe('invalid_request');
      }
      const agent = new UserAgent();
      const uid = await openLoginPage(agent);
      const response = await agent.fetch(`${origin}/interaction/${uid}/passkey/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{not json',
      });
      expect(response.status).toBe(400);
      expect((await errorBody(response)).error).toBe('invalid_request');
    });

    it('never puts a stack trace in an error response', async () => {
      const responses = [
        await fetch(`${server.url}/interaction/nope/passkey/verify`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        }),
        await fetch(`${server.url}/interaction/nope`),
        await fetch(`${server.url}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=nope',
        }),
        await fetch(`${server.url}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{bad',
        }),
        await fetch(
          `${server.url}/auth?client_id=${clientId}&response_type=code&redirect_uri=${encodeURIComponent(REDIRECT)}&scope=openid&code_challenge=short&code_challenge_method=S256`,
          { redirect: 'manual' },
        ),
        await fetch(`${server.url}/me`, { headers: { authorization: 'Bearer nonsense' } }),
        await fetch(`${server.url}/invite/${'%'}`),
      ];
      for (const response of responses) {
        expect(response.status).toBeGreaterThanOrEqual(300);
        expectNoStack(await response.text());
        const location = response.headers.get('location');
        if (location) expectNoStack(decodeURIComponent(location));
      }
    });
  });
});
