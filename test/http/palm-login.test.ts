import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FRAMES_PER_SIGN_IN } from '../../src/http/routes/palmLogin.js';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { readerSignIn } from '../../src/readers/client.js';
import { addReader } from '../../src/readers/registry.js';
import { LIMITS, UNUSABLE_CAPTURE_COST, clientSubject } from '../../src/throttling/attemptLimits.js';
import { jpegSizeLie } from '../palm/hostile.js';
import { SoftAuthenticator } from '../support/authenticator.js';
import { UserAgent, registerPasskey, signInWithPasskey } from '../support/browserless.js';
import { discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP);
const photo = (id: number, s: number) => fs.readFileSync(path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`));
/** What the login page sends: a camera frame as JPEG, at most 960 px wide. */
const frame = (bytes: Buffer) => sharp(bytes).resize({ width: 640 }).jpeg({ quality: 85 }).toBuffer();
/** Each login comes from an address of its own (X-Forwarded-For, trusted), unless a test shares one. */
const addresses = new WeakMap<UserAgent, string>();
let lastAddress = 0;
const freshAddress = () => `198.51.${100 + Math.floor(++lastAddress / 250)}.${lastAddress % 250}`;

/**
 * "Sign in with your palm" at the browser login, through the endpoint the page calls
 * (POST /interaction/:uid/palm): identification among the client tenant's consented people,
 * 1:1 with login_hint, and every refusal. The browser itself is covered in test/e2e.
 */
describe.skipIf(!haveData).each(databaseKinds)('palm sign-in at the browser login ($name)', (kind) => {
  let server: TestServer;
  let officeClient: { client_id: string; client_secret: string | undefined };
  let plainClient: { client_id: string; client_secret: string | undefined };
  let anaId: string;
  const redirectUri = 'http://127.0.0.1:9/cb';

  beforeAll(async () => {
    server = await startTestServer(kind, { PALMID_TRUST_PROXY: 'true' });
    const bio = new BiometricContext(server.db, server.master);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    await addTenant(server.db, { id: 'stadium', name: 'Stadium' });
    const ana = await createPerson(server.db, { email: 'ana@example.org', name: 'Ana', role: 'user' });
    anaId = ana.id;
    await recordConsent(server.db, ana.id, 'office', 1);
    await enrolPalm(bio, {
      personId: ana.id,
      tenantId: 'office',
      hand: 'right',
      captures: [photo(2, 1), photo(2, 2)],
      kind: 'hand',
      minCaptures: 2,
    });
    // Bo consented to the stadium only: the office never searches him.
    const bo = await createPerson(server.db, { email: 'bo@example.org', role: 'user' });
    await recordConsent(server.db, bo.id, 'stadium', 1);
    await enrolPalm(bio, {
      personId: bo.id,
      tenantId: 'stadium',
      hand: 'right',
      captures: [photo(5, 1), photo(5, 2)],
      kind: 'hand',
      minCaptures: 2,
    });
    officeClient = await server.addClient({ name: 'Office portal', redirectUris: [redirectUri], tenant: 'office' });
    plainClient = await server.addClient({ name: 'No palms here', redirectUris: [redirectUri] });
  }, 180_000);
  afterAll(async () => server?.stop());

  async function startLogin(
    client: { client_id: string; client_secret: string | undefined },
    params: Record<string, string> = {},
    address = freshAddress(),
  ) {
    const rp = await discoverRp(server, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...params,
    });
    const agent = new UserAgent();
    addresses.set(agent, address);
    const { response, url: page } = await agent.follow(url.href, server.issuer);
    const uid = /\/interaction\/([^/?#]+)$/.exec(page)![1]!;
    return {
      rp,
      verifier,
      agent,
      uid,
      html: await response.text(),
      csp: response.headers.get('content-security-policy'),
    };
  }

  const sendFrame = (agent: UserAgent, uid: string, image: Buffer, type = 'image/jpeg') =>
    agent.fetch(`${server.issuer}/interaction/${uid}/palm`, {
      method: 'POST',
      headers: { 'content-type': type, 'x-forwarded-for': addresses.get(agent) ?? freshAddress() },
      body: new Uint8Array(image),
    });
  const forgetAttempts = async () => {
    await server.db.query('DELETE FROM attempt_rate');
    await server.db.query('DELETE FROM attempt_throttle');
  };

  /** From a successful palm step to the tokens: consent, then the code at the token endpoint. */
  async function finish(login: Awaited<ReturnType<typeof startLogin>>, redirectTo: string) {
    let { response, url } = await login.agent.follow(redirectTo, server.issuer);
    if ((await response.text()).includes('/confirm"')) {
      ({ url } = await login.agent.follow(
        `${server.issuer}/interaction/${/\/interaction\/([^/?#]+)/.exec(url)![1]}/confirm`,
        server.issuer,
        { method: 'POST' },
      ));
    }
    expect(url.startsWith(redirectUri)).toBe(true);
    return oidc.authorizationCodeGrant(login.rp, new URL(url), { pkceCodeVerifier: login.verifier });
  }

  it('offers the palm only to clients with a tenant', async () => {
    const office = await startLogin(officeClient);
    expect(office.html).toContain('id="palm"');
    expect(office.html).toContain('Sign in with your palm');
    // The palm capture runs WebAssembly (the hand tracker): allowed there, and only there.
    expect(office.csp).toMatch(/script-src 'self' 'wasm-unsafe-eval';/);
    const plain = await startLogin(plainClient);
    expect(plain.html).not.toContain('id="palm"');
    expect(plain.csp).toMatch(/script-src 'self';/);
    const refused = await sendFrame(plain.agent, plain.uid, await frame(photo(2, 3)));
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({
      error: 'invalid_request',
      error_description: expect.stringMatching(/not offered/),
    });
  });

  it('identifies an enrolled person among the tenant’s consented people: acr palm, amr [palm]', async () => {
    const login = await startLogin(officeClient);
    const response = await sendFrame(login.agent, login.uid, await frame(photo(2, 3)));
    expect(response.status).toBe(200);
    const { redirectTo } = (await response.json()) as { redirectTo: string };
    const tokens = await finish(login, redirectTo);
    expect(tokens.claims()).toMatchObject({ sub: anaId, acr: 'urn:palmid:acr:palm', amr: ['palm'] });
    const event = await server.db.prisma.auditEvent.findFirst({
      where: { action: 'signin.palm', subject: anaId },
      orderBy: { id: 'desc' },
    });
    expect(event?.detail).toMatchObject({ channel: 'browser', tenant: 'office', mode: 'identify' });
  });

  it('verifies 1:1 the person login_hint names, and refuses another palm for them', async () => {
    const login = await startLogin(officeClient, { login_hint: 'Ana@Example.org' });
    const response = await sendFrame(login.agent, login.uid, await frame(photo(2, 4)));
    expect(response.status).toBe(200);
    const tokens = await finish(login, ((await response.json()) as { redirectTo: string }).redirectTo);
    expect(tokens.claims()).toMatchObject({ sub: anaId, acr: 'urn:palmid:acr:palm', amr: ['palm'] });
    const verified = await server.db.prisma.auditEvent.findFirst({
      where: { action: 'signin.palm', subject: anaId },
      orderBy: { id: 'desc' },
    });
    expect(verified?.detail).toMatchObject({ mode: 'verify' });

    const impostor = await startLogin(officeClient, { login_hint: 'ana@example.org' });
    const refused = await sendFrame(impostor.agent, impostor.uid, await frame(photo(30, 1)));
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: 'not_recognised', error_description: 'Palm not recognised.' });
    // A failed attempt at Ana's account counts against Ana named from this address, not against Ana.
    expect(await server.db.prisma.attemptThrottle.findUnique({ where: { subject: `person:${anaId}` } })).toBeNull();
    expect(
      await server.db.prisma.attemptThrottle.findMany({ where: { subject: { startsWith: 'palm-hint:' } } }),
    ).toEqual([expect.objectContaining({ failures: 1 })]);
    await forgetAttempts();
  });

  it('does not recognise a palm nobody enrolled, nor a person who consented only to another tenant', async () => {
    const stranger = await startLogin(officeClient);
    const unknown = await sendFrame(stranger.agent, stranger.uid, await frame(photo(30, 2)));
    expect(unknown.status).toBe(401);
    expect(
      await server.db.prisma.auditEvent.count({
        where: { action: 'signin.palm_unknown', actor: officeClient.client_id },
      }),
    ).toBeGreaterThan(0);

    const bo = await startLogin(officeClient);
    const elsewhere = await sendFrame(bo.agent, bo.uid, await frame(photo(5, 3)));
    expect(elsewhere.status).toBe(401);
    // ... nor with his email as login_hint.
    const hinted = await startLogin(officeClient, { login_hint: 'bo@example.org' });
    expect((await sendFrame(hinted.agent, hinted.uid, await frame(photo(5, 3)))).status).toBe(401);
    await server.db.prisma.attemptThrottle.deleteMany();
  });

  it('answers a frame it cannot use with guidance, and refuses malformed, oversize and mistyped bodies', async () => {
    const login = await startLogin(officeClient);
    const dark = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 3, g: 3, b: 3 } } })
      .jpeg()
      .toBuffer();
    const rejected = await sendFrame(login.agent, login.uid, dark);
    expect(rejected.status).toBe(422);
    expect(await rejected.json()).toMatchObject({
      error: 'capture_rejected',
      reason: expect.any(String),
      error_description: expect.any(String),
    });

    const garbage = await sendFrame(login.agent, login.uid, Buffer.from('certainly not a jpeg'));
    expect(garbage.status).toBe(400);
    const oversize = await sendFrame(login.agent, login.uid, Buffer.alloc(70 * 1024, 1));
    expect(oversize.status).toBe(413);
    const mistyped = await login.agent.fetch(`${server.issuer}/interaction/${login.uid}/palm`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'a picture',
    });
    expect(mistyped.status).toBe(415);
    // JSON is a try with a liveness challenge (test/http/palm-login-pad.test.ts): without a token, refused
    const noChallenge = await login.agent.fetch(`${server.issuer}/interaction/${login.uid}/palm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(noChallenge.status).toBe(400);
    expect(await noChallenge.json()).toMatchObject({ error_description: expect.stringMatching(/challenge/) });
    // Guidance and refusals are not failed attempts: nothing was compared.
    expect(await server.db.prisma.attemptThrottle.count()).toBe(0);
  });

  it('stops a sign-in that sends more frames than its budget, usable or not', async () => {
    const login = await startLogin(officeClient);
    const tiny = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 3, g: 3, b: 3 } } })
      .jpeg()
      .toBuffer();
    for (let i = 0; i < FRAMES_PER_SIGN_IN; i++)
      expect((await sendFrame(login.agent, login.uid, tiny)).status).not.toBe(429);
    const over = await sendFrame(login.agent, login.uid, tiny);
    expect(over.status).toBe(429);
    expect(await over.json()).toMatchObject({ error: 'too_many_attempts' });
    // Another sign-in has its own budget.
    const next = await startLogin(officeClient);
    expect((await sendFrame(next.agent, next.uid, tiny)).status).not.toBe(429);
  });

  it('refuses a frame for another interaction than the browser’s own', async () => {
    const mine = await startLogin(officeClient);
    const theirs = await startLogin(officeClient);
    const crossed = await sendFrame(mine.agent, theirs.uid, await frame(photo(2, 3)));
    expect(crossed.status).toBe(400);
    expect(await crossed.json()).toMatchObject({ error: 'invalid_request', error_description: 'interaction mismatch' });
    const noCookie = await fetch(`${server.issuer}/interaction/${mine.uid}/palm`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(await frame(photo(2, 3))),
    });
    expect(noCookie.status).toBe(400);
  });

  it('keeps nothing of the frames: no trace in any table', async () => {
    const sent = await frame(photo(2, 3));
    const login = await startLogin(officeClient);
    expect((await sendFrame(login.agent, login.uid, sent)).status).toBe(200);
    const tables = (
      await server.db.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
      )
    ).map((t) => t.table_name);
    const probes = [
      sent.subarray(1000, 1048).toString('base64'),
      sent.subarray(2000, 2032).toString('hex'),
      sent.subarray(3000, 3048).toString('base64url'),
    ];
    for (const table of tables) {
      const rows = await server.db.query<{ row: string }>(`SELECT t::text AS row FROM "${table}" t`);
      const text = rows.map((r) => r.row).join('\n');
      for (const probe of probes) expect(text.includes(probe), `${table} holds part of the frame`).toBe(false);
    }
  });

  it('caps the palms one address may have compared, across the sign-ins it opens for free', async () => {
    await forgetAttempts();
    const address = freshAddress();
    const strangers = await Promise.all([30, 31].flatMap((id) => [1, 2, 3, 4].map((s) => frame(photo(id, s)))));
    const unknownBefore = await server.db.prisma.auditEvent.count({ where: { action: 'signin.palm_unknown' } });
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let signIn = 0; signIn < 6; signIn++) {
      const login = await startLogin(officeClient, {}, address);
      for (let f = 0; f < 4; f++) {
        const response = await sendFrame(login.agent, login.uid, strangers[(signIn * 4 + f) % strangers.length]!);
        statuses.push(response.status);
        if (response.status === 429) refused = response;
      }
    }
    const burst = LIMITS.browserAddress.burst;
    expect(statuses.slice(0, burst)).toEqual(Array(burst).fill(401));
    expect(statuses.slice(burst)).toEqual(Array(statuses.length - burst).fill(429));
    expect(await server.db.prisma.auditEvent.count({ where: { action: 'signin.palm_unknown' } })).toBe(
      unknownBefore + burst,
    );
    const retryAfter = Number(refused!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(LIMITS.browserAddress.refillMs / 1000);
    expect(await refused!.json()).toMatchObject({
      error: 'too_many_attempts',
      error_description: expect.stringMatching(/try again in \d+ s/),
    });
    // Another address is not slowed: Ana signs in.
    const ana = await startLogin(officeClient);
    expect((await sendFrame(ana.agent, ana.uid, await frame(photo(2, 3)))).status).toBe(200);
    await forgetAttempts();
  });

  it('charges an address for frames it cannot use, so sign-ins cannot be reopened for free', async () => {
    await forgetAttempts();
    const address = freshAddress();
    // Decoded and analysed before it is refused (too dark): the work an attacker would make us do.
    const dark = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 3, g: 3, b: 3 } } })
      .jpeg()
      .toBuffer();
    let answered = 0;
    let last = 0;
    for (let signIn = 0; signIn < 3 && last !== 429; signIn++) {
      const login = await startLogin(officeClient, {}, address);
      for (let f = 0; f < 40; f++) {
        last = (await sendFrame(login.agent, login.uid, dark)).status;
        if (last === 429) break;
        expect(last).toBe(422);
        answered++;
      }
    }
    expect(last).toBe(429);
    // An attempt is reserved in full before the frame is read, and a share of it is kept.
    const { burst } = LIMITS.browserAddress;
    expect(answered).toBeGreaterThanOrEqual(Math.floor((burst - 1) / UNUSABLE_CAPTURE_COST));
    expect(answered).toBeLessThanOrEqual(Math.ceil(burst / UNUSABLE_CAPTURE_COST) + 2);
    await forgetAttempts();
  });

  it('refuses frames whose header alone condemns them before reserving or writing anything', async () => {
    await forgetAttempts();
    const address = freshAddress();
    const login = await startLogin(officeClient, {}, address);
    // A 5000x5000 JPEG header on a few hundred bytes, and a frame too small to hold a palm.
    const sizeLie = await jpegSizeLie(5000, 5000);
    const tiny = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 3, g: 3, b: 3 } } })
      .jpeg()
      .toBuffer();
    for (const frame of [sizeLie, tiny]) {
      const r = await sendFrame(login.agent, login.uid, frame);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.status).not.toBe(429);
    }
    expect(await server.db.query(`SELECT key FROM attempt_rate`)).toEqual([]);
  });

  it('caps failed palms per relying party, whatever addresses they come from', async () => {
    await forgetAttempts();
    // The state a distributed flood leaves: the client's whole burst spent just now.
    const spent = new Date(Date.now() + LIMITS.browserClient.burst * LIMITS.browserClient.refillMs);
    await server.db.query(`INSERT INTO attempt_rate (key, refilled_at) VALUES ($1, $2::timestamptz)`, [
      clientSubject(officeClient.client_id),
      spent.toISOString(),
    ]);
    const fresh = await startLogin(officeClient);
    const refused = await sendFrame(fresh.agent, fresh.uid, await frame(photo(30, 3)));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(LIMITS.browserClient.refillMs / 1000);
    // The refusal cost the fresh address nothing.
    expect(
      await server.db.query(`SELECT key FROM attempt_rate WHERE key LIKE 'address:%' AND refilled_at > now()`),
    ).toEqual([]);
    await forgetAttempts();
  });

  it('lets no stranger lock a person out by naming them: login_hint failures slow that address only', async () => {
    await forgetAttempts();
    const attacker = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < LIMITS.hintedPalm.free + 2; i++) {
      const login = await startLogin(officeClient, { login_hint: 'ana@example.org' }, attacker);
      statuses.push((await sendFrame(login.agent, login.uid, await frame(photo(31, 1 + (i % 4))))).status);
    }
    expect(statuses).toEqual([...Array(LIMITS.hintedPalm.free).fill(401), 429, 429]);
    expect(await server.db.prisma.attemptThrottle.findUnique({ where: { subject: `person:${anaId}` } })).toBeNull();

    // Ana still signs in at a reader, ...
    const gate = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Lobby gate' });
    expect(
      await readerSignIn({ issuer: server.issuer, reader: gate, images: [photo(2, 4)], kind: 'hand' }),
    ).toMatchObject({ ok: true, sub: anaId });
    // ... and in the browser from her own address, named by login_hint or not.
    for (const params of [{ login_hint: 'ana@example.org' }, {}]) {
      const own = await startLogin(officeClient, params);
      expect((await sendFrame(own.agent, own.uid, await frame(photo(2, 3)))).status).toBe(200);
    }
    await forgetAttempts();
  });

  it('leaves the passkey of a person named by failing palms working', async () => {
    await forgetAttempts();
    const passkey = new SoftAuthenticator();
    expect(
      (await registerPasskey(new UserAgent(), server.setupLink!, passkey, { email: 'cy@example.org', name: 'Cy' }))
        .status,
    ).toBe(200);
    const attacker = freshAddress();
    for (let i = 0; i < LIMITS.hintedPalm.free + 1; i++) {
      const login = await startLogin(officeClient, { login_hint: 'cy@example.org' }, attacker);
      expect((await sendFrame(login.agent, login.uid, await frame(photo(33, 1 + (i % 4))))).status).toBe(
        i < LIMITS.hintedPalm.free ? 401 : 429,
      );
    }
    const login = await startLogin(officeClient, { login_hint: 'cy@example.org' });
    const { callbackUrl } = await signInWithPasskey(login.agent, `${server.issuer}/interaction/${login.uid}`, passkey);
    expect(new URL(callbackUrl).searchParams.get('code')).toBeTruthy();
    await forgetAttempts();
  });
});
