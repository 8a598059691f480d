import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueActivationCode } from '../../src/readers/activation.js';
import { addReader } from '../../src/readers/registry.js';
import { CHROMIUM, launchWithCamera, photoVideo as palmVideo } from '../support/fakeCamera.js';
import { discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';
import { enrolAnaAtOffice, startCallbackServer } from '../support/browser.js';

/**
 * Palm sign-in in a real browser: Chromium with a fake camera that films a palm photo (a Y4M
 * video written at test time, deleted afterwards). The kiosk reader page activates itself,
 * captures hands-free, seals the envelope and does CIBA in the page; an openid-client relying
 * party signs a person in with "Sign in with your palm" at the login page. Skipped without
 * Chromium or the palm images.
 */
const haveChromium = fs.existsSync(CHROMIUM);
const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP);
if (!haveChromium)
  console.warn(`[e2e] ${CHROMIUM} not found: skipping the browser palm test (apt-get install -y chromium)`);
const photo = (id: number, s: number) => path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`);

const SHOTS = process.env.PALMID_SHOTS_DIR ?? '/tmp/palmid-shots';
const WAIT = 60_000; // the hand tracker starts in software WebGL on slow test machines

async function shot(page: Page, name: string) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

// One database for the browser: PostgreSQL when the suite has one (production's), else PGlite. The
// server-level tests run every flow on both; here each case costs a browser and the hand tracker,
// and running them twice would take minutes of the suite's time for no other path covered.
describe.skipIf(!haveChromium || !haveData).each(databaseKinds.slice(-1))(
  'palm sign-in in a real browser (Chromium, fake camera) ($name)',
  (kind) => {
    let server: TestServer;
    let videos: string;
    let callback: Awaited<ReturnType<typeof startCallbackServer>> | undefined;
    let redirectUri: string;
    let anaId: string;
    const browsers: Browser[] = [];

    beforeAll(async () => {
      videos = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-camera-'));
      // Ana enrolled from two photos; the camera films a third. The stranger was never enrolled.
      await palmVideo(photo(2, 3), path.join(videos, 'ana.y4m'));
      await palmVideo(photo(30, 1), path.join(videos, 'stranger.y4m'));
      server = await startTestServer(kind);
      anaId = await enrolAnaAtOffice(server);
      callback = await startCallbackServer();
      redirectUri = callback.redirectUri;
    }, 120_000);

    afterAll(async () => {
      for (const b of browsers) await b.close();
      await callback?.close();
      await server?.stop();
      if (videos) fs.rmSync(videos, { recursive: true, force: true });
    });

    async function camera(name: 'ana' | 'stranger') {
      const browser = await launchWithCamera(path.join(videos, `${name}.y4m`));
      browsers.push(browser);
      return browser;
    }

    /** A tablet: opens /kiosk, activates with a fresh code, scans once; answers the shown result. */
    async function kioskScan(browser: Browser, label: string, options: { busyAnswers?: number } = {}): Promise<string> {
      const reader = await addReader(server.db, server.provider(), { tenantId: 'office', name: `Lobby ${label}` });
      const { code } = await issueActivationCode(server.db, reader.client_id);
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT);
      // jose's browser build comes from palmid itself, as ES modules the CSP (script-src 'self') allows.
      const joseModules: string[] = [];
      const cspErrors: string[] = [];
      page.on('response', (r) => {
        if (new URL(r.url()).pathname.startsWith('/static/jose/') && r.ok())
          joseModules.push(new URL(r.url()).pathname);
      });
      page.on('console', (m) => {
        if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
      });
      // The server's "too many sign-ins at once" answer at the CIBA endpoint for the first envelopes.
      let busyLeft = options.busyAnswers ?? 0;
      let busySeen = 0;
      if (busyLeft > 0) {
        await page.route(/\/backchannel$/, async (route) => {
          if (busyLeft-- <= 0) return route.continue();
          busySeen++;
          await route.fulfill({
            status: 503,
            headers: { 'retry-after': '1', 'content-type': 'application/json' },
            body: JSON.stringify({ error: 'temporarily_unavailable' }),
          });
        });
      }
      await page.goto(`${server.issuer}/kiosk`);
      await page.locator('#activation-code').fill(code);
      await page.locator('#activate-button').click();
      await page.locator('#scan').waitFor({ state: 'visible' });
      expect(await page.locator('#reader-name').textContent()).toBe(`Lobby ${label}`);
      // No tap: the reader sees the hand and scans it by itself (palm-live.browser.test.ts tests how).
      // The answer as first shown (it clears after a few seconds, for the next person).
      const shown = String(
        await (
          await page.waitForFunction(
            () => {
              const text = document.getElementById('result')?.textContent ?? '';
              return /Welcome|Not recognised/.test(text) && text;
            },
            undefined,
            { timeout: WAIT },
          )
        ).jsonValue(),
      );
      await shot(page, `kiosk-${label}`);
      expect(joseModules).toContain('/static/jose/index.js');
      expect(joseModules).toContain('/static/jose/jwe/compact/encrypt.js');
      expect(cspErrors).toEqual([]);
      // The key stayed in the browser: only its public half reached the provider.
      const stored = await server.db.prisma.oidcClient.findUniqueOrThrow({ where: { clientId: reader.client_id } });
      expect(JSON.stringify(stored.metadata)).not.toContain('"d":');
      expect((stored.metadata as { jwks: { keys: Array<{ kid: string }> } }).jwks.keys[0]!.kid).not.toBe(
        reader.key.kid,
      );
      await context.close();
      expect(busySeen).toBe(options.busyAnswers ?? 0);
      return shown;
    }

    /** Code + PKCE through the login page's "Sign in with your palm" and the consent page. */
    async function browserLogin(
      browser: Browser,
      params: Record<string, string> = {},
      options: { busyAnswers?: number } = {},
    ) {
      const client = await server.addClient({ name: 'Office portal', redirectUris: [redirectUri], tenant: 'office' });
      const rp = await discoverRp(server, client);
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: redirectUri,
        scope: 'openid email',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        ...params,
      });
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT);
      // The server's "too many frames at once" answer (503 + Retry-After), given by the route for
      // the first frames: the page must wait and send again, not give up.
      let busyLeft = options.busyAnswers ?? 0;
      const busySeen: number[] = [];
      if (busyLeft > 0) {
        await page.route(/\/interaction\/[^/]+\/palm$/, async (route) => {
          if (busyLeft-- <= 0) return route.continue();
          busySeen.push(Date.now());
          await route.fulfill({
            status: 503,
            headers: { 'retry-after': '1', 'content-type': 'application/json' },
            body: JSON.stringify({ error: 'temporarily_unavailable', retry_after: 1 }),
          });
        });
      }
      await page.goto(url.href);
      await page.waitForURL(/\/interaction\/[^/]+$/);
      await page.getByRole('button', { name: 'Sign in with your palm' }).click();
      if (busyLeft > 0) {
        // The person is told why nothing happens for a moment.
        await page.getByText(/Many people are signing in right now: trying again in 1 s/).waitFor({ state: 'visible' });
        await shot(page, 'palm-login-busy');
        const desktop = page.viewportSize();
        await page.setViewportSize({ width: 375, height: 812 });
        await shot(page, 'palm-login-busy-375');
        if (desktop) await page.setViewportSize(desktop);
      }
      const allow = page.getByRole('button', { name: 'Allow' });
      await allow.waitFor({ state: 'visible' });
      await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri)), allow.click()]);
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url()), {
        pkceCodeVerifier: verifier,
        expectedState: state,
      });
      await context.close();
      expect(busySeen.length).toBe(options.busyAnswers ?? 0);
      // Retry-After was honoured: about a second between the busy answers.
      for (let i = 1; i < busySeen.length; i++) expect(busySeen[i]! - busySeen[i - 1]!).toBeGreaterThanOrEqual(900);
      return tokens.claims()!;
    }

    it('the kiosk reader recognises an enrolled person: "Welcome, Ana"', { timeout: 90_000 }, async () => {
      expect(await kioskScan(await camera('ana'), 'ana')).toBe('Welcome, Ana');
      expect(await server.db.prisma.auditEvent.count({ where: { action: 'signin.palm', subject: anaId } })).toBe(1);
    });

    it('a person signs in to an openid-client relying party with the palm at the browser login (1:N, then 1:1 with login_hint)', {
      timeout: 90_000,
    }, async () => {
      const browser = await camera('ana');
      expect(await browserLogin(browser)).toMatchObject({ sub: anaId, acr: 'urn:palmid:acr:palm', amr: ['palm'] });
      expect(await browserLogin(browser, { login_hint: 'ana@example.org' })).toMatchObject({
        sub: anaId,
        acr: 'urn:palmid:acr:palm',
        amr: ['palm'],
      });
      const modes = (
        await server.db.prisma.auditEvent.findMany({
          where: { action: 'signin.palm', subject: anaId },
          orderBy: { id: 'asc' },
        })
      ).map((e) => (e.detail as { mode?: string }).mode);
      expect(modes.slice(-2)).toEqual(['identify', 'verify']);
    });

    it('the kiosk sends the same envelope again after Retry-After when the server is busy (503)', {
      timeout: 90_000,
    }, async () => {
      expect(await kioskScan(await camera('ana'), 'ana-busy', { busyAnswers: 2 })).toBe('Welcome, Ana');
    });

    it('the browser login waits Retry-After and sends again when the server is busy (503)', {
      timeout: 90_000,
    }, async () => {
      expect(await browserLogin(await camera('ana'), {}, { busyAnswers: 2 })).toMatchObject({
        sub: anaId,
        acr: 'urn:palmid:acr:palm',
      });
    });

    it('the kiosk reader answers "Not recognised" to a palm nobody enrolled', { timeout: 90_000 }, async () => {
      expect(await kioskScan(await camera('stranger'), 'stranger')).toBe('Not recognised');
      await server.db.prisma.attemptThrottle.deleteMany();
    });
  },
);
