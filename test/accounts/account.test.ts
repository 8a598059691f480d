/**
 * The account page's services and routes (#13 item 4) over HTTP, on PGlite and (with
 * TEST_DATABASE_URL) PostgreSQL: the first-party OIDC sign-in (code + PKCE redeemed in-process),
 * each change and its audit event, the export's content, and deletion leaving no palm data.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCardVault } from '../../adapters/card-vault.js';
import { exportAccount, PALM_TEMPLATE_EXPLANATION } from '../../src/accounts/accountData.js';
import { AccountError, removePasskey, renamePasskey, revokeApp } from '../../src/accounts/accountActions.js';
import { linkCard, setLoyaltyNumber } from '../../src/accounts/cards.js';
import { createInvitation, invitationUrl } from '../../src/accounts/invitations.js';
import { listSubjectRequests } from '../../src/accounts/subjectRequests.js';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { LastAdministratorError, removePersonAndData } from '../../src/biometrics/personRemoval.js';
import { ACCOUNT_CLIENT_ID, setAccountClientTenant } from '../../src/oidc/accountClient.js';
import { setPin } from '../../src/readers/pin.js';
import { SoftAuthenticator } from '../support/authenticator.js';
import { registerPasskey, UserAgent } from '../support/browserless.js';
import { codeFlowTokens, discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP);
const photo = (id: number, s: number) => path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`);

/** Signs in to /account with the passkey, as the page scripts would; the final response. */
async function signInToAccount(server: TestServer, agent: UserAgent, authenticator: SoftAuthenticator) {
  const origin = server.issuer;
  let { response, url } = await agent.follow(`${origin}/account`, origin);
  const uid = /\/interaction\/([^/?]+)/.exec(url)?.[1];
  if (!uid) throw new Error(`expected the login page, got ${url}`);
  expect(await response.text()).toContain('id="passkey"');
  const options = await agent.fetch(`${origin}/interaction/${uid}/passkey/options`, { method: 'POST' });
  const assertion = authenticator.get((await options.json()) as { challenge: string }, origin);
  const verify = await agent.postJson(`${origin}/interaction/${uid}/passkey/verify`, assertion);
  expect(verify.status).toBe(200);
  const { redirectTo } = (await verify.json()) as { redirectTo: string };
  ({ response, url } = await agent.follow(redirectTo, origin));
  return { response, url };
}

/** A form post from the page itself (the Origin header browsers send). */
function post(server: TestServer, agent: UserAgent, pathname: string, form: Record<string, string> = {}) {
  return agent.fetch(`${server.issuer}${pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.issuer },
    body: new URLSearchParams(form).toString(),
  });
}

describe.each(databaseKinds)('account page ($name)', (kind) => {
  let server: TestServer;
  let bio: BiometricContext;
  const authenticator = new SoftAuthenticator();
  /** Ana's second device: the passkey she adds on the page. */
  const phone = new SoftAuthenticator();
  const agent = new UserAgent();
  let anaId: string;

  beforeAll(async () => {
    server = await startTestServer(kind);
    bio = new BiometricContext(server.db, server.master);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    await addTenant(server.db, { id: 'shop', name: 'Shop' });
    const ana = await createPerson(server.db, { email: 'ana@example.org', name: 'Ana', role: 'user' });
    anaId = ana.id;
    const invitation = await createInvitation(server.db, { email: ana.email, role: 'user', ttlSeconds: 600 });
    const registered = await registerPasskey(
      new UserAgent(),
      invitationUrl(server.issuer, invitation.token),
      authenticator,
      { email: ana.email },
    );
    expect(registered.status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('signs in as a first-party OIDC client: code + PKCE redeemed in-process, no grant left, fresh sign-in each time', async () => {
    // Not signed in: the page sends the browser to the authorization endpoint as palmid-account.
    const first = await new UserAgent().fetch(`${server.issuer}/account`);
    expect(first.status).toBe(302);
    const authorize = new URL(first.headers.get('location')!);
    expect(authorize.pathname).toBe('/auth');
    expect(authorize.searchParams.get('client_id')).toBe(ACCOUNT_CLIENT_ID);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('prompt')).toBe('login');
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${server.issuer}/account/callback`);

    const { response, url } = await signInToAccount(server, agent, authenticator);
    expect(new URL(url).pathname).toBe('/account');
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('ana@example.org');
    expect(html).toContain('href="/account/enrol?tenant=office"');
    // No consent page for palmid's own client, and it keeps no grant or token afterwards.
    const held = await server.db.prisma.oidcPayload.findMany({
      where: { payload: { path: ['clientId'], equals: ACCOUNT_CLIENT_ID }, type: { not: 'Session' } },
    });
    expect(held.filter((p) => p.type !== 'AuthorizationCode').map((p) => p.type)).toEqual([]);
    const signin = await server.db.prisma.auditEvent.findFirst({ where: { action: 'account.signin', actor: anaId } });
    expect(signin?.detail).toEqual({ acr: 'phr' });
  });

  it('refuses a callback whose state or code is not this browser sign-in', async () => {
    const stranger = new UserAgent();
    const start = await stranger.fetch(`${server.issuer}/account`);
    const state = new URL(start.headers.get('location')!).searchParams.get('state');
    const wrongState = await stranger.fetch(`${server.issuer}/account/callback?code=x&state=not-${state}`);
    expect(wrongState.status).toBe(400);
    const noCookie = await new UserAgent().fetch(`${server.issuer}/account/callback?code=x&state=${state}`);
    expect(noCookie.status).toBe(400);
    const start2 = await stranger.fetch(`${server.issuer}/account`);
    const state2 = new URL(start2.headers.get('location')!).searchParams.get('state');
    const forged = await stranger.fetch(`${server.issuer}/account/callback?code=forged&state=${state2}`);
    expect(forged.status).toBe(400);
    expect(forged.headers.getSetCookie().some((c) => c.startsWith('palmid_account='))).toBe(false);
  });

  it('refuses cross-origin writes and writes without a session', async () => {
    const cross = await agent.fetch(`${server.issuer}/account/profile`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: 'name=Mallory',
    });
    expect(cross.status).toBe(403);
    const anonymous = await post(server, new UserAgent(), '/account/profile', { name: 'Mallory' });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/account');
    expect((await server.db.prisma.person.findUniqueOrThrow({ where: { id: anaId } })).name).toBe('Ana');
  });

  it('updates the profile, sets and changes the PIN (the old one required), renames a passkey', async () => {
    const profile = await post(server, agent, '/account/profile', {
      name: 'Ana Lopes',
      phone: '+41 44 668 18 00',
      locale: 'fr',
    });
    expect(profile.headers.get('location')).toBe('/account?done=profile#profile');
    const row = await server.db.prisma.person.findUniqueOrThrow({ where: { id: anaId } });
    expect([row.name, row.phone, row.locale]).toEqual(['Ana Lopes', '+41446681800', 'fr']);
    // The page speaks the language chosen in the profile.
    const french = await (await agent.fetch(`${server.issuer}/account`)).text();
    expect(french).toContain('<html lang="fr">');
    expect(french).toContain('Votre compte');
    await post(server, agent, '/account/profile', { name: 'Ana Lopes', phone: '+41446681800', locale: '' });
    expect(await (await agent.fetch(`${server.issuer}/account`)).text()).toContain('<html lang="en">');
    const bad = await post(server, agent, '/account/profile', { name: 'x', phone: '0446681800' });
    expect(bad.headers.get('location')).toBe('/account?error=profile_invalid#profile');

    expect((await post(server, agent, '/account/pin', { pin: '1234', confirm: '1234' })).headers.get('location')).toBe(
      '/account?done=pin_set#pin',
    );
    const wrong = await post(server, agent, '/account/pin', { current: '9999', pin: '5678', confirm: '5678' });
    expect(wrong.headers.get('location')).toBe('/account?error=pin_wrong#pin');
    const mismatch = await post(server, agent, '/account/pin', { current: '1234', pin: '5678', confirm: '5679' });
    expect(mismatch.headers.get('location')).toBe('/account?error=pin_mismatch#pin');
    const changed = await post(server, agent, '/account/pin', { current: '1234', pin: '5678', confirm: '5678' });
    expect(changed.headers.get('location')).toBe('/account?done=pin_changed#pin');

    const [passkey] = await server.db.prisma.passkey.findMany({ where: { personId: anaId } });
    const renamed = await post(server, agent, `/account/passkeys/${passkey!.id}/rename`, { name: 'Laptop' });
    expect(renamed.headers.get('location')).toBe('/account?done=passkey_renamed#passkeys');
    expect((await server.db.prisma.passkey.findUniqueOrThrow({ where: { id: passkey!.id } })).name).toBe('Laptop');
    await expect(renamePasskey(server.db, 'someone-else', passkey!.id, 'Mine')).rejects.toThrow(AccountError);

    const actions = (await server.db.prisma.auditEvent.findMany({ where: { actor: anaId } })).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'account.profile_updated',
        'account.pin_set',
        'account.pin_changed',
        'account.passkey_renamed',
      ]),
    );
  });

  it('adds a passkey for the person signed in, and removes the last one only when confirmed', async () => {
    const start = await agent.fetch(`${server.issuer}/account/passkeys/options`, {
      method: 'POST',
      headers: { origin: server.issuer },
    });
    expect(start.status).toBe(200);
    const { ceremony, publicKey } = (await start.json()) as { ceremony: string; publicKey: never };
    const response = phone.create(publicKey, server.issuer);
    const verify = await agent.fetch(`${server.issuer}/account/passkeys/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.issuer },
      body: JSON.stringify({ ceremony, response, name: 'Phone' }),
    });
    expect(verify.status).toBe(200);
    const passkeys = await server.db.prisma.passkey.findMany({
      where: { personId: anaId },
      orderBy: { createdAt: 'asc' },
    });
    expect(passkeys.map((p) => p.name)).toEqual(['Laptop', 'Phone']);

    // The first goes without a question; the last needs the box ticked.
    const removed = await post(server, agent, `/account/passkeys/${passkeys[0]!.id}/remove`);
    expect(removed.headers.get('location')).toBe('/account?done=passkey_removed#passkeys');
    const refused = await post(server, agent, `/account/passkeys/${passkeys[1]!.id}/remove`);
    expect(refused.headers.get('location')).toBe('/account?error=last_passkey#passkeys');
    await expect(removePasskey(server.db, anaId, passkeys[1]!.id, { confirmLast: false })).rejects.toMatchObject({
      reason: 'last_passkey',
    });
    expect(await server.db.prisma.passkey.count({ where: { personId: anaId } })).toBe(1);
  });

  it('lists and revokes applications: the grant and every token under it go', async () => {
    const redirectUri = 'http://127.0.0.1:9/cb';
    const { client_id, client_secret } = await server.addClient({ name: 'Example RP', redirectUris: [redirectUri] });
    const rp = await discoverRp(server, { client_id, client_secret });
    const tokens = await codeFlowTokens(rp, phone, { redirectUri, scope: 'openid email' });
    expect(tokens.access_token).toBeTruthy();
    const page = await (await agent.fetch(`${server.issuer}/account`)).text();
    expect(page).toContain('Example RP');
    const revoked = await post(server, agent, `/account/apps/${client_id}/revoke`);
    expect(revoked.headers.get('location')).toBe('/account?done=app_revoked#apps');
    const left = await server.db.prisma.oidcPayload.findMany({
      where: {
        payload: { path: ['clientId'], equals: client_id },
        type: { in: ['Grant', 'AccessToken', 'RefreshToken'] },
      },
    });
    expect(left).toEqual([]);
    const userinfo = await fetch(`${server.issuer}/me`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(userinfo.status).toBe(401);
    await expect(revokeApp(server.db, anaId, client_id)).rejects.toMatchObject({ reason: 'not_found' });
    expect(
      await server.db.prisma.auditEvent.count({ where: { action: 'account.app_revoked', subject: client_id } }),
    ).toBe(1);
  });

  it('unlinks a card (the vault forgets the number) and a loyalty number', async () => {
    const vault = new LocalCardVault(server.db, server.master.derive('card-vault'));
    const card = await linkCard(server.db, vault, anaId, {
      number: '4242 4242 4242 4242',
      expMonth: 12,
      expYear: 2099,
    });
    await setLoyaltyNumber(server.db, anaId, 'shop', 'SHOP-1234');
    const page = await (await agent.fetch(`${server.issuer}/account`)).text();
    expect(page).toContain('Visa ending in 4242');
    expect(page).toContain('SHOP-1234');
    const unlinked = await post(server, agent, `/account/cards/${card.id}/unlink`);
    expect(unlinked.headers.get('location')).toBe('/account?done=card_unlinked#cards');
    expect(await server.db.prisma.paymentCard.count({ where: { personId: anaId } })).toBe(0);
    expect(await server.db.prisma.vaultEntry.count({ where: { token: card.vaultToken } })).toBe(0);
    const loyalty = await post(server, agent, '/account/loyalty/shop/unlink');
    expect(loyalty.headers.get('location')).toBe('/account?done=loyalty_unlinked#cards');
    expect(await server.db.prisma.loyaltyNumber.count({ where: { personId: anaId } })).toBe(0);
  });

  it.skipIf(!haveData)(
    'shows palms and consents per tenant; palm deletion and withdrawal erase the data',
    async () => {
      await recordConsent(server.db, anaId, 'office', 1);
      await recordConsent(server.db, anaId, 'shop', 1);
      for (const tenantId of ['office', 'shop'])
        await enrolPalm(bio, {
          personId: anaId,
          tenantId,
          hand: 'right',
          captures: [photo(2, 1), photo(2, 2)].map((f) => fs.readFileSync(f)),
          kind: 'hand',
          minCaptures: 2,
        });
      const page = await (await agent.fetch(`${server.issuer}/account`)).text();
      expect(page).toContain('Office');
      expect(page).toMatch(/version 1 of the notice/);
      expect(page).toContain('Office uses palmid to recognise your palm'); // the notice text accepted

      const deleted = await post(server, agent, '/account/tenants/office/palms/delete');
      expect(deleted.headers.get('location')).toBe('/account?done=palms_deleted#tenants');
      expect(await server.db.prisma.palmReference.count({ where: { personId: anaId, tenantId: 'office' } })).toBe(0);
      expect(await server.db.prisma.palmReference.count({ where: { personId: anaId, tenantId: 'shop' } })).toBe(1);
      expect(
        await server.db.prisma.consent.count({ where: { personId: anaId, tenantId: 'office', withdrawnAt: null } }),
      ).toBe(1);

      // Nothing there: refused before any erasure (each rotates a key bucket).
      const rotations = await server.db.prisma.dataKeyBucket.aggregate({ _sum: { version: true } });
      const nothing = await post(server, agent, '/account/tenants/office/palms/delete');
      expect(nothing.headers.get('location')).toBe('/account?error=invalid#tenants');
      expect(await server.db.prisma.dataKeyBucket.aggregate({ _sum: { version: true } })).toEqual(rotations);
      const withdrawn = await post(server, agent, '/account/tenants/shop/consent/withdraw');
      expect(withdrawn.headers.get('location')).toBe('/account?done=consent_withdrawn#tenants');
      expect(await server.db.prisma.palmReference.count({ where: { personId: anaId } })).toBe(0);
      // No reference left: the data key is destroyed too.
      expect(await server.db.prisma.personDataKey.count({ where: { personId: anaId } })).toBe(0);
      expect(
        await server.db.prisma.consent.count({ where: { personId: anaId, tenantId: 'shop', withdrawnAt: null } }),
      ).toBe(0);
      const again = await post(server, agent, '/account/tenants/shop/consent/withdraw');
      expect(again.headers.get('location')).toBe('/account?error=invalid#tenants');
    },
    60_000,
  );

  it('exports everything held about the person as one JSON file, without secrets or templates', async () => {
    const vault = new LocalCardVault(server.db, server.master.derive('card-vault'));
    await linkCard(server.db, vault, anaId, { number: '5555 5555 5555 4444', expMonth: 1, expYear: 2098 });
    await recordConsent(server.db, anaId, 'office', 1);
    const response = await post(server, agent, '/account/export');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toMatch(
      /^attachment; filename="palmid-account-\d{4}-\d{2}-\d{2}\.json"$/,
    );
    const text = await response.text();
    const data = JSON.parse(text);
    expect(data).toMatchObject({
      format: 'palmid-account-export',
      profile: { id: anaId, email: 'ana@example.org', name: 'Ana Lopes', pinSet: true },
      palmTemplates: PALM_TEMPLATE_EXPLANATION,
      cards: [{ brand: 'mastercard', last4: '4444', expMonth: 1, expYear: 2098 }],
    });
    expect(data.passkeys).toHaveLength(1);
    expect(data.passkeys[0]).toMatchObject({ name: 'Phone' });
    const office = data.consents.find(
      (c: { tenantId: string; withdrawnAt: unknown }) => c.tenantId === 'office' && !c.withdrawnAt,
    );
    expect(office.noticeText).toContain('Office uses palmid to recognise your palm');
    expect(data.auditEvents.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(['account.signin', 'account.pin_changed', 'account.card_unlinked']),
    );
    // Nothing that opens or identifies beyond the person's own view.
    for (const secret of ['pinHash', 'vaultToken', 'publicKey', 'fineTemplate', 'wrappedKey', 'webauthnId'])
      expect(text).not.toContain(secret);
    const pin = (await server.db.prisma.person.findUniqueOrThrow({ where: { id: anaId } })).pinHash!;
    expect(text).not.toContain(pin);
    expect(await exportAccount(server.db, 'nobody')).toBeNull();
    expect(await server.db.prisma.auditEvent.count({ where: { action: 'account.exported', actor: anaId } })).toBe(1);
  });

  it.skipIf(!haveData)(
    'signs in with a palm where the operator names a tenant: "who was recognised" first; passkey changes then need a passkey sign-in',
    async () => {
      await setAccountClientTenant(server.db, 'office');
      const bo = await createPerson(server.db, { email: 'bo@example.org', name: 'Bo', role: 'user' });
      await recordConsent(server.db, bo.id, 'office', 1);
      await enrolPalm(bio, {
        personId: bo.id,
        tenantId: 'office',
        hand: 'right',
        captures: [photo(9, 1), photo(9, 2)].map((f) => fs.readFileSync(f)),
        kind: 'hand',
        minCaptures: 2,
      });
      const boAgent = new UserAgent();
      const { url: login, response: page } = await boAgent.follow(`${server.issuer}/account`, server.issuer);
      expect(await page.text()).toContain('id="palm"');
      const uid = /\/interaction\/([^/?#]+)$/.exec(login)![1]!;
      const frame = await sharp(fs.readFileSync(photo(9, 3)))
        .resize({ width: 640 })
        .jpeg({ quality: 85 })
        .toBuffer();
      const identified = await boAgent.fetch(`${server.issuer}/interaction/${uid}/palm`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: new Uint8Array(frame),
      });
      expect(identified.status).toBe(200);
      const { redirectTo } = (await identified.json()) as { redirectTo: string };
      let { response, url } = await boAgent.follow(redirectTo, server.issuer);
      const confirm = await response.text();
      expect(confirm).toContain('Bo'); // whom the palm recognised, before the account page opens
      ({ response, url } = await boAgent.follow(
        `${server.issuer}/interaction/${/\/interaction\/([^/?#]+)/.exec(url)![1]}/confirm`,
        server.issuer,
        { method: 'POST' },
      ));
      expect(new URL(url).pathname).toBe('/account');
      expect(await response.text()).toContain('bo@example.org');
      expect(
        (await server.db.prisma.auditEvent.findFirst({ where: { action: 'account.signin', actor: bo.id } }))?.detail,
      ).toEqual({ acr: 'urn:palmid:acr:palm' });

      // Palm-only: may add a first passkey after a palm sign-in.
      const options = () =>
        boAgent.fetch(`${server.issuer}/account/passkeys/options`, {
          method: 'POST',
          headers: { origin: server.issuer },
        });
      expect((await options()).status).toBe(200);
      // With a passkey, a palm sign-in (1:N) may not change passkeys or delete the account.
      await server.db.prisma.passkey.create({
        data: {
          id: 'bo-key',
          personId: bo.id,
          publicKey: Buffer.from([1]),
          deviceType: 'singleDevice',
          backedUp: false,
        },
      });
      expect((await options()).status).toBe(403);
      const remove = await post(server, boAgent, '/account/passkeys/bo-key/remove', { confirm_last: 'on' });
      expect(remove.headers.get('location')).toBe('/account?error=passkey_signin#passkeys');
      const pin = await post(server, boAgent, '/account/pin', { pin: '1357', confirm: '1357' });
      expect(pin.headers.get('location')).toBe('/account?error=passkey_signin#pin');
      const erase = await post(server, boAgent, '/account/delete', { confirm_email: 'bo@example.org' });
      expect(erase.headers.get('location')).toBe('/account?error=passkey_signin#delete');
      expect(await server.db.prisma.person.count({ where: { id: bo.id } })).toBe(1);
      await setAccountClientTenant(server.db, null);
    },
    60_000,
  );

  it('keeps the last administrator; deletes an account with everything, palm data and its key first', async () => {
    const vault = new LocalCardVault(server.db, server.master.derive('card-vault'));
    const root = await createPerson(server.db, { email: 'root@example.org', role: 'user' });
    await server.db.prisma.person.update({ where: { id: root.id }, data: { role: 'admin' } });
    await expect(removePersonAndData(bio, root.id, { vault, actor: root.id })).rejects.toThrow(LastAdministratorError);

    if (haveData)
      await enrolPalm(bio, {
        personId: anaId,
        tenantId: 'office',
        hand: 'left',
        captures: [photo(5, 1), photo(5, 2)].map((f) => fs.readFileSync(f)),
        kind: 'hand',
        minCaptures: 2,
      });
    await setPin(server.db, anaId, '2468');
    const unconfirmed = await post(server, agent, '/account/delete', { confirm_email: 'someone@example.org' });
    expect(unconfirmed.headers.get('location')).toBe('/account?error=confirm_email#delete');
    const deleted = await post(server, agent, '/account/delete', { confirm_email: 'Ana@Example.org' });
    expect(deleted.status).toBe(200);
    const goodbye = await deleted.text();
    expect(goodbye).toContain('Account deleted');
    // Every request the person made is in the operators' queue with a receipt, the erasure too,
    // and the page gives its receipt: the request and the fingerprint the queue keeps.
    const requests = await listSubjectRequests(server.db, { personId: anaId });
    expect(requests.map((r) => [r.kind, r.source, r.status]).sort()).toEqual(
      [
        ['erasure', 'account', 'done'],
        ['export', 'account', 'done'],
        ['withdrawal', 'account', 'done'],
      ].sort(),
    );
    const erasure = requests.find((r) => r.kind === 'erasure')!;
    expect(erasure.outcome).toMatch(/account erased on the account page/);
    expect(goodbye).toContain(erasure.id);
    expect(goodbye).toContain(erasure.receiptHash!);
    for (const count of [
      server.db.prisma.person.count({ where: { id: anaId } }),
      server.db.prisma.palmReference.count({ where: { personId: anaId } }),
      server.db.prisma.personDataKey.count({ where: { personId: anaId } }),
      server.db.prisma.passkey.count({ where: { personId: anaId } }),
      server.db.prisma.consent.count({ where: { personId: anaId } }),
      server.db.prisma.paymentCard.count({ where: { personId: anaId } }),
      server.db.prisma.oidcPayload.count({ where: { payload: { path: ['accountId'], equals: anaId } } }),
    ])
      expect(await count).toBe(0);
    if (haveData)
      expect(
        await server.db.prisma.auditEvent.count({ where: { action: 'palm.erased', subject: anaId, actor: anaId } }),
      ).toBe(1);
    // The session is gone with the person: the page starts a new sign-in.
    expect((await agent.fetch(`${server.issuer}/account`)).status).toBe(302);
  }, 60_000);
});
