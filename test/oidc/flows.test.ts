import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftAuthenticator } from '../support/authenticator.js';
import { UserAgent, registerPasskey, signInWithPasskey } from '../support/browserless.js';
import { codeFlowTokens, discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const REDIRECT = 'http://127.0.0.1:9/cb';
const LOGOUT_REDIRECT = 'http://127.0.0.1:9/bye';

describe.each(databaseKinds)('OpenID Connect flows with openid-client ($name)', (kind) => {
  let server: TestServer;
  let authenticator: SoftAuthenticator;
  let rp: oidc.Configuration;
  let personId: string;

  beforeAll(async () => {
    server = await startTestServer(kind);
    authenticator = new SoftAuthenticator();
    const registered = await registerPasskey(new UserAgent(), server.setupLink!, authenticator, {
      email: 'ana@example.org',
      name: 'Ana',
    });
    expect(registered.status).toBe(200);
    personId = (await server.db.prisma.person.findUniqueOrThrow({ where: { email: 'ana@example.org' } })).id;
    const { client_id, client_secret } = await server.addClient({
      redirectUris: [REDIRECT],
      postLogoutRedirectUris: [LOGOUT_REDIRECT],
    });
    rp = await discoverRp(server, { client_id, client_secret });
  });
  afterAll(async () => server?.stop());

  async function login(agent = new UserAgent(), extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid email profile offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      prompt: 'consent',
      ...extra,
    });
    const { callbackUrl } = await signInWithPasskey(agent, url.href, authenticator);
    return { callbackUrl: new URL(callbackUrl), verifier, state, agent };
  }

  it('publishes discovery and a JWKS with ES256 and RS256 keys', () => {
    const meta = rp.serverMetadata();
    expect(meta.issuer).toBe(server.issuer);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.subject_types_supported).toEqual(expect.arrayContaining(['public', 'pairwise']));
    expect(meta.pushed_authorization_request_endpoint).toBeDefined();
    expect(meta.dpop_signing_alg_values_supported).toContain('ES256');
  });

  it('signs a person in with code + PKCE and a passkey: ID token, userinfo, refresh rotation, introspection, revocation', async () => {
    const { callbackUrl, verifier, state } = await login();
    const tokens = await oidc.authorizationCodeGrant(rp, callbackUrl, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(personId);
    expect(claims.acr).toBe('phr');
    expect(claims.amr).toEqual(expect.arrayContaining(['hwk', 'user']));
    expect(claims.iss).toBe(server.issuer);

    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: personId, email: 'ana@example.org', name: 'Ana' });

    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(await oidc.tokenIntrospection(rp, refreshed.access_token)).toMatchObject({
      active: true,
      sub: personId,
      client_id: rp.clientMetadata().client_id,
    });

    const second = await oidc.refreshTokenGrant(rp, refreshed.refresh_token!);
    await oidc.tokenRevocation(rp, second.access_token);
    expect((await oidc.tokenIntrospection(rp, second.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(rp, second.access_token, personId)).rejects.toBeDefined();

    // Replaying a rotated-out refresh token is refused and revokes the whole grant.
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(rp, second.refresh_token!)).active).toBe(false);
  });

  it('ends the session with RP-initiated logout', async () => {
    const { callbackUrl, verifier, state, agent } = await login();
    const tokens = await oidc.authorizationCodeGrant(rp, callbackUrl, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    const logoutUrl = oidc.buildEndSessionUrl(rp, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: LOGOUT_REDIRECT,
      state: 'bye',
    });
    const page = await agent.fetch(logoutUrl);
    expect(page.status).toBe(200);
    const html = await page.text();
    const action = /action="([^"]+)"/.exec(html)![1]!;
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
    const done = await agent.follow(new URL(action, server.issuer).href, new URL(server.issuer).origin, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    });
    expect(done.url).toBe(`${LOGOUT_REDIRECT}?state=bye`);
    // The session is gone: a new authorization request needs a passkey again.
    const again = await agent.follow(
      oidc.buildAuthorizationUrl(rp, {
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: 'x'.repeat(43),
        code_challenge_method: 'S256',
      }).href,
      new URL(server.issuer).origin,
    );
    expect(await again.response.text()).toContain('id="passkey"');
  });

  it('issues client-credentials tokens that introspect as active', async () => {
    const cc = await server.addClient({ name: 'Gate service', grantTypes: ['client_credentials'], redirectUris: [] });
    const ccRp = await discoverRp(server, cc);
    const tokens = await oidc.clientCredentialsGrant(ccRp);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    const info = await oidc.tokenIntrospection(ccRp, tokens.access_token);
    expect(info).toMatchObject({ active: true, client_id: cc.client_id });

    // Another client learns nothing about the token and cannot revoke it.
    expect(await oidc.tokenIntrospection(rp, tokens.access_token)).toEqual({ active: false });
    await oidc.tokenRevocation(rp, tokens.access_token);
    expect((await oidc.tokenIntrospection(ccRp, tokens.access_token)).active).toBe(true);
  });

  it('gives pairwise clients a different, stable sub', async () => {
    const other = await server.addClient({
      name: 'Pairwise RP',
      redirectUris: ['http://rp.example:9/cb'],
      subjectType: 'pairwise',
    });
    const pairwiseRp = await discoverRp(server, other);
    const subs: string[] = [];
    for (let i = 0; i < 2; i++) {
      const tokens = await codeFlowTokens(pairwiseRp, authenticator, { redirectUri: 'http://rp.example:9/cb' });
      subs.push(tokens.claims()!.sub);
    }
    expect(subs[0]).toBe(subs[1]);
    expect(subs[0]).not.toBe(personId);
  });

  it('accepts pushed authorization requests (PAR)', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await oidc.buildAuthorizationUrlWithPAR(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const { callbackUrl } = await signInWithPasskey(new UserAgent(), url.href, authenticator);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callbackUrl), { pkceCodeVerifier: verifier });
    expect(tokens.claims()!.sub).toBe(personId);
  });

  it('binds tokens to a DPoP key', async () => {
    const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair('ES256'));
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const { callbackUrl } = await signInWithPasskey(new UserAgent(), url.href, authenticator);
    const tokens = await oidc.authorizationCodeGrant(
      rp,
      new URL(callbackUrl),
      { pkceCodeVerifier: verifier },
      undefined,
      { DPoP: dpop },
    );
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, personId, { DPoP: dpop });
    expect(userinfo.sub).toBe(personId);
    // Without the proof the token is useless.
    await expect(oidc.fetchUserInfo(rp, tokens.access_token, personId)).rejects.toBeDefined();
  });
});
