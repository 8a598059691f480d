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
import { enrolAnaAtOffice } from '../support/browser.js';

/**
 * The liveness challenge at the browser palm login, in a real browser: for an application that
 * requires PAD (palmid_require_pad) the login page captures the ready hand hands-free, asks for a
 * random movement ("Now bring your fingers together" / "Now turn your hand a little") in its live
 * region, takes more frames while the hand should move and sends them as one try. The fake camera
 * films a still photo of an enrolled hand: a replayed still, which cannot follow the challenge, so
 * the provider refuses it as not live, the page says what to do, and nobody is signed in. Without
 * the hand tracker there is no challenge: such an application needs a passkey. Assertions are on
 * page state and requests, never on timing. Skipped without Chromium or the palm images.
 */
const haveChromium = fs.existsSync(CHROMIUM);
const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP);
const photo = (id: number, s: number) => path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`);
// Software WebGL on a loaded test machine: the tracker may need many seconds to start.
const WAIT = 90_000;

declare global {
  interface Window {
    guidanceSeen: string[];
    feedbackSeen: string[];
  }
}

describe.skipIf(!haveChromium || !haveData)('liveness challenge at the palm login (Chromium, fake camera)', () => {
  let server: TestServer;
  let videos: string;
  let browser: Browser;
  let anaId: string;
  const redirectUri = 'http://127.0.0.1:9/cb';

  beforeAll(async () => {
    videos = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-pad-camera-'));
    await photoVideo(photo(2, 3), path.join(videos, 'still.y4m'));
    server = await startTestServer({ name: 'pglite' });
    anaId = await enrolAnaAtOffice(server);
    browser = await launchWithCamera(path.join(videos, 'still.y4m'));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (videos) fs.rmSync(videos, { recursive: true, force: true });
  });

  /** The login page of an application that requires PAD, up to the person pressing the palm button. */
  async function strictLogin(options: { blockTracker?: boolean } = {}) {
    const client = await server.addClient({
      name: 'Bank',
      redirectUris: [redirectUri],
      tenant: 'office',
      requirePad: true,
    });
    const rp = await discoverRp(server, client);
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const context = await browser.newContext();
    // Every guidance state and every message of the live region, in order (they change quickly).
    await context.addInitScript(() => {
      window.guidanceSeen = [];
      window.feedbackSeen = [];
      new MutationObserver(() => {
        const view = document.getElementById('palm-capture');
        const state = view?.dataset.guidance;
        if (state && window.guidanceSeen.at(-1) !== state) window.guidanceSeen.push(state);
        const text = document.getElementById('palm-feedback')?.textContent;
        if (text && window.feedbackSeen.at(-1) !== text) window.feedbackSeen.push(text);
      }).observe(document, { subtree: true, attributes: true, childList: true, characterData: true });
    });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const tries: { type: string; frames: number }[] = [];
    const cspErrors: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && /^\/interaction\/[^/]+\/palm$/.test(new URL(r.url()).pathname)) {
        const type = r.headers()['content-type'] ?? '';
        const frames = type.startsWith('application/json')
          ? ((JSON.parse(r.postData() ?? '{}') as { frames?: unknown[] }).frames?.length ?? 0)
          : 1;
        tries.push({ type, frames });
      }
    });
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
    if (options.blockTracker) await page.route(/\/static\/mediapipe\//, (route) => route.abort());
    await page.goto(url.href);
    await page.waitForURL(/\/interaction\/[^/]+$/);
    await page.getByRole('button', { name: 'Sign in with your palm' }).click();
    return { page, context, tries, cspErrors };
  }

  const palmSignIns = () => server.db.prisma.auditEvent.count({ where: { action: 'signin.palm', subject: anaId } });

  it('asks a still hand for a random movement, sends the sequence, and refuses the replayed still as not live', {
    timeout: 240_000,
  }, async () => {
    const before = await palmSignIns();
    const { page, context, tries, cspErrors } = await strictLogin();
    // The ready hand first, then the challenge in the live region.
    await page.waitForFunction(() => window.guidanceSeen.includes('challenge'));
    const view = page.locator('#palm-capture');
    const challenge = await view.getAttribute('data-challenge');
    expect(challenge).toMatch(/^(close|tilt)$/);
    const seen = await page.evaluate(() => window.guidanceSeen);
    expect(seen.indexOf('ready')).toBeGreaterThanOrEqual(0);
    expect(seen.indexOf('ready')).toBeLessThan(seen.indexOf('challenge'));
    const prompts = await page.evaluate(() => window.feedbackSeen);
    expect(prompts).toContain(
      challenge === 'close' ? 'Now bring your fingers together.' : 'Now turn your hand a little.',
    );
    expect(await page.locator('#palm-feedback').getAttribute('aria-live')).toBe('polite');
    expect(await accessibilityViolations(page)).toEqual([]);

    // The try goes as one sequence; the still cannot follow: refused as not live, with guidance.
    await page.waitForFunction(() => document.getElementById('palm-capture')?.dataset.rejected === 'not_live');
    expect(tries[0]).toEqual({ type: 'application/json', frames: 4 });
    expect(tries.every((t) => t.type === 'application/json')).toBe(true);
    const messages = await page.evaluate(() => window.feedbackSeen);
    expect(messages.some((m) => /could not confirm a live hand/.test(m))).toBe(true);
    // Nobody is signed in: the page is still the login, and no palm sign-in was recorded.
    expect(page.url()).toMatch(/\/interaction\/[^/]+$/);
    expect(await palmSignIns()).toBe(before);
    expect(cspErrors).toEqual([]);
    await page.getByRole('button', { name: 'Stop the camera' }).click();
    await context.close();
  });

  it('without the hand tracker there is no challenge: the page sends nothing and points to a passkey', {
    timeout: 120_000,
  }, async () => {
    const { page, context, tries } = await strictLogin({ blockTracker: true });
    await page.getByText(/sign in with a passkey/).waitFor({ state: 'visible' });
    expect(await page.locator('#palm-capture').getAttribute('data-tracker')).toBe('manual');
    expect(tries).toEqual([]);
    await context.close();
  });
});
