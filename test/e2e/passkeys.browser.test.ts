import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';
import { discoverRp } from '../support/oidc.js';
import { pageWithPasskeys } from '../support/browser.js';

/**
 * End to end in a real browser: Chromium with CDP virtual authenticators drives palmid's own
 * pages (setup link, admin console, invitation, login, consent) and an openid-client relying
 * party redeems the code. Skipped where Chromium is not installed.
 */
const CHROMIUM = process.env.PALMID_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium)
  console.warn(`[e2e] ${CHROMIUM} not found: skipping the browser passkey test (apt-get install -y chromium)`);

const SHOTS = process.env.PALMID_SHOTS_DIR ?? '/tmp/palmid-shots';
const WAIT = 30_000;

async function withAuthenticator(context: BrowserContext): Promise<Page> {
  return (await pageWithPasskeys(context, WAIT)).page;
}

async function shot(page: Page, name: string) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

describe.skipIf(!haveChromium)('passkeys in a real browser (Chromium, virtual authenticators)', () => {
  let server: TestServer;
  let browser: Browser;
  let callbackServer: http.Server;
  let redirectUri: string;
  const callbacks: string[] = [];

  beforeAll(async () => {
    server = await startTestServer(databaseKinds[0]!);
    callbackServer = http.createServer((req, res) => {
      callbacks.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('callback received');
    });
    await new Promise<void>((resolve) => callbackServer.listen(0, '127.0.0.1', resolve));
    redirectUri = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/cb`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    callbackServer?.closeAllConnections();
    await new Promise((resolve) => (callbackServer ? callbackServer.close(resolve) : resolve(undefined)));
    await server?.stop();
  });

  it('sets up the first administrator, invites a person who registers and signs in to a relying party', {
    timeout: 60_000,
  }, async () => {
    // a. The first administrator registers a passkey through the setup link.
    const adminContext = await browser.newContext();
    const admin = await withAuthenticator(adminContext);
    await admin.goto(server.setupLink!);
    await admin.getByLabel('Email').fill('root@example.org');
    await admin.getByLabel(/^Name/).fill('Root Admin');
    await admin.getByRole('button', { name: 'Create passkey' }).click();
    await admin.waitForFunction(() => document.body.dataset.registered === 'true', undefined, { timeout: WAIT });
    expect(await admin.locator('#status').textContent()).toContain('registered');

    // b. The administrator signs in to the admin console with that passkey and invites a person.
    await admin.goto(`${server.issuer}/admin`);
    await admin.locator('#passkey').click();
    await admin.waitForSelector('#invite', { timeout: WAIT });
    expect(new URL(admin.url()).pathname).toBe('/admin');
    await admin.locator('#invite-email').fill('bea@example.org');
    await admin.locator('#invite-role').selectOption('user');
    await admin.locator('#create-invite').click();
    const inviteLink = ((await admin.locator('output#invite-link').textContent({ timeout: WAIT })) ?? '').trim();
    expect(inviteLink).toMatch(new RegExp(`^${server.issuer}/invite/[A-Za-z0-9_-]{20,}$`));

    // c. The invited person, on a device of their own, registers a passkey.
    const personContext = await browser.newContext();
    const person = await withAuthenticator(personContext);
    await person.goto(inviteLink);
    expect(await person.locator('#email').inputValue()).toBe('bea@example.org');
    await person.getByLabel(/^Name/).fill('Bea');
    await person.getByRole('button', { name: 'Create passkey' }).click();
    await person.waitForFunction(() => document.body.dataset.registered === 'true', undefined, { timeout: WAIT });
    const bea = await server.db.prisma.person.findUniqueOrThrow({ where: { email: 'bea@example.org' } });

    // d. The person signs in to an openid-client relying party: code + PKCE, passkey, consent.
    const { client_id, client_secret } = await server.addClient({ name: 'Example RP', redirectUris: [redirectUri] });
    const rp = await discoverRp(server, { client_id, client_secret });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const authorizationUrl = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      prompt: 'consent',
    });
    await person.goto(authorizationUrl.href);
    await person.waitForURL(/\/interaction\/[^/]+$/, { timeout: WAIT });
    await person.locator('#passkey').waitFor({ state: 'visible' });
    await shot(person, 'login');
    await person.locator('#passkey').click();
    const allow = person.getByRole('button', { name: 'Allow' });
    await allow.waitFor({ state: 'visible', timeout: WAIT });
    expect(await person.locator('h1').textContent()).toBe('Allow access?');
    await shot(person, 'consent');
    await Promise.all([person.waitForURL((url) => url.href.startsWith(redirectUri), { timeout: WAIT }), allow.click()]);
    const callbackUrl = new URL(person.url());
    expect(callbacks.some((c) => c.startsWith('/cb?'))).toBe(true);
    expect(callbackUrl.searchParams.get('code')).toBeTruthy();

    const tokens = await oidc.authorizationCodeGrant(rp, callbackUrl, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(bea.id);
    expect(claims.acr).toBe('phr');
    expect(claims.amr).toEqual(expect.arrayContaining(['hwk', 'user']));
    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: bea.id, email: 'bea@example.org' });

    await personContext.close();
    await adminContext.close();
  });
});
