import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createInvitation, invitationUrl } from '../../src/accounts/invitations.js';
import { addStaff } from '../../src/accounts/staff.js';
import { canFilmPalms, enrolmentOutcome, pageWithPasskeys, screenOk, useCameraStation } from '../support/browser.js';

/**
 * The enrolment station end to end in Chromium, on a 375 px wide screen: a staff member signs in
 * with a passkey (CDP virtual authenticator), sets up the station, adds a person, who accepts the
 * tenant's notice; the live camera (a fake one filming a COEP photo) captures three good frames of
 * the right palm by itself; a payment card and a loyalty number are linked; the done screen. Every
 * screen is checked with axe and for horizontal overflow. The person's part is timed and reported
 * (the target is under 60 s for a cooperative person), not asserted.
 */
const WAIT = 90_000;

describe.skipIf(!canFilmPalms)('the enrolment station in Chromium (passkey, fake camera)', () => {
  // Dana's palm before the camera.
  const station = useCameraStation('002_03.jpg', { id: 'shop', name: 'Corner Shop' });

  /** Time spent checking screens (not the person's time: left out of the measurement). */
  let checkingMs = 0;

  /** axe finds nothing and nothing overflows the 375 px screen (timed apart). */
  async function checkScreen(page: Page, name: string) {
    const start = performance.now();
    await screenOk(page, name, 'enrol');
    checkingMs += performance.now() - start;
  }

  it('a staff member enrols a person end to end with a card and a loyalty number', { timeout: 180_000 }, async () => {
    const { server, browser } = station;
    const invitation = await createInvitation(server.db, {
      email: 'clerk@example.org',
      role: 'user',
      ttlSeconds: 3600,
    });
    const clerkId = invitation.personId!;
    await addStaff(server.db, { personId: clerkId, tenantId: 'shop' });

    const context = await browser.newContext({ viewport: { width: 375, height: 812 } });
    const { page } = await pageWithPasskeys(context, WAIT);
    const cspErrors: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });

    // The staff member's passkey, registered through their invitation.
    await page.goto(invitationUrl(server.issuer, invitation.token));
    await page.locator('#name').fill('Clerk');
    await page.locator('#register button[type="submit"]').click();
    await page.waitForFunction(() => document.body.dataset.registered === 'true');

    // Station sign-in and set-up.
    await page.goto(`${server.issuer}/enrol`);
    await checkScreen(page, 'sign-in');
    await page.locator('#passkey').click();
    await page.waitForURL(/\/enrol\/desk$/);
    await checkScreen(page, 'desk');
    await page.locator('#desk-tenant').selectOption('shop');
    await page.locator('#desk-station').fill('Front desk 2');
    await page.locator('#desk button[type="submit"]').click();
    await page.waitForURL(/\/enrol\/person$/);
    await checkScreen(page, 'find person');

    // The person's part, timed: from giving their address to the done screen.
    const started = performance.now();
    checkingMs = 0;
    await page.locator('#find-email').fill('dana@example.org');
    await page.locator('#find button[type="submit"]').click();
    await page.locator('#create').waitFor({ state: 'visible' });
    await checkScreen(page, 'add person');
    await page.locator('#create-name').fill('Dana Silva');
    await page.locator('#create-phone').fill('+41 44 668 18 00');
    await page.locator('#create button[type="submit"]').click();
    await page.waitForURL(/\/enrol\/notice$/);
    expect(await page.locator('#notice-text').textContent()).toContain('Corner Shop uses palmid');
    await checkScreen(page, 'notice');
    await page.locator('#accept button').click();
    await page.waitForURL(/\/enrol\/capture$/);
    await checkScreen(page, 'capture');
    const captureStarted = performance.now();
    await page.locator('#enrol-start').click();
    const state = await enrolmentOutcome(page, WAIT);
    const captureSeconds = (performance.now() - captureStarted) / 1000;
    expect(state, (await page.locator('#enrol-feedback').textContent()) ?? '').toMatchObject({
      state: 'done',
      tracker: 'live',
      captured: '3',
    });
    expect(await page.locator('#enrol-results').textContent()).toMatch(/right palm is enrolled/);
    await checkScreen(page, 'capture done');
    await page.locator('#enrol-next button').click();
    await page.waitForURL(/\/enrol\/extras\??$/);
    await checkScreen(page, 'card and loyalty');
    await page.locator('#card-number').fill('4242 4242 4242 4242');
    await page.locator('#card-expiry').fill('12/39');
    await page.locator('#loyalty').fill('CS-000123');
    await page.locator('#extras button[value="save"]').click();
    await page.waitForURL(/\/enrol\/done$/);
    const withChecks = (performance.now() - started) / 1000;
    const seconds = withChecks - checkingMs / 1000;
    const trackerMs = Number(state.trackerInitMs);
    expect(await page.locator('#done-card').textContent()).toMatch(/visa ending 4242/);
    expect(await page.locator('#done-loyalty').textContent()).toBe('CS-000123');
    await checkScreen(page, 'done');
    // Measured on whatever machine runs the tests (software WebGL here): reported, never asserted.
    console.info(
      `[enrol] station enrolment, the person's part (address to done screen, hand tracker start included, ` +
        `screen checks left out): ${seconds.toFixed(1)} s of wall time (${withChecks.toFixed(1)} s with the ` +
        `checks; target < 60 s); the capture step (Start pressed to palm enrolled) took ${captureSeconds.toFixed(1)} s, ` +
        `the hand tracker ${trackerMs} ms to start (it loads when the capture page opens)`,
    );

    // What was recorded: consent with its provenance, one palm, the card as brand and last four.
    const dana = await server.db.prisma.person.findUniqueOrThrow({ where: { email: 'dana@example.org' } });
    expect(dana).toMatchObject({ name: 'Dana Silva', phone: '+41446681800' });
    const consent = await server.db.prisma.consent.findFirstOrThrow({ where: { personId: dana.id } });
    expect(consent).toMatchObject({
      tenantId: 'shop',
      noticeVersion: 1,
      method: 'station',
      station: 'Front desk 2',
      recordedById: clerkId,
      withdrawnAt: null,
    });
    expect(await server.db.prisma.palmReference.count({ where: { personId: dana.id, tenantId: 'shop' } })).toBe(1);
    const cards = await server.db.prisma.paymentCard.findMany({ where: { personId: dana.id } });
    expect(cards).toHaveLength(1);
    expect(cards[0]).toMatchObject({ brand: 'visa', last4: '4242', expMonth: 12, expYear: 2039 });
    expect(JSON.stringify(cards[0])).not.toMatch(/424242/);
    const vaultEntry = await server.db.prisma.vaultEntry.findUniqueOrThrow({ where: { token: cards[0]!.vaultToken } });
    expect(Buffer.from(vaultEntry.ciphertext).toString('latin1')).not.toContain('4242424242424242');
    expect(await server.db.prisma.loyaltyNumber.findFirst({ where: { personId: dana.id } })).toMatchObject({
      tenantId: 'shop',
      number: 'CS-000123',
    });
    const actions = (
      await server.db.prisma.auditEvent.findMany({ where: { OR: [{ actor: clerkId }, { actor: dana.id }] } })
    ).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'station.signin',
        'station.person_created',
        'consent.granted',
        'palm.enrolled',
        'station.palm_enrolled',
        'station.card_linked',
      ]),
    );
    expect(cspErrors).toEqual([]);

    // Next person: back to finding someone, the desk kept.
    await page.locator('#next-person').click();
    await page.waitForURL(/\/enrol\/person$/);
    expect(await page.locator('#station-bar').textContent()).toContain('Front desk 2');
    await context.close();
  });
});
