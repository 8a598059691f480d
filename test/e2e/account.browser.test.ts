import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCardVault } from '../../adapters/card-vault.js';
import { PALM_TEMPLATE_EXPLANATION } from '../../src/accounts/accountData.js';
import { linkCard, setLoyaltyNumber } from '../../src/accounts/cards.js';
import { createInvitation, invitationUrl } from '../../src/accounts/invitations.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { setPin } from '../../src/readers/pin.js';
import { accessibilityViolations } from '../support/axe.js';
import { COEP, haveChromium, haveCoep, pageWithPasskeys, SHOTS, VIRTUAL_AUTHENTICATOR } from '../support/browser.js';
import { CHROMIUM } from '../support/fakeCamera.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The account page (#13 item 4) in Chromium, at a phone's width (375 px): sign-in with a passkey
 * (CDP virtual authenticator) through palmid's own login, then each action of the page, the
 * export's content, and deletion leaving no palm data. axe-core checks the page with every
 * section filled. Palm sign-in to the page (the login's palm path) is covered over HTTP in
 * test/accounts/account.test.ts; palm data here is enrolled from photos, no camera needed.
 */
const photo = (id: number, s: number) => path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`);
const WAIT = 20_000;

async function statusText(page: Page): Promise<string> {
  return ((await page.locator('#status').textContent()) ?? '').trim();
}

/** Submits the form of `button` and waits for the page it leads to. */
async function submit(page: Page, name: string | RegExp): Promise<string> {
  await Promise.all([
    page.waitForURL(/\/account(\?|$)/, { timeout: WAIT }),
    page.getByRole('button', { name }).click(),
  ]);
  return statusText(page);
}

describe.skipIf(!haveChromium || !haveCoep)('the account page in Chromium (375 px, virtual authenticator)', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer({ name: 'pglite' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('signs in with a passkey; every action works and is audited; export and deletion leave nothing behind', {
    timeout: 90_000,
  }, async () => {
    const db = server.db;
    const context = await browser.newContext({ viewport: { width: 375, height: 800 }, acceptDownloads: true });
    const { page, cdp, authenticatorId: laptop } = await pageWithPasskeys(context, WAIT);

    // Cy registers a passkey through an invitation; the rest of her data is made by the services.
    const invitation = await createInvitation(db, { email: 'cy@example.org', role: 'user', ttlSeconds: 600 });
    await page.goto(invitationUrl(server.issuer, invitation.token));
    await page.getByLabel(/^Name/).fill('Cy');
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await page.waitForFunction(() => document.body.dataset.registered === 'true');
    const cy = await db.prisma.person.findUniqueOrThrow({ where: { email: 'cy@example.org' } });
    const bio = new BiometricContext(db, server.master);
    for (const [id, name] of [
      ['office', 'Office'],
      ['shop', 'Shop'],
      ['gym', 'Gym'],
    ] as const) {
      await addTenant(db, { id, name });
      await recordConsent(db, cy.id, id, 1);
      await enrolPalm(bio, {
        personId: cy.id,
        tenantId: id,
        hand: 'right',
        captures: [photo(2, 1), photo(2, 2)].map((f) => fs.readFileSync(f)),
        kind: 'hand',
        minCaptures: 2,
      });
    }
    await setPin(db, cy.id, '1234');
    const vault = new LocalCardVault(db, server.master.derive('card-vault'));
    const card = await linkCard(db, vault, cy.id, { number: '4242424242424242', expMonth: 7, expYear: 2099 });
    await setLoyaltyNumber(db, cy.id, 'shop', 'SHOP-0042');
    const { client_id } = await server.addClient({ name: 'Example RP' });
    const provider = server.provider();
    const grant = new provider.Grant({ accountId: cy.id, clientId: client_id });
    grant.addOIDCScope('openid email');
    await grant.save();

    // Sign-in: /account sends the browser to palmid's login as the palmid-account client.
    await page.goto(`${server.issuer}/account`);
    await page.waitForURL(/\/interaction\//);
    await page.locator('#passkey').click();
    await page.waitForURL(`${server.issuer}/account`);
    expect(await page.locator('h1').textContent()).toBe('Your account');
    expect(await page.getByText('Signed in as cy@example.org.').count()).toBe(1);

    // Usable at 375 px: nothing wider than the screen; accessible with every section filled.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    expect(await accessibilityViolations(page)).toEqual([]);
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: `${SHOTS}/account-375.png`, fullPage: true });

    // Profile.
    await page.getByLabel('Name', { exact: true }).fill('Cy Dupont');
    expect(await submit(page, 'Save profile')).toBe('Your profile was saved.');
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('Cy Dupont');

    // Passkeys: add one from a second device (the first already holds Cy's, which the page
    // excludes), rename the first, remove the new one.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: laptop });
    await cdp.send('WebAuthn.addVirtualAuthenticator', VIRTUAL_AUTHENTICATOR);
    await page.getByLabel(/^Name for a new passkey/).fill('Backup key');
    await Promise.all([
      page.waitForURL(/done=passkey_added/),
      page.getByRole('button', { name: 'Add a passkey' }).click(),
    ]);
    expect(await statusText(page)).toBe('Your new passkey was added.');
    expect(await page.locator('li.passkey').count()).toBe(2);
    await page.getByLabel('New name for Passkey 1').fill('Laptop');
    await page.locator('li.passkey').first().getByRole('button', { name: 'Save name' }).click();
    await page.waitForURL(/done=passkey_renamed/);
    expect(await page.locator('li.passkey h3').allTextContents()).toEqual(['Laptop', 'Backup key']);
    expect(await submit(page, 'Remove Backup key')).toBe('The passkey was removed.');
    expect(await page.locator('li.passkey').count()).toBe(1);
    // The last one asks for confirmation (the box is required: the browser itself holds the form).
    expect(await page.getByText('I understand, remove my last passkey').count()).toBe(1);

    // Palms and consents: the notice text accepted; delete palms at Office, withdraw at Shop.
    const office = page.locator('li.tenant[data-tenant="office"]');
    expect(await office.locator('li.palm').textContent()).toMatch(/Right hand: enrolled .*, last used /);
    await office.locator('summary').click();
    expect(await office.locator('.notice-text').textContent()).toContain('Office uses palmid to recognise your palm');
    expect(await office.getByRole('link', { name: 'Enrol a palm at Office' }).getAttribute('href')).toBe(
      '/account/enrol?tenant=office',
    );
    expect(await submit(page, 'Delete my palms at Office')).toBe('Your palms there were deleted.');
    expect(await db.prisma.palmReference.count({ where: { personId: cy.id, tenantId: 'office' } })).toBe(0);
    expect(await submit(page, 'Withdraw consent at Shop')).toBe(
      'Your consent was withdrawn and your palms there deleted.',
    );
    expect(await db.prisma.palmReference.count({ where: { personId: cy.id, tenantId: 'shop' } })).toBe(0);
    expect(await db.prisma.consent.count({ where: { personId: cy.id, tenantId: 'shop', withdrawnAt: null } })).toBe(0);

    // PIN: the current one is needed to change it.
    await page.getByLabel('Current PIN').fill('0000');
    await page.getByLabel(/^New PIN \(/).fill('5678');
    await page.getByLabel('New PIN again').fill('5678');
    expect(await submit(page, 'Change PIN')).toBe('The current PIN is not right.');
    await page.getByLabel('Current PIN').fill('1234');
    await page.getByLabel(/^New PIN \(/).fill('5678');
    await page.getByLabel('New PIN again').fill('5678');
    expect(await submit(page, 'Change PIN')).toBe('Your PIN was changed.');

    // Cards, loyalty numbers, applications.
    expect(await page.getByText('Visa ending in 4242').count()).toBe(1);
    expect(await submit(page, 'Unlink the card ending in 4242')).toBe('The card was unlinked.');
    expect(await db.prisma.vaultEntry.count({ where: { token: card.vaultToken } })).toBe(0);
    expect(await submit(page, 'Unlink the loyalty number at Shop')).toBe('The loyalty number was unlinked.');
    expect(await submit(page, 'Revoke access of Example RP')).toBe("The application's access was revoked.");
    expect(await provider.Grant.find(grant.jti)).toBeUndefined();

    // Download my data: one JSON file, everything about Cy, templates explained, not included.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download my data' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^palmid-account-\d{4}-\d{2}-\d{2}\.json$/);
    const text = fs.readFileSync((await download.path())!, 'utf8');
    const data = JSON.parse(text);
    expect(data.profile).toMatchObject({ email: 'cy@example.org', name: 'Cy Dupont', pinSet: true });
    expect(data.passkeys.map((p: { name: string }) => p.name)).toEqual(['Laptop']);
    expect(data.palms).toEqual([expect.objectContaining({ tenantId: 'gym', tenantName: 'Gym', hand: 'right' })]);
    expect(data.palmTemplates).toBe(PALM_TEMPLATE_EXPLANATION);
    expect(data.consents.find((c: { tenantId: string }) => c.tenantId === 'gym').noticeText).toContain(
      'Gym uses palmid to recognise your palm',
    );
    expect(data.cards).toEqual([]);
    expect(data.apps).toEqual([]);
    const actions = data.auditEvents.map((e: { action: string }) => e.action);
    for (const action of [
      'account.signin',
      'account.profile_updated',
      'account.passkey_added',
      'account.passkey_renamed',
      'account.passkey_removed',
      'account.palms_deleted',
      'consent.withdrawn',
      'account.pin_changed',
      'account.card_unlinked',
      'account.loyalty_unlinked',
      'account.app_revoked',
    ])
      expect(actions).toContain(action);
    for (const secret of ['pinHash', 'vaultToken', 'publicKey', 'fineTemplate', 'wrappedKey'])
      expect(text).not.toContain(secret);

    // Delete my account: the email typed to confirm; afterwards no palm data and no data key.
    expect(await db.prisma.personDataKey.count({ where: { personId: cy.id } })).toBe(1);
    await page.getByLabel(/^Type your email address/).fill('cy@example.org');
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.waitForURL(`${server.issuer}/account/delete`);
    expect(await page.locator('h1').textContent()).toBe('Account deleted');
    expect(await db.prisma.person.count({ where: { id: cy.id } })).toBe(0);
    expect(await db.prisma.palmReference.count({ where: { personId: cy.id } })).toBe(0);
    expect(await db.prisma.personDataKey.count({ where: { personId: cy.id } })).toBe(0);
    expect(
      await db.prisma.auditEvent.count({ where: { action: 'person.removed', subject: cy.id, actor: cy.id } }),
    ).toBe(1);
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });
});
