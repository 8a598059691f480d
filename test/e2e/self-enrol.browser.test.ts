import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvitation, invitationUrl } from '../../src/accounts/invitations.js';
import { addTenant } from '../../src/accounts/tenants.js';
import { accessibilityViolations } from '../support/axe.js';
import { CHROMIUM, launchWithCamera, photoVideo } from '../support/fakeCamera.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Self-enrolment in Chromium at 375 px: a person signed in to their account page opens
 * /account/enrol for a tenant, reads and accepts the notice themselves, and their webcam (a fake
 * camera filming a COEP photo) enrols the palm through the same capture component as the station.
 * The person signs in through the account page (/account: a passkey at palmid's login page).
 */
const haveChromium = fs.existsSync(CHROMIUM);
const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP);
const WAIT = 90_000;
const SHOTS = process.env.PALMID_SHOTS_DIR ?? '/tmp/palmid-shots';

describe.skipIf(!haveChromium || !haveData)('self-enrolment in Chromium (fake camera)', () => {
  let server: TestServer;
  let browser: Browser;
  let videos: string;

  beforeAll(async () => {
    videos = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-self-enrol-camera-'));
    await photoVideo(path.join(COEP, '030_01.jpg'), path.join(videos, 'eve.y4m'));
    server = await startTestServer({ name: 'pglite' });
    await addTenant(server.db, { id: 'gym', name: 'City Gym' });
    browser = await launchWithCamera(path.join(videos, 'eve.y4m'));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (videos) fs.rmSync(videos, { recursive: true, force: true });
  });

  async function screenOk(page: Page, name: string) {
    expect(await accessibilityViolations(page), name).toEqual([]);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${name}: horizontal overflow`).toBeLessThanOrEqual(0);
    // For people to look at (not compared).
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: `${SHOTS}/self-enrol-${name.replace(/\W+/g, '-')}.png`, fullPage: true });
  }

  it('the person reads and accepts the notice, then enrols their palm with their own camera', {
    timeout: 150_000,
  }, async () => {
    // Eve has a passkey (registered through her invitation) and signs in to her account page with it.
    const invitation = await createInvitation(server.db, { email: 'eve@example.org', role: 'user', ttlSeconds: 3600 });
    const eveId = invitation.personId!;
    const context = await browser.newContext({ viewport: { width: 375, height: 812 } });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    await page.goto(invitationUrl(server.issuer, invitation.token));
    await page.locator('#name').fill('Eve');
    await page.locator('#register button[type="submit"]').click();
    await page.waitForFunction(() => document.body.dataset.registered === 'true');

    // Without an account session, self-enrolment sends the browser to the account page's sign-in.
    await page.goto(`${server.issuer}/account/enrol?tenant=gym`);
    await page.waitForURL(/\/interaction\/[^/]+$/);
    await page.locator('#passkey').click();
    // Signed in, the browser comes back to the self-enrolment it asked for.
    await page.waitForURL((url) => url.pathname === '/account/enrol' && url.search === '?tenant=gym');

    const started = performance.now();
    let checkingMs = 0;
    const check = async (name: string) => {
      const t = performance.now();
      await screenOk(page, name);
      checkingMs += performance.now() - t;
    };
    expect(await page.locator('#notice-text').textContent()).toContain('City Gym uses palmid');
    await check('self notice');
    await page.locator('#accept button').click();
    await page.waitForURL(/\/account\/enrol\?tenant=gym$/);
    await page.locator('#enrol-start').waitFor({ state: 'visible' });
    await check('self capture');
    await page.locator('#enrol-start').click();
    const outcome = await page.waitForFunction(
      () => {
        const root = document.getElementById('enrol')!;
        return (
          (root.dataset.state === 'done' || root.dataset.state === 'error' || root.dataset.outcome) && root.dataset
        );
      },
      undefined,
      { timeout: WAIT },
    );
    expect(
      (await outcome.jsonValue()) as Record<string, string>,
      (await page.locator('#enrol-feedback').textContent()) ?? '',
    ).toMatchObject({ state: 'done', tracker: 'live', captured: '3' });
    await check('self capture done');
    await page.locator('#enrol-next button').click();
    await page.waitForURL(/\/account\/enrol\/done\?tenant=gym$/);
    const seconds = (performance.now() - started - checkingMs) / 1000;
    expect(await page.locator('#done-summary').textContent()).toContain('City Gym');
    await check('self done');
    console.info(
      `[enrol] self-enrolment, notice to done: ${seconds.toFixed(1)} s of wall time (reported, not asserted)`,
    );

    const consent = await server.db.prisma.consent.findFirstOrThrow({ where: { personId: eveId } });
    expect(consent).toMatchObject({
      tenantId: 'gym',
      method: 'self',
      recordedById: null,
      station: null,
      noticeVersion: 1,
    });
    expect(await server.db.prisma.palmReference.count({ where: { personId: eveId, tenantId: 'gym' } })).toBe(1);
    const actions = (await server.db.prisma.auditEvent.findMany({ where: { actor: eveId } })).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['consent.granted', 'palm.enrolled', 'self.palm_enrolled']));
    await context.close();
  });
});
