/** Shared set-up of the Chromium tests: the COEP photos, screenshots, passkeys, one server and camera. */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { accessibilityViolations } from './axe.js';
import { CHROMIUM, launchWithCamera, photoVideo } from './fakeCamera.js';
import { startTestServer, type TestServer } from './server.js';

export const haveChromium = fs.existsSync(CHROMIUM);
/** The COEP hand photos (NNN_0S.jpg); tests that need them skip where they are absent. */
export const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
export const haveCoep = fs.existsSync(COEP);
/** Chromium and the COEP photos, which the fake-camera tests need. */
export const canFilmPalms = haveChromium && haveCoep;
/** Where screenshots for people to look at go (never compared). */
export const SHOTS = process.env.PALMID_SHOTS_DIR ?? '/tmp/palmid-shots';

/** A CDP virtual authenticator that holds passkeys and verifies its user without a prompt. */
export const VIRTUAL_AUTHENTICATOR = {
  options: {
    protocol: 'ctap2',
    transport: 'internal',
    hasResidentKey: true,
    hasUserVerification: true,
    isUserVerified: true,
    automaticPresenceSimulation: true,
  },
} as const;

/**
 * A new page of `context` with `timeout` as its default and a virtual authenticator attached;
 * the CDP session and the authenticator's id come back for tests that swap authenticators.
 */
export async function pageWithPasskeys(context: BrowserContext, timeout: number) {
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', VIRTUAL_AUTHENTICATOR);
  return { page, cdp, authenticatorId };
}

/** axe finds nothing and nothing overflows the screen; a screenshot `${SHOTS}/${prefix}-<name>.png`. */
export async function screenOk(page: Page, name: string, prefix: string): Promise<void> {
  expect(await accessibilityViolations(page), name).toEqual([]);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, `${name}: horizontal overflow`).toBeLessThanOrEqual(0);
  // For people to look at (not compared).
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${prefix}-${name.replace(/\W+/g, '-')}.png`, fullPage: true });
}

export interface CameraStation {
  server: TestServer;
  browser: Browser;
}

/**
 * For the enclosing describe: a PGlite test server with one tenant and a Chromium whose fake
 * camera films the COEP photo `photo` (e.g. '002_03.jpg'); both closed, and the video deleted, after it.
 * The fields are filled in beforeAll.
 */
export function useCameraStation(photo: string, tenant: { id: string; name: string }): CameraStation {
  const station = {} as CameraStation;
  let videos: string | undefined;
  beforeAll(async () => {
    videos = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-camera-'));
    const video = path.join(videos, 'camera.y4m');
    await photoVideo(path.join(COEP, photo), video);
    station.server = await startTestServer({ name: 'pglite' });
    await addTenant(station.server.db, tenant);
    station.browser = await launchWithCamera(video);
  }, 120_000);
  afterAll(async () => {
    await station.browser?.close();
    await station.server?.stop();
    if (videos) fs.rmSync(videos, { recursive: true, force: true });
  });
  return station;
}

/** Waits until the palm enrolment component (#enrol) is done or has failed; its data attributes. */
export async function enrolmentOutcome(page: Page, timeout: number): Promise<Record<string, string>> {
  const outcome = await page.waitForFunction(
    () => {
      const root = document.getElementById('enrol')!;
      return (root.dataset.state === 'done' || root.dataset.state === 'error' || root.dataset.outcome) && root.dataset;
    },
    undefined,
    { timeout },
  );
  return (await outcome.jsonValue()) as Record<string, string>;
}

/** A COEP photo: person `id` (1–...), shot `shot` (1–5). */
export const coepPhoto = (id: number, shot: number) => path.join(COEP, `${String(id).padStart(3, '0')}_0${shot}.jpg`);

/**
 * The palm tests' person: Ana at tenant 'office', consenting, her right palm enrolled from the
 * first two photos of COEP person 2 (the cameras film the third). Returns her id.
 */
export async function enrolAnaAtOffice(server: TestServer, name = 'Ana'): Promise<string> {
  await addTenant(server.db, { id: 'office', name: 'Office' });
  const ana = await createPerson(server.db, { email: 'ana@example.org', name, role: 'user' });
  await recordConsent(server.db, ana.id, 'office', 1);
  await enrolPalm(new BiometricContext(server.db, server.master), {
    personId: ana.id,
    tenantId: 'office',
    hand: 'right',
    captures: [coepPhoto(2, 1), coepPhoto(2, 2)].map((f) => fs.readFileSync(f)),
    kind: 'hand',
    minCaptures: 2,
  });
  return ana.id;
}

/** A relying party's redirect target that answers "callback received" (the flows end there). */
export async function startCallbackServer(): Promise<{ redirectUri: string; close(): Promise<void> }> {
  const callbackServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('callback received');
  });
  await new Promise<void>((resolve) => callbackServer.listen(0, '127.0.0.1', resolve));
  return {
    redirectUri: `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/cb`,
    async close() {
      callbackServer.closeAllConnections();
      await new Promise((resolve) => callbackServer.close(resolve));
    },
  };
}
