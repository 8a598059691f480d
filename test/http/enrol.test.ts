/**
 * The enrolment station (/enrol) and self-enrolment (/account/enrol) over HTTP: who may run a
 * tenant's station, what the writes refuse (other origins, no session, another tenant), the
 * consent's provenance, and the palm endpoint's answers (malformed, oversized, duplicate).
 */
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvitation, invitationUrl } from '../../src/accounts/invitations.js';
import { createPerson } from '../../src/accounts/people.js';
import { addStaff, removeStaff } from '../../src/accounts/staff.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { LocalCardVault } from '../../adapters/card-vault.js';
import { linkCard } from '../../src/accounts/cards.js';
import { DUPLICATE_COST, ENROL_ATTEMPTS, personBudget, staffBudget } from '../../src/http/palmEnrolment.js';
import { STATION_LOOKUPS } from '../../src/http/routes/enrol.js';
import { takeFromSource } from '../../src/throttling/attemptLimits.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { SoftAuthenticator } from '../support/authenticator.js';
import { UserAgent, registerPasskey } from '../support/browserless.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP);
const photo = (id: number, s: number) => path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`);

/** A camera frame as the page sends it: 640 wide JPEG, base64. */
async function frame(file: string): Promise<string> {
  return (await sharp(file).resize(640).jpeg({ quality: 80 }).toBuffer()).toString('base64');
}

/** A cookie signed as Koa signs it (keygrip: HMAC-SHA1, base64url without padding). */
function signedCookie(name: string, value: string, key: string): string {
  const sig = createHmac('sha1', key).update(`${name}=${value}`).digest('base64url');
  return `${name}=${value}; ${name}.sig=${sig}`;
}

describe.each(databaseKinds)('enrolment station and self-enrolment over HTTP ($name)', (kind) => {
  let server: TestServer;
  let origin: string;
  const clerkKey = new SoftAuthenticator();
  const outsiderKey = new SoftAuthenticator();
  let clerkId: string;

  async function passkeyFor(email: string, key: SoftAuthenticator): Promise<string> {
    const invitation = await createInvitation(server.db, { email, role: 'user', ttlSeconds: 3600 });
    const link = invitationUrl(server.issuer, invitation.token);
    expect((await registerPasskey(new UserAgent(), link, key, { email })).status).toBe(200);
    return invitation.personId!;
  }

  async function stationSignIn(key: SoftAuthenticator): Promise<{ agent: UserAgent; status: number }> {
    const agent = new UserAgent();
    const options = await agent.fetch(`${server.issuer}/enrol/passkey/options`, {
      method: 'POST',
      headers: { origin },
    });
    expect(options.status).toBe(200);
    const assertion = key.get((await options.json()) as { challenge: string }, origin);
    const verify = await agent.fetch(`${server.issuer}/enrol/passkey/verify`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: JSON.stringify(assertion),
    });
    return { agent, status: verify.status };
  }

  const form = (agent: UserAgent, url: string, fields: Record<string, string>, from = origin) =>
    agent.fetch(`${server.issuer}${url}`, {
      method: 'POST',
      headers: { origin: from, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  const json = (agent: UserAgent, url: string, body: unknown, headers: Record<string, string> = {}) =>
    agent.fetch(`${server.issuer}${url}`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  beforeAll(async () => {
    server = await startTestServer(kind);
    origin = new URL(server.issuer).origin;
    await addTenant(server.db, { id: 'shop-a', name: 'Shop A' });
    await addTenant(server.db, { id: 'shop-b', name: 'Shop B' });
    clerkId = await passkeyFor('clerk@example.org', clerkKey);
    await passkeyFor('outsider@example.org', outsiderKey);
    await addStaff(server.db, { personId: clerkId, tenantId: 'shop-a' });
  }, 60_000);
  afterAll(async () => server?.stop());

  it('shows the sign-in without a session and refuses every write', async () => {
    const anonymous = new UserAgent();
    const page = await anonymous.fetch(`${server.issuer}/enrol`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="passkey"');
    expect((await form(anonymous, '/enrol/desk', { tenant: 'shop-a', station: 'Desk' })).status).toBe(401);
    expect((await form(anonymous, '/enrol/person/find', { email: 'a@example.org' })).status).toBe(401);
    expect((await json(anonymous, '/enrol/palm', { hand: 'right', frames: [] })).status).toBe(401);
    // GET pages send the browser to sign in.
    const notice = await anonymous.fetch(`${server.issuer}/enrol/notice`);
    expect(notice.status).toBe(303);
    expect(notice.headers.get('location')).toBe('/enrol');
  });

  it("refuses a passkey that is nobody's staff, and a tenant the staff member is not on", async () => {
    expect((await stationSignIn(outsiderKey)).status).toBe(403);
    const { agent, status } = await stationSignIn(clerkKey);
    expect(status).toBe(200);
    const desk = await agent.fetch(`${server.issuer}/enrol/desk`);
    const html = await desk.text();
    expect(html).toContain('value="shop-a"');
    expect(html).not.toContain('value="shop-b"');
    expect((await form(agent, '/enrol/desk', { tenant: 'shop-b', station: 'Desk 1' })).status).toBe(403);
    expect(
      (await form(agent, '/enrol/desk', { tenant: 'shop-a', station: 'Desk 1' }, 'http://evil.example')).status,
    ).toBe(403);
    const ok = await form(agent, '/enrol/desk', { tenant: 'shop-a', station: 'Desk 1' });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/enrol/person');
    const events = await server.db.prisma.auditEvent.findMany({ where: { actor: clerkId } });
    expect(events.map((e) => e.action)).toEqual(expect.arrayContaining(['station.signin', 'station.refused']));
  });

  it("lets a platform administrator run any tenant's station, and speaks French when asked", async () => {
    const rootKey = new SoftAuthenticator();
    const root = await createPerson(server.db, { email: 'root@example.org', role: 'admin' });
    const invitation = await createInvitation(server.db, {
      email: 'root@example.org',
      role: 'admin',
      ttlSeconds: 3600,
      addPasskey: true,
    });
    const link = invitationUrl(server.issuer, invitation.token);
    expect((await registerPasskey(new UserAgent(), link, rootKey, { email: 'root@example.org' })).status).toBe(200);
    const { agent, status } = await stationSignIn(rootKey);
    expect(status).toBe(200);
    const desk = await (await agent.fetch(`${server.issuer}/enrol/desk?lang=fr`)).text();
    expect(desk).toContain('<html lang="fr">');
    expect(desk).toContain('Configurer ce poste');
    expect(desk).toContain('value="shop-a"');
    expect(desk).toContain('value="shop-b"');
    expect((await form(agent, '/enrol/desk', { tenant: 'shop-b', station: 'HQ' })).status).toBe(303);
    expect(
      await server.db.prisma.auditEvent.count({ where: { action: 'station.desk', actor: root.id, subject: 'shop-b' } }),
    ).toBe(1);
  });

  it('adds a person, records their consent with its provenance, and stops when the staff member is removed', async () => {
    const { agent } = await stationSignIn(clerkKey);
    await form(agent, '/enrol/desk', { tenant: 'shop-a', station: 'Front desk' });
    // A person who does not accept the notice: nothing recorded, the refusal audited, next person.
    await form(agent, '/enrol/person/create', { email: 'no@example.org', name: 'Noor' });
    const declined = await form(agent, '/enrol/next', { declined: 'yes' });
    expect(declined.headers.get('location')).toBe('/enrol/person?declined=1');
    const noor = await server.db.prisma.person.findUniqueOrThrow({ where: { email: 'no@example.org' } });
    expect(await server.db.prisma.consent.count({ where: { personId: noor.id } })).toBe(0);
    expect(
      await server.db.prisma.auditEvent.count({ where: { action: 'station.consent_declined', subject: noor.id } }),
    ).toBe(1);
    expect(await (await agent.fetch(`${server.issuer}/enrol/person?declined=1`)).text()).toContain(
      'id="person-declined"',
    );

    const notFound = await form(agent, '/enrol/person/find', { email: 'new@example.org' });
    expect(await notFound.text()).toContain('id="create"');
    const created = await form(agent, '/enrol/person/create', { email: 'new@example.org', name: 'Nia', phone: '' });
    expect(created.status).toBe(303);
    expect(created.headers.get('location')).toBe('/enrol/notice');
    const nia = await server.db.prisma.person.findUniqueOrThrow({ where: { email: 'new@example.org' } });
    const notice = await (await agent.fetch(`${server.issuer}/enrol/notice`)).text();
    expect(notice).toContain('Shop A uses palmid');
    // The capture page waits for the consent.
    expect((await agent.fetch(`${server.issuer}/enrol/capture`)).headers.get('location')).toBe('/enrol/notice');
    expect(
      (await form(agent, '/enrol/consent', { notice_version: '1', accept: 'yes' }, 'http://evil.example')).status,
    ).toBe(403);
    const accepted = await form(agent, '/enrol/consent', { notice_version: '1', accept: 'yes' });
    expect(accepted.headers.get('location')).toBe('/enrol/capture');
    const consent = await server.db.prisma.consent.findFirstOrThrow({ where: { personId: nia.id } });
    expect(consent).toMatchObject({
      tenantId: 'shop-a',
      method: 'station',
      recordedById: clerkId,
      station: 'Front desk',
    });
    const capture = await agent.fetch(`${server.issuer}/enrol/capture`);
    expect(capture.status).toBe(200);
    expect(capture.headers.get('content-security-policy')).toContain("'wasm-unsafe-eval'");
    expect(
      await server.db.prisma.auditEvent.count({ where: { action: 'station.person_created', subject: nia.id } }),
    ).toBe(1);

    // Malformed and oversized frames are refused before anything is decoded or enrolled.
    expect((await json(agent, '/enrol/palm', 'not json')).status).toBe(400);
    expect((await json(agent, '/enrol/palm', { hand: 'middle', frames: ['AAAA', 'AAAA', 'AAAA'] })).status).toBe(400);
    expect((await json(agent, '/enrol/palm', { hand: 'right', frames: ['AAAA'] })).status).toBe(400);
    expect((await json(agent, '/enrol/palm', { hand: 'right', frames: ['%%%%', 'AAAA', 'AAAA'] })).status).toBe(400);
    const huge = 'A'.repeat(3 * 64 * 1024 + 1);
    const oversized = await json(agent, '/enrol/palm', { hand: 'right', frames: [huge, 'AAAA', 'AAAA'] });
    expect(oversized.status).toBe(413);
    // Within the request's limit, but one picture larger than its share of it.
    const large = 'A'.repeat(Math.ceil((64 * 1024 * 4) / 3) + 8);
    const oneTooLarge = await json(agent, '/enrol/palm', { hand: 'right', frames: [large, 'AAAA', 'AAAA'] });
    expect(oneTooLarge.status).toBe(413);
    const unreadable = await json(agent, '/enrol/palm', { hand: 'right', frames: ['AAAA', 'AAAA', 'AAAA'] });
    expect(unreadable.status).toBe(422);
    expect(await unreadable.json()).toMatchObject({ error: 'capture_rejected', capture: 1 });

    // Card and loyalty number: the number is checked, only brand and last four are kept.
    const badCard = await form(agent, '/enrol/extras', { card_number: '4111111111111112', card_expiry: '12/40' });
    expect(badCard.status).toBe(400);
    const saved = await form(agent, '/enrol/extras', {
      action: 'save',
      card_number: '4111 1111 1111 1111',
      card_expiry: '12/40',
      loyalty: 'LOY-1234',
    });
    expect(saved.headers.get('location')).toBe('/enrol/done');
    const card = await server.db.prisma.paymentCard.findFirstOrThrow({ where: { personId: nia.id } });
    expect(card).toMatchObject({ brand: 'visa', last4: '1111' });
    expect(JSON.stringify(card)).not.toContain('411111111111');
    const done = await (await agent.fetch(`${server.issuer}/enrol/done`)).text();
    expect(done).toContain('LOY-1234');
    // Next person: the person is forgotten, the desk stays.
    const next = await form(agent, '/enrol/next', {});
    expect(next.headers.get('location')).toBe('/enrol/person');
    expect((await agent.fetch(`${server.issuer}/enrol/notice`)).headers.get('location')).toBe('/enrol/person');

    // Removed from the staff: the same session can do nothing more at that tenant.
    await removeStaff(server.db, { personId: clerkId, tenantId: 'shop-a' });
    expect((await form(agent, '/enrol/person/find', { email: 'new@example.org' })).status).toBe(403);
    await addStaff(server.db, { personId: clerkId, tenantId: 'shop-a' });
  });

  it.skipIf(!haveData)(
    'says a palm is already enrolled to another person without saying whose',
    {
      timeout: 120_000,
    },
    async () => {
      const owner = await createPerson(server.db, { email: 'owner@example.org', name: 'Owner', role: 'user' });
      await recordConsent(server.db, owner.id, 'shop-a', 1);
      await enrolPalm(new BiometricContext(server.db, server.master), {
        personId: owner.id,
        tenantId: 'shop-a',
        hand: 'right',
        captures: [photo(2, 1), photo(2, 2)].map((f) => fs.readFileSync(f)),
        kind: 'hand',
        minCaptures: 2,
      });
      const { agent } = await stationSignIn(clerkKey);
      await form(agent, '/enrol/desk', { tenant: 'shop-a', station: 'Desk 3' });
      await form(agent, '/enrol/person/create', { email: 'copy@example.org', name: 'Copy' });
      await form(agent, '/enrol/consent', { notice_version: '1', accept: 'yes' });
      const frames = await Promise.all([1, 2, 3].map((s) => frame(photo(2, s))));
      const answer = await json(agent, '/enrol/palm', { hand: 'right', frames });
      expect(answer.status).toBe(409);
      const body = await answer.text();
      expect(JSON.parse(body)).toMatchObject({ error: 'duplicate_enrolment' });
      expect(body).not.toContain(owner.id);
      expect(body).not.toContain('owner@example.org');
      const copyId = (await server.db.prisma.person.findUniqueOrThrow({ where: { email: 'copy@example.org' } })).id;
      expect(
        await server.db.prisma.auditEvent.count({
          where: { action: 'station.duplicate_refused', actor: clerkId, subject: copyId },
        }),
      ).toBe(1);
      // A duplicate answer costs the person's budget DUPLICATE_COST attempts.
      const [budget] = await server.db.query<{ refilledAt: Date }>(
        'SELECT refilled_at AS "refilledAt" FROM attempt_rate WHERE key = $1',
        [personBudget(copyId, 'shop-a')],
      );
      const spentMs = new Date(budget!.refilledAt).getTime() - Date.now();
      expect(spentMs).toBeGreaterThan((DUPLICATE_COST - 1) * ENROL_ATTEMPTS.person.refillMs);
      // Another person's palm enrols, and the station's audit names who did it.
      const other = await Promise.all([1, 2, 3].map((s) => frame(photo(30, s))));
      const enrolled = await json(agent, '/enrol/palm', { hand: 'right', frames: other });
      expect(enrolled.status, await enrolled.clone().text()).toBe(200);
      expect(await enrolled.json()).toMatchObject({ enrolled: { hand: 'right', replaced: false } });
      const copy = await server.db.prisma.person.findUniqueOrThrow({ where: { email: 'copy@example.org' } });
      expect(await server.db.prisma.palmReference.count({ where: { personId: copy.id, tenantId: 'shop-a' } })).toBe(1);
      expect(
        await server.db.prisma.auditEvent.count({
          where: { action: 'station.palm_enrolled', actor: clerkId, subject: copy.id },
        }),
      ).toBe(1);
    },
  );

  it("enrols only after the person accepted the current notice on this screen, and shows no other tenant's data", async () => {
    // Zoe is Shop B's customer: a consent there, a card linked there, and Shop A's consent given elsewhere.
    const zoe = await createPerson(server.db, { email: 'zoe@example.org', name: 'Zoe Secret', role: 'user' });
    await recordConsent(server.db, zoe.id, 'shop-b', 1);
    await recordConsent(server.db, zoe.id, 'shop-a', 1);
    await linkCard(server.db, new LocalCardVault(server.db, server.master.derive('card-vault')), zoe.id, {
      number: '5555555555554444',
      expMonth: 12,
      expYear: 2040,
    });
    const { agent } = await stationSignIn(clerkKey);
    await form(agent, '/enrol/desk', { tenant: 'shop-a', station: 'Desk 4' });
    const found = await form(agent, '/enrol/person/find', { email: 'zoe@example.org' });
    expect(found.headers.get('location')).toBe('/enrol/notice');
    // Found by email: named by that email only, not by the name another tenant knows.
    const notice = await (await agent.fetch(`${server.issuer}/enrol/notice`)).text();
    expect(notice).toContain('zoe@example.org');
    expect(notice).not.toContain('Zoe Secret');
    expect(
      await server.db.prisma.auditEvent.count({
        where: { action: 'station.person_found', actor: clerkId, subject: zoe.id },
      }),
    ).toBe(1);
    // A consent given elsewhere does not stand for accepting on this screen: nothing past the notice.
    expect((await agent.fetch(`${server.issuer}/enrol/capture`)).headers.get('location')).toBe('/enrol/notice');
    expect((await agent.fetch(`${server.issuer}/enrol/extras`)).headers.get('location')).toBe('/enrol/notice');
    expect((await agent.fetch(`${server.issuer}/enrol/done`)).headers.get('location')).toBe('/enrol/notice');
    const early = await json(agent, '/enrol/palm', { hand: 'right', frames: ['AAAA', 'AAAA', 'AAAA'] });
    expect(early.status).toBe(403);
    expect(await early.json()).toMatchObject({ error: 'consent_required' });
    expect((await form(agent, '/enrol/extras', { action: 'save', loyalty: 'X-1' })).status).toBe(403);
    expect(await server.db.prisma.loyaltyNumber.count({ where: { personId: zoe.id } })).toBe(0);

    // She accepts here; then the notice changes before her palm is taken: refused until she accepts again.
    expect((await form(agent, '/enrol/consent', { notice_version: '1', accept: 'yes' })).status).toBe(303);
    await server.db.prisma.biometricNotice.create({ data: { tenantId: 'shop-a', version: 2, text: 'Shop A v2' } });
    try {
      const stale = await json(agent, '/enrol/palm', { hand: 'right', frames: ['AAAA', 'AAAA', 'AAAA'] });
      expect(stale.status).toBe(403);
      expect((await agent.fetch(`${server.issuer}/enrol/capture`)).headers.get('location')).toBe('/enrol/notice');
      // Accepting the old version is refused; the new one is shown again.
      const old = await form(agent, '/enrol/consent', { notice_version: '1', accept: 'yes' });
      expect(old.status).toBe(409);
      expect(await old.text()).toContain('Shop A v2');
      expect((await form(agent, '/enrol/consent', { notice_version: '2', accept: 'yes' })).status).toBe(303);
      const consent = await server.db.prisma.consent.findFirstOrThrow({
        where: { personId: zoe.id, tenantId: 'shop-a', withdrawnAt: null },
      });
      expect(consent).toMatchObject({ noticeVersion: 2, method: 'station', recordedById: clerkId });
      const accepted = await json(agent, '/enrol/palm', { hand: 'right', frames: ['AAAA', 'AAAA', 'AAAA'] });
      expect(accepted.status).toBe(422);
      // After acceptance her name may be shown; Shop B's card is not.
      expect((await form(agent, '/enrol/extras', { action: 'skip' })).headers.get('location')).toBe('/enrol/done');
      const done = await (await agent.fetch(`${server.issuer}/enrol/done`)).text();
      expect(done).toContain('Zoe Secret');
      expect(done).not.toContain('4444');
    } finally {
      await server.db.prisma.biometricNotice.delete({
        where: { tenantId_version: { tenantId: 'shop-a', version: 2 } },
      });
    }
  });

  it('bounds enrolment attempts per person and per staff member (no identification oracle)', async () => {
    const { agent } = await stationSignIn(clerkKey);
    await form(agent, '/enrol/desk', { tenant: 'shop-a', station: 'Desk 5' });
    await form(agent, '/enrol/person/create', { email: 'probe@example.org', name: 'Probe' });
    await form(agent, '/enrol/consent', { notice_version: '1', accept: 'yes' });
    const probe = await server.db.prisma.person.findUniqueOrThrow({ where: { email: 'probe@example.org' } });
    // A picture the engine cannot read gives the person's attempt back: the page retries with better ones.
    for (let i = 0; i < ENROL_ATTEMPTS.person.burst + 2; i++) {
      const rejected = await json(agent, '/enrol/palm', { hand: 'right', frames: ['AAAA', 'AAAA', 'AAAA'] });
      expect(rejected.status).toBe(422);
    }
    // The person's budget spent (as by searches): refused before anything is read.
    for (let i = 0; i < ENROL_ATTEMPTS.person.burst; i++)
      await takeFromSource(server.db, personBudget(probe.id, 'shop-a'), ENROL_ATTEMPTS.person);
    const refused = await json(agent, '/enrol/palm', { hand: 'right', frames: ['AAAA', 'AAAA', 'AAAA'] });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ error: 'too_many_attempts' });
    expect(
      await server.db.prisma.auditEvent.count({
        where: { action: 'palm.enrol_throttled', actor: clerkId, subject: probe.id },
      }),
    ).toBe(1);

    // The staff member's own budget: spent, every person at their desk waits.
    await form(agent, '/enrol/next', {});
    await form(agent, '/enrol/person/create', { email: 'probe2@example.org', name: 'Probe 2' });
    await form(agent, '/enrol/consent', { notice_version: '1', accept: 'yes' });
    for (let i = 0; i < ENROL_ATTEMPTS.staff.burst; i++)
      await takeFromSource(server.db, staffBudget(clerkId), ENROL_ATTEMPTS.staff);
    expect((await json(agent, '/enrol/palm', { hand: 'right', frames: ['AAAA', 'AAAA', 'AAAA'] })).status).toBe(429);
    await server.db.prisma.attemptRate.deleteMany({ where: { key: staffBudget(clerkId) } });

    // Look-ups say whether an address has an account: a staff member has a budget of them.
    for (let i = 0; i < STATION_LOOKUPS.burst; i++)
      await takeFromSource(server.db, `enrol-lookup:${clerkId}`, STATION_LOOKUPS);
    const lookup = await form(agent, '/enrol/person/find', { email: 'zoe@example.org' });
    expect(lookup.status).toBe(429);
    expect(await lookup.text()).toContain('Too many look-ups');
    expect((await form(agent, '/enrol/person/create', { email: 'zoe@example.org', name: 'Z' })).status).toBe(429);
    await server.db.prisma.attemptRate.deleteMany({ where: { key: `enrol-lookup:${clerkId}` } });
  });

  it('self-enrolment: no account session goes to /account; the person accepts the notice themselves', async () => {
    const anonymous = new UserAgent();
    const page = await anonymous.fetch(`${server.issuer}/account/enrol?tenant=shop-b`);
    expect(page.status).toBe(303);
    // Back here once signed in: the account page carries the (checked) path through its sign-in.
    expect(page.headers.get('location')).toBe('/account?return=%2Faccount%2Fenrol%3Ftenant%3Dshop-b');
    const pendingReturn = async (location: string) => {
      const signIn = await new UserAgent().fetch(`${server.issuer}${location}`);
      expect(signIn.status).toBe(302);
      const login = signIn.headers.getSetCookie().find((c) => c.startsWith('palmid_account_login='))!;
      const back = login.split(';')[0]!.split('=')[1]!.split('.')[3];
      return back && Buffer.from(back, 'base64url').toString('utf8');
    };
    expect(await pendingReturn(page.headers.get('location')!)).toBe('/account/enrol?tenant=shop-b');
    expect(await pendingReturn('/account?return=%2F%2Fevil.example%2Faccount%2F')).toBeUndefined();
    expect((await json(anonymous, '/account/enrol/palm?tenant=shop-b', { hand: 'right', frames: [] })).status).toBe(
      401,
    );

    const eve = await createPerson(server.db, { email: 'eve@example.org', role: 'user' });
    const key = server.master.derive('admin-cookies').toString('base64url');
    const session = signedCookie('palmid_account', `${eve.id}.${Math.floor(Date.now() / 1000) + 600}`, key);
    const signedIn = (url: string, init: RequestInit = {}) =>
      fetch(`${server.issuer}${url}`, {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string>), cookie: session },
      });
    expect((await signedIn('/account/enrol?tenant=nowhere')).status).toBe(404);
    const notice = await signedIn('/account/enrol?tenant=shop-b');
    expect(await notice.text()).toContain('Shop B uses palmid');
    const post = (from: string) =>
      signedIn('/account/enrol/consent', {
        method: 'POST',
        headers: { origin: from, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'tenant=shop-b&notice_version=1&accept=yes',
      });
    expect((await post('http://evil.example')).status).toBe(403);
    const accepted = await post(origin);
    expect(accepted.status).toBe(303);
    expect(accepted.headers.get('location')).toBe('/account/enrol?tenant=shop-b');
    expect(await server.db.prisma.consent.findFirstOrThrow({ where: { personId: eve.id } })).toMatchObject({
      tenantId: 'shop-b',
      method: 'self',
      recordedById: null,
      station: null,
    });
    const capture = await signedIn('/account/enrol?tenant=shop-b');
    const html = await capture.text();
    expect(html).toContain('data-endpoint="/account/enrol/palm?tenant=shop-b"');
    expect(capture.headers.get('content-security-policy')).toContain("'wasm-unsafe-eval'");

    // The palm: only with the person's own consent to that tenant's current notice, within a budget.
    const palm = (tenant: string, from = origin) =>
      signedIn(`/account/enrol/palm?tenant=${tenant}`, {
        method: 'POST',
        headers: { origin: from, 'content-type': 'application/json' },
        body: JSON.stringify({ hand: 'left', frames: ['AAAA', 'AAAA', 'AAAA'] }),
      });
    expect((await palm('shop-b', 'http://evil.example')).status).toBe(403);
    const noConsent = await palm('shop-a');
    expect(noConsent.status).toBe(403);
    expect(await noConsent.json()).toMatchObject({ error: 'consent_required' });
    expect((await palm('shop-b')).status).toBe(422);
    for (let i = 0; i < ENROL_ATTEMPTS.person.burst; i++)
      await takeFromSource(server.db, personBudget(eve.id, 'shop-b'), ENROL_ATTEMPTS.person);
    expect((await palm('shop-b')).status).toBe(429);

    // Once Eve has a passkey, a session not opened with it (a palm sign-in: a 1:N match that can be
    // someone else's palm) may not enrol a palm into her account, nor accept a notice for it.
    await server.db.prisma.passkey.create({
      data: {
        id: 'pk-eve',
        personId: eve.id,
        publicKey: Buffer.from([1]),
        transports: [],
        deviceType: 'singleDevice',
        backedUp: false,
      },
    });
    const stepUp = await palm('shop-b');
    expect(stepUp.status).toBe(403);
    expect(await stepUp.json()).toMatchObject({
      error: 'access_denied',
      error_description: expect.stringMatching(/passkey/),
    });
    expect((await post(origin)).status).toBe(403);
  });
});
