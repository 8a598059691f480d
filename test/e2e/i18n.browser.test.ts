import fs from 'node:fs';
import path from 'node:path';
import * as oidc from 'openid-client';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenant } from '../../src/accounts/tenants.js';
import { localesDir } from '../../src/i18n/translator.js';
import { accessibilityViolations } from '../support/axe.js';
import { haveChromium, pageWithPasskeys } from '../support/browser.js';
import { CHROMIUM } from '../support/fakeCamera.js';
import { discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

/**
 * palmid's pages in French in a real browser: the setup page chosen by the browser's language and
 * its script's answer in French, the login page chosen by ui_locales=fr over an English browser,
 * with a message that palm-capture.js (shared by every capture page) writes in French; axe on both.
 * One server, one Chromium. Skipped without Chromium.
 */
const WAIT = 30_000;
const french = (ns: string) =>
  JSON.parse(fs.readFileSync(path.join(localesDir, 'fr', `${ns}.json`), 'utf8')) as unknown;

describe.skipIf(!haveChromium)('pages in French (Chromium)', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer(databaseKinds[0]!);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-quic'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('speaks French where asked: page, scripts, html lang, and stays accessible', { timeout: 60_000 }, async () => {
    const invite = french('invite') as {
      titleAdmin: string;
      email: string;
      create: string;
      register: { done: string };
    };
    const capture = french('capture') as { camera: Record<string, string> };

    // a. A French browser (Accept-Language) on the setup link; the registration script answers in French.
    const setup = await browser.newContext({ locale: 'fr-FR' });
    const { page } = await pageWithPasskeys(setup, WAIT);
    await page.goto(server.setupLink!);
    expect(await page.getAttribute('html', 'lang')).toBe('fr');
    expect(await page.locator('h1').textContent()).toBe(invite.titleAdmin);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.getByLabel(invite.email).fill('root@example.org');
    await page.getByRole('button', { name: invite.create }).click();
    await page.waitForFunction(() => document.body.dataset.registered === 'true');
    expect(await page.locator('#status').textContent()).toBe(invite.register.done);
    await setup.close();

    // b. An English browser, but the application asks for French (ui_locales): the login page is French.
    const client = await server.addClient({ name: 'Portail', tenant: 'office' });
    const rp = await discoverRp(server, client);
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: 'http://127.0.0.1:9/cb',
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      ui_locales: 'fr',
    });
    const english = await browser.newContext({ locale: 'en-US' });
    const login = await english.newPage();
    login.setDefaultTimeout(WAIT);
    await login.goto(url.href);
    await login.waitForURL(/\/interaction\/[^/]+$/);
    expect(await login.getAttribute('html', 'lang')).toBe('fr');
    expect(await login.locator('h1').textContent()).toBe('Connexion');
    await login.getByRole('button', { name: 'Se connecter avec une clé d’accès' }).waitFor();
    expect(await login.getByRole('link', { name: 'Annuler et revenir à Portail' }).count()).toBe(1);
    expect(await accessibilityViolations(login)).toEqual([]);

    // c. palm-capture.js's own words: this browser has no camera to give, and says so in French.
    await login.getByRole('button', { name: 'Se connecter avec la paume' }).click();
    const feedback = login.locator('#palm-feedback.error');
    await feedback.waitFor();
    const said = (await feedback.textContent()) ?? '';
    expect(Object.values(capture.camera)).toContain(said);
    expect(await login.locator('#palm').textContent()).toBe('Réessayer avec la paume');
    expect(await accessibilityViolations(login)).toEqual([]);
    await english.close();
  });
});
