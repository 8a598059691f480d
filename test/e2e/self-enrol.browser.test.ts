import { describe, expect, it } from 'vitest';
import { createInvitation, invitationUrl } from '../../src/accounts/invitations.js';
import { canFilmPalms, enrolmentOutcome, pageWithPasskeys, screenOk, useCameraStation } from '../support/browser.js';

/**
 * Self-enrolment in Chromium at 375 px: a person signed in to their account page opens
 * /account/enrol for a tenant, reads and accepts the notice themselves, and their webcam (a fake
 * camera filming a COEP photo) enrols the palm through the same capture component as the station.
 * The person signs in through the account page (/account: a passkey at palmid's login page).
 */
const WAIT = 90_000;

describe.skipIf(!canFilmPalms)('self-enrolment in Chromium (fake camera)', () => {
  // Eve's palm before her webcam.
  const station = useCameraStation('030_01.jpg', { id: 'gym', name: 'City Gym' });

  it('the person reads and accepts the notice, then enrols their palm with their own camera', {
    timeout: 150_000,
  }, async () => {
    // Eve has a passkey (registered through her invitation) and signs in to her account page with it.
    const { server, browser } = station;
    const invitation = await createInvitation(server.db, { email: 'eve@example.org', role: 'user', ttlSeconds: 3600 });
    const eveId = invitation.personId!;
    const context = await browser.newContext({ viewport: { width: 375, height: 812 } });
    const { page } = await pageWithPasskeys(context, WAIT);
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
      await screenOk(page, name, 'self-enrol');
      checkingMs += performance.now() - t;
    };
    expect(await page.locator('#notice-text').textContent()).toContain('City Gym uses palmid');
    await check('self notice');
    await page.locator('#accept button').click();
    await page.waitForURL(/\/account\/enrol\?tenant=gym$/);
    await page.locator('#enrol-start').waitFor({ state: 'visible' });
    await check('self capture');
    await page.locator('#enrol-start').click();
    expect(
      await enrolmentOutcome(page, WAIT),
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
