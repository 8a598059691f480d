import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchWithCamera, photoVideo } from '../support/fakeCamera.js';
import { accessibilityViolations } from '../support/axe.js';
import { discoverRp } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { enrolAnaAtOffice, startCallbackServer } from '../support/browser.js';

/**
 * "Who was recognised" (#13) in Chromium with a fake camera (as in palm.browser.test.ts): after a
 * palm sign-in at the browser login, the next page names the person and offers "Not you?"; that
 * ends the sign-in with access_denied at the relying party, and the browser's session keeps no
 * login (the next authorization shows the login page again). Skipped without Chromium or the
 * palm images.
 */
const haveChromium = fs.existsSync(CHROMIUM);
const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP);
const photo = (id: number, s: number) => path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`);
const SHOTS = process.env.PALMID_SHOTS_DIR ?? '/tmp/palmid-shots';
const WAIT = 60_000; // the hand tracker starts in software WebGL on slow test machines

describe.skipIf(!haveChromium || !haveData)('"Not you?" after a palm sign-in (Chromium, fake camera)', () => {
  let server: TestServer;
  let videos: string;
  let callback: Awaited<ReturnType<typeof startCallbackServer>> | undefined;
  let redirectUri: string;
  let anaId: string;
  let browser: Browser | undefined;

  beforeAll(async () => {
    videos = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-camera-'));
    // Ana enrolled from two photos; the camera films a third.
    await photoVideo(photo(2, 3), path.join(videos, 'ana.y4m'));
    server = await startTestServer({ name: 'pglite' });
    anaId = await enrolAnaAtOffice(server, 'Ana Lopes');
    callback = await startCallbackServer();
    redirectUri = callback.redirectUri;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await callback?.close();
    await server?.stop();
    if (videos) fs.rmSync(videos, { recursive: true, force: true });
  });

  it('shows whom the palm recognised; "Not you?" ends the sign-in with access_denied and keeps no login', {
    timeout: 120_000,
  }, async () => {
    browser = await launchWithCamera(path.join(videos, 'ana.y4m'));
    const client = await server.addClient({ name: 'Office portal', redirectUris: [redirectUri], tenant: 'office' });
    const rp = await discoverRp(server, client);
    const authorize = async () => {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: redirectUri,
        scope: 'openid email',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });
      return { url, verifier, state };
    };
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);

    const first = await authorize();
    await page.goto(first.url.href);
    await page.waitForURL(/\/interaction\/[^/]+$/);
    await page.getByRole('button', { name: 'Sign in with your palm' }).click();
    const notYou = page.getByRole('button', { name: 'Not you?' });
    await notYou.waitFor({ state: 'visible' });
    expect(await page.locator('.recognised').textContent()).toContain('Ana Lopes');
    expect(await accessibilityViolations(page)).toEqual([]);
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: `${SHOTS}/not-you.png`, fullPage: true });

    await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri)), notYou.click()]);
    const callback = new URL(page.url());
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('code')).toBeNull();
    // The relying party's library reads the same answer.
    await expect(
      oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: first.verifier, expectedState: first.state }),
    ).rejects.toMatchObject({ error: 'access_denied' });
    expect(
      await server.db.prisma.auditEvent.count({
        where: { action: 'signin.disowned', actor: anaId, subject: client.client_id },
      }),
    ).toBe(1);

    // Same browser, same cookies: no silent sign-in, the login page again.
    const second = await authorize();
    await page.goto(second.url.href);
    await page.waitForURL(/\/interaction\/[^/]+$/);
    await page.getByRole('button', { name: 'Sign in with your palm' }).waitFor({ state: 'visible' });
    expect(await page.getByRole('button', { name: 'Not you?' }).count()).toBe(0);
    await context.close();
  });
});
