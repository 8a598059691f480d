import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompactEncrypt, CompactSign, SignJWT, importJWK, type JWK } from 'jose';
import * as oidc from 'openid-client';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import type { ReaderKeyFile } from '../../src/readers/client.js';
import { ENVELOPE_TYPE, sealEnvelope } from '../../src/readers/envelope.js';
import { addReader } from '../../src/readers/registry.js';
import { jpegSizeLie } from '../palm/hostile.js';
import { UserAgent } from '../support/browserless.js';
import { discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm');
const haveData = fs.existsSync(path.join(DATA, 'coep-hands')) && fs.existsSync(path.join(DATA, 'tongji-roi'));
const photo = (id: number, s: number) =>
  fs.readFileSync(path.join(DATA, 'coep-hands', `${String(id).padStart(3, '0')}_0${s}.jpg`));
const roi = (id: number, s: number) =>
  fs.readFileSync(path.join(DATA, 'tongji-roi', `${String(id).padStart(3, '0')}_${String(s).padStart(2, '0')}.bmp`));
const frame = (bytes: Buffer) => sharp(bytes).resize({ width: 640 }).jpeg({ quality: 85 }).toBuffer();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The frame pool in front of palm sign-ins: with one attempt running and one waiting allowed, a
 * burst gets 503 + Retry-After for the rest, at the browser login and at the reader (CIBA)
 * endpoint alike, while the admitted ones, and the refused ones sent again, sign in. Also the
 * envelope and frame refusals that must be 4xx, never 5xx.
 */
describe.skipIf(!haveData).each(databaseKinds)('frame admission and hostile frames over HTTP ($name)', (kind) => {
  let server: TestServer;
  let client: { client_id: string; client_secret: string | undefined };
  let gate: ReaderKeyFile;
  let anaId: string;
  let boId: string;
  const redirectUri = 'http://127.0.0.1:9/cb';

  beforeAll(async () => {
    server = await startTestServer(kind, { PALMID_FRAME_CONCURRENCY: '1', PALMID_FRAME_QUEUE: '1' });
    const bio = new BiometricContext(server.db, server.master);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    const ana = await createPerson(server.db, { email: 'ana@example.org', role: 'user' });
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
    const bo = await createPerson(server.db, { email: 'bo@example.org', role: 'user' });
    boId = bo.id;
    await recordConsent(server.db, bo.id, 'office', 1);
    await enrolPalm(bio, {
      personId: bo.id,
      tenantId: 'office',
      hand: 'right',
      captures: [1, 2, 3].map((s) => roi(5, s)),
      kind: 'roi',
    });
    client = await server.addClient({ name: 'Office portal', redirectUris: [redirectUri], tenant: 'office' });
    gate = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Gate 1' });
  }, 180_000);
  afterAll(async () => server?.stop());

  async function startLogin() {
    const rp = await discoverRp(server, client);
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const agent = new UserAgent();
    const { url: page } = await agent.follow(url.href, server.issuer);
    return { agent, uid: /\/interaction\/([^/?#]+)$/.exec(page)![1]! };
  }
  const sendFrame = (login: { agent: UserAgent; uid: string }, image: Buffer) =>
    login.agent.fetch(`${server.issuer}/interaction/${login.uid}/palm`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(image),
    });

  it('browser login: a burst beyond the pool gets 503 + Retry-After; the admitted frames, and the refused ones sent again, sign in', async () => {
    const image = await frame(photo(2, 3));
    const logins = [];
    for (let i = 0; i < 6; i++) logins.push(await startLogin());
    const first = await Promise.all(logins.map((l) => sendFrame(l, image)));
    const statuses = first.map((r) => r.status);
    const refused = first.filter((r) => r.status === 503);
    expect(refused.length, statuses.join(',')).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200).length, statuses.join(',')).toBeGreaterThanOrEqual(2); // one running, one waiting
    expect(
      statuses.every((s) => s === 200 || s === 503),
      statuses.join(','),
    ).toBe(true);
    for (const r of refused) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await r.json()).toMatchObject({ error: 'temporarily_unavailable' });
    }
    // Told to come back: they do, one after the other, and sign in.
    await sleep(1000 * Math.max(...refused.map((r) => Number(r.headers.get('retry-after')))));
    for (const [i, r] of first.entries()) {
      if (r.status !== 503) continue;
      const again = await sendFrame(logins[i]!, image);
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ redirectTo: expect.any(String) });
    }
    // The 503s were no attempts: nothing recorded an unknown palm.
    expect(await server.db.prisma.auditEvent.count({ where: { action: 'signin.palm', subject: anaId } })).toBe(6);
  });

  it('browser login: a frame whose header lies about its size is a 4xx, answered at once', async () => {
    const login = await startLogin();
    const t0 = performance.now();
    const response = await sendFrame(login, await jpegSizeLie(5000, 5000));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });

  const captureKey = async () =>
    ((await (await fetch(`${server.url}/jwks`)).json()) as { keys: JWK[] }).keys.find((k) => k.use === 'enc')!;

  /** The backchannel authentication request, as a reader sends it (private_key_jwt). */
  async function cibaRequest(loginHintToken: string): Promise<Response> {
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >;
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: gate.key.kid })
      .setIssuer(gate.client_id)
      .setSubject(gate.client_id)
      .setAudience(server.issuer)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(await importJWK(gate.key, 'ES256'));
    return fetch(meta.backchannel_authentication_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: gate.client_id,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
        scope: 'openid',
        login_hint_token: loginHintToken,
      }).toString(),
    });
  }

  it('reader: a burst beyond the pool gets 503 temporarily_unavailable + Retry-After, and the same envelope sent again is accepted', async () => {
    const key = await captureKey();
    const envelopes = await Promise.all(
      [...Array(6).keys()].map(() =>
        sealEnvelope({
          readerId: gate.client_id,
          issuer: server.issuer,
          readerKey: gate.key,
          captureKey: key,
          images: [roi(5, 18)],
          kind: 'roi',
        }),
      ),
    );
    const first = await Promise.all(envelopes.map((e) => cibaRequest(e)));
    const statuses = first.map((r) => r.status);
    const refused = first.filter((r) => r.status === 503);
    expect(refused.length, statuses.join(',')).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200).length, statuses.join(',')).toBeGreaterThanOrEqual(2);
    for (const r of refused) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await r.json()).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    }
    await sleep(1000 * Math.max(...refused.map((r) => Number(r.headers.get('retry-after')))));
    for (const [i, r] of first.entries()) {
      if (r.status !== 503) continue;
      const again = await cibaRequest(envelopes[i]!); // not consumed by the refusal
      expect(again.status).toBe(200);
    }
    expect(await server.db.prisma.auditEvent.count({ where: { action: 'signin.palm', subject: boId } })).toBe(6);
  });

  it('reader: an envelope whose signed payload is JSON null (or not an object) is invalid_request, not a server error', async () => {
    const key = await captureKey();
    for (const payload of ['null', '[1]', '7']) {
      const jws = await new CompactSign(Buffer.from(payload))
        .setProtectedHeader({ alg: 'ES256', typ: ENVELOPE_TYPE, kid: gate.key.kid })
        .sign(await importJWK(gate.key, 'ES256'));
      const token = await new CompactEncrypt(Buffer.from(jws))
        .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'JWT', kid: key.kid })
        .encrypt(await importJWK(key, 'ECDH-ES'));
      const response = await cibaRequest(token);
      expect(response.status, payload).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_request' });
    }
  });

  it('reader: a capture whose header lies about its size is refused as a capture, at once', async () => {
    const key = await captureKey();
    const envelope = await sealEnvelope({
      readerId: gate.client_id,
      issuer: server.issuer,
      readerKey: gate.key,
      captureKey: key,
      images: [await jpegSizeLie(5000, 5000)],
      kind: 'hand',
    });
    const response = await cibaRequest(envelope);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: 'invalid_request',
      error_description: expect.stringMatching(/capture rejected/),
    });
    await server.db.prisma.attemptThrottle.deleteMany();
  });
});
