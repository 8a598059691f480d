import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenant } from '../../src/accounts/tenants.js';
import { issueActivationCode } from '../../src/readers/activation.js';
import { addReader } from '../../src/readers/registry.js';
// The page's own wording, so that the test follows the component rather than a copy of it.
import { GUIDANCE } from '../../views/static/palm-capture.js';
import {
  CHROMIUM,
  centredPicture,
  circlingPictures,
  dimmedPicture,
  fingersTogetherPicture,
  launchWithCamera,
  loadPicture,
  type Picture,
  scaledPicture,
  writeY4mSequence,
} from '../support/fakeCamera.js';
import { accessibilityViolations } from '../support/axe.js';
import { discoverRp } from '../support/oidc.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startCallbackServer } from '../support/browser.js';

/**
 * The live guidance in a real browser, one state at a time: MediaPipe Hands runs in the page on
 * what the fake camera films (a COEP photo changed the way a person would get it wrong: too close,
 * in poor light, fingers together, moving) and the page must say so, in the component's words,
 * and send nothing to the server while the hand is not ready. A moving still never captures.
 *
 * One server and one Chromium for the file: the fake camera's file is a launch flag, but Chromium
 * opens it afresh for each capture session, so each scene overwrites the same file before its page
 * opens the camera (pages are closed in between). Assertions are on page state and requests,
 * never on timing. Skipped without Chromium or the COEP photos.
 *
 * Not covered here, and why: "back of the hand" needs a photo of one (mirroring a palm makes the
 * other hand's palm, and MediaPipe's handedness follows, so the page rightly says nothing); "tilted"
 * cannot be made reliably from a flat photo: turned in perspective by 40-70°, MediaPipe's 3-D
 * estimate of the palm's turn mostly stays under 30° (the limit is 35°), and beyond about 65° it
 * often names the other hand (then: "back of the hand") or loses the hand. "Fingers closed" is a
 * warp of an open COEP hand (all of them are open) that draws the fingers parallel.
 */
const haveChromium = fs.existsSync(CHROMIUM);
const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP);
const photo = (id: number, s: number) => path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`);
// Software WebGL on a loaded test machine: the tracker may need many seconds to start.
const WAIT = 90_000;
/** Tracked frames to watch once a state is shown, to see that it holds and that nothing is sent. */
const WATCH_FRAMES = 4;

declare global {
  interface Window {
    palmCapture: { frames(): number; fps(): number };
    guidanceSeen: string[];
  }
}

describe.skipIf(!haveChromium || !haveData)(
  'live hand guidance in the browser, state by state (Chromium, fake camera)',
  () => {
    let server: TestServer;
    let videos: string;
    let video: string;
    let browser: Browser;
    let callback: Awaited<ReturnType<typeof startCallbackServer>> | undefined;
    let redirectUri: string;
    let hand: Picture;

    beforeAll(async () => {
      videos = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-guidance-camera-'));
      video = path.join(videos, 'camera.y4m');
      // Ana's photo, the one the hands-free tests capture: ready as it is (palm-live.browser.test.ts).
      hand = await loadPicture(photo(2, 3));
      writeY4mSequence([hand], video, { repeat: 3 });
      browser = await launchWithCamera(video);
      server = await startTestServer({ name: 'pglite' });
      await addTenant(server.db, { id: 'office', name: 'Office' });
      callback = await startCallbackServer();
      redirectUri = callback.redirectUri;
    }, 120_000);

    afterAll(async () => {
      await context?.close();
      await browser?.close();
      await callback?.close();
      await server?.stop();
      if (videos) fs.rmSync(videos, { recursive: true, force: true });
    });

    let context: BrowserContext | undefined;

    /**
     * A page that records every guidance state shown and every request made. The pages share one
     * context, so that the tracker's files (cacheable) load and compile once, not once per state.
     */
    async function watchedPage() {
      if (!context) context = await newWatchedContext();
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT);
      const requests: string[] = [];
      page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
      return { page, requests };
    }

    async function newWatchedContext() {
      const context = await browser.newContext();
      await context.addInitScript(() => {
        window.guidanceSeen = [];
        new MutationObserver((changes) => {
          for (const change of changes) {
            const state = (change.target as HTMLElement).dataset.guidance;
            if (state && window.guidanceSeen.at(-1) !== state) window.guidanceSeen.push(state);
          }
        }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-guidance'] });
      });
      return context;
    }

    /** The login page's camera after "Sign in with your palm"; `sent` counts palm frames and challenges asked. */
    async function loginPage() {
      const client = await server.addClient({ name: 'Office portal', redirectUris: [redirectUri], tenant: 'office' });
      const rp = await discoverRp(server, client);
      const url = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: redirectUri,
        scope: 'openid email',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state: oidc.randomState(),
      });
      const watched = await watchedPage();
      await watched.page.goto(url.href);
      await watched.page.waitForURL(/\/interaction\/[^/]+$/);
      await watched.page.getByRole('button', { name: 'Sign in with your palm' }).click();
      const sent = () => watched.requests.filter((r) => /\/interaction\/[^/]+\/palm(\/|$)/.test(r)).length;
      return { ...watched, root: '#palm-capture', words: '#palm-feedback', sent };
    }

    /**
     * The kiosk, activated (the first time; later pages in the context find the reader it keeps);
     * `sent` counts backchannel (CIBA) requests, the kiosk's way to send a palm.
     */
    async function kioskPage() {
      const watched = await watchedPage();
      await watched.page.goto(`${server.issuer}/kiosk`);
      await watched.page.locator('#activation-code:visible, #reader:visible').first().waitFor();
      if (await watched.page.locator('#activation-code').isVisible()) {
        const reader = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Lobby' });
        const { code } = await issueActivationCode(server.db, reader.client_id);
        await watched.page.locator('#activation-code').fill(code);
        await watched.page.locator('#activate-button').click();
      }
      await watched.page.locator('#reader').waitFor({ state: 'visible' });
      const sent = () => watched.requests.filter((r) => r.endsWith('/backchannel')).length;
      return { ...watched, root: '#reader', words: '#kiosk-status', sent };
    }

    type Opened = Awaited<ReturnType<typeof loginPage>>;

    /**
     * Waits for `state` to be shown, then watches `watch` more tracked frames: the page says the
     * component's words for it, nothing reaches the server, nothing is captured and (unless
     * `readyMayFlash`) the hand is never judged ready. Answers the states seen, in order.
     */
    async function holdsState(
      opened: Opened,
      state: 'too_close' | 'too_dark' | 'fingers_closed' | 'moving',
      { readyMayFlash = false, watch = WATCH_FRAMES } = {},
    ): Promise<string[]> {
      const { page, root } = opened;
      try {
        await page.waitForFunction(
          ([selector, wanted]) => document.querySelector<HTMLElement>(selector!)?.dataset.guidance === wanted,
          [root, state] as const,
        );
      } catch (err) {
        // Say what the page saw instead.
        const [seen, frames] = await page.evaluate(() => [window.guidanceSeen, window.palmCapture?.frames()] as const);
        throw new Error(
          `${state} was not shown in ${WAIT} ms: states seen ${seen.join(' → ')}, ${frames} frames tracked`,
          {
            cause: err,
          },
        );
      }
      expect(await page.locator(root).getAttribute('data-tracker')).toBe('live');
      expect(await page.locator(opened.words).textContent()).toContain(String(GUIDANCE[state]));
      const frames = await page.evaluate(() => window.palmCapture.frames());
      await page.waitForFunction(([n, more]) => window.palmCapture.frames() >= n + more, [frames, watch] as const);
      const seen = await page.evaluate(() => window.guidanceSeen);
      if (!readyMayFlash) expect(seen).not.toContain('ready');
      expect(seen).not.toContain('captured');
      expect(opened.sent()).toBe(0);
      const fps = await page.evaluate(() => window.palmCapture.fps());
      const initMs = await page.locator(root).getAttribute('data-tracker-init-ms');
      // Measured on whatever machine runs the tests: reported, never asserted.
      console.info(
        `[palm-guidance] ${state}: tracker start ${initMs} ms, ${fps.toFixed(2)} frames/s tracked, states seen: ${seen.join(' → ')}`,
      );
      return seen;
    }

    /** Films `frames` from now on (each new camera session reads the file afresh). */
    function film(frames: Picture[], options: { repeat?: number; fps?: number } = { repeat: 3 }) {
      writeY4mSequence(frames, video, options);
    }

    it('a hand too close to the camera (cut off by the frame) is asked back, and nothing is sent', {
      timeout: 180_000,
    }, async () => {
      film([await scaledPicture(hand, 1.6)]);
      const opened = await loginPage();
      await holdsState(opened, 'too_close');
      // The button stays as the fallback, and the page passes the WCAG checks in this state.
      expect(await opened.page.getByRole('button', { name: 'Take the picture now' }).isVisible()).toBe(true);
      expect(await accessibilityViolations(opened.page)).toEqual([]);
      await opened.page.close();
    });

    it('a hand in poor light is told it is too dark, and nothing is sent', { timeout: 180_000 }, async () => {
      film([dimmedPicture(hand, 0.2)]);
      const opened = await kioskPage();
      await holdsState(opened, 'too_dark');
      await opened.page.close();
    });

    it('fingers held together are asked apart, and nothing is sent', { timeout: 180_000 }, async () => {
      // A warp of the open hand that draws the fingers side by side (the COEP hands are all open).
      film([fingersTogetherPicture(hand, { squeeze: 0.4 })]);
      const opened = await loginPage();
      await holdsState(opened, 'fingers_closed');
      await opened.page.close();
    });

    it('a still carried round in front of the camera is asked to hold still and is never captured', {
      timeout: 180_000,
    }, async () => {
      // The same photo, smaller and centred (room to move; each of these frames alone is a ready
      // hand), carried steadily round a circle of 90 px: a turn every 4 s, about 140 px/s, well
      // over the motion limit (0.35 palm lengths/s, about 70 px/s here) between any two tracked
      // frames 0.1-2 s apart, with no turning point where it stands still.
      const still = centredPicture(await scaledPicture(hand, 0.75));
      film(circlingPictures(still, 90, 48), { fps: 12 });
      const opened = await kioskPage();
      // "Hold still…" (ready) may flash: the first tracked frame of a hand has no earlier one to
      // measure motion against, and a slow tracker may sample the loop where it started. What must
      // never happen is a capture: that needs ready frames in a row over 600 ms.
      const seen = await holdsState(opened, 'moving', { readyMayFlash: true, watch: 2 * WATCH_FRAMES });
      // Other states may flash while the hand moves (seen: the tracker lagging the hand and naming
      // the other hand, "back of the hand"); logged above, not asserted: the capture is.
      expect(seen).toContain('moving');
      await opened.page.close();
    });
  },
);
