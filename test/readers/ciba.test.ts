import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompactSign, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { readerSignIn, type ReaderKeyFile } from '../../src/readers/client.js';
import { ENVELOPE_TYPE, sealEnvelope } from '../../src/readers/envelope.js';
import { setPin } from '../../src/readers/pin.js';
import { addReader, revokeReader } from '../../src/readers/registry.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/tongji-roi');
const haveData = fs.existsSync(DATA);
const COEP = path.resolve(DATA, '../coep-hands');
const sample = (palm: number, s: number) =>
  fs.readFileSync(path.join(DATA, `${String(palm).padStart(3, '0')}_${String(s).padStart(2, '0')}.bmp`));

/** Readers sign people in over CIBA with a capture envelope, as `palmid reader signin` does. */
describe.skipIf(!haveData).each(databaseKinds)('palm sign-in at a reader over CIBA ($name)', (kind) => {
  let server: TestServer;
  let gate: ReaderKeyFile;
  let anaId: string;

  const signIn = (reader: ReaderKeyFile, images: Uint8Array[], extra: { pin?: string; acr?: string } = {}) =>
    readerSignIn({ issuer: server.issuer, reader, images, kind: 'roi', ...extra });
  const captureKey = async () =>
    ((await (await fetch(`${server.url}/jwks`)).json()) as { keys: JWK[] }).keys.find((k) => k.use === 'enc')!;
  const rawRequest = (reader: ReaderKeyFile, loginHintToken: string) => readerSignInRaw(server, reader, loginHintToken);

  beforeAll(async () => {
    server = await startTestServer(kind);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    await addTenant(server.db, { id: 'stadium', name: 'Stadium' });
    const ana = await createPerson(server.db, { email: 'ana@example.org', role: 'user' });
    anaId = ana.id;
    await recordConsent(server.db, ana.id, 'office', 1);
    await enrolPalm(new BiometricContext(server.db, server.master), {
      personId: ana.id,
      tenantId: 'office',
      hand: 'right',
      captures: [1, 2, 3].map((s) => sample(5, s)),
      kind: 'roi',
    });
    gate = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Gate 1' });
  }, 120_000);
  afterAll(async () => server?.stop());

  it('recognises an enrolled palm and issues tokens with the palm acr/amr', async () => {
    const result = await signIn(gate, [sample(5, 14)]);
    expect(result, JSON.stringify(result)).toMatchObject({
      ok: true,
      sub: anaId,
      email: 'ana@example.org',
      acr: 'urn:palmid:acr:palm',
      amr: ['palm'],
    });
    expect(await server.db.prisma.auditEvent.count({ where: { action: 'signin.palm', subject: anaId } })).toBe(1);
  });

  it("passes a short binding message through for the reader's display, and refuses a long one", async () => {
    expect(
      await readerSignIn({
        issuer: server.issuer,
        reader: gate,
        images: [sample(5, 9)],
        kind: 'roi',
        bindingMessage: 'GATE 7',
      }),
    ).toMatchObject({ ok: true });
    expect(
      await readerSignIn({
        issuer: server.issuer,
        reader: gate,
        images: [sample(5, 9)],
        kind: 'roi',
        bindingMessage: 'x'.repeat(30),
      }),
    ).toMatchObject({
      ok: false,
      error: 'invalid_binding_message',
    });
  });

  it('steps up with the PIN, and refuses a palm+pin request without it', async () => {
    await setPin(server.db, anaId, '4821');
    const stepUp = await signIn(gate, [sample(5, 15)], { acr: 'urn:palmid:acr:palm+pin', pin: '4821' });
    expect(stepUp).toMatchObject({ ok: true, acr: 'urn:palmid:acr:palm+pin', amr: ['palm', 'pin', 'mfa'] });
    expect(await signIn(gate, [sample(5, 16)], { acr: 'urn:palmid:acr:palm+pin' })).toMatchObject({
      ok: false,
      error: 'missing_user_code',
    });

    // A checkout reader configured to require the PIN cannot get less, whatever it asks for.
    const checkout = await addReader(server.db, server.provider(), {
      tenantId: 'office',
      name: 'Checkout',
      requirePin: true,
    });
    expect(await signIn(checkout, [sample(5, 16)])).toMatchObject({ ok: false, error: 'missing_user_code' });
    expect(await signIn(checkout, [sample(5, 17)], { pin: '4821' })).toMatchObject({
      ok: true,
      acr: 'urn:palmid:acr:palm+pin',
    });
  });

  it('stores neither the capture envelope nor the PIN with the CIBA requests it keeps', async () => {
    const signedIn = await signIn(gate, [sample(5, 18)], { acr: 'urn:palmid:acr:palm+pin', pin: '4821' });
    expect(signedIn).toMatchObject({ ok: true });
    const requests = await server.db.query<{ params: Record<string, unknown> }>(
      `SELECT payload->'params' AS params FROM oidc_payload WHERE type = 'BackchannelAuthenticationRequest'`,
    );
    expect(requests.length).toBeGreaterThan(0);
    for (const r of requests) {
      expect(Object.keys(r.params)).not.toContain('login_hint_token');
      expect(Object.keys(r.params)).not.toContain('user_code');
      expect(r.params.scope).toBeDefined(); // the rest of the request is still there
    }
    const [{ n }] = await server.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM oidc_payload WHERE payload::text LIKE '%4821%' OR length(payload::text) > 8000`,
    );
    expect(n).toBe(0);
  });

  it('backs off after five wrong PINs', async () => {
    for (let i = 0; i < 5; i++) {
      expect(await signIn(gate, [sample(5, 4 + (i % 3))], { pin: '0000' })).toMatchObject({
        ok: false,
        error: 'invalid_user_code',
      });
    }
    const blocked = await signIn(gate, [sample(5, 7)], { pin: '4821' });
    expect(blocked).toMatchObject({ ok: false, error: 'access_denied' });
    expect(blocked.error_description).toMatch(/retry in \d+ s/);
    await server.db.prisma.attemptThrottle.deleteMany();
  });

  it('answers unknown_user_id for a palm nobody enrolled, and for a person who did not consent to this tenant', async () => {
    expect(await signIn(gate, [sample(9, 3)])).toMatchObject({ ok: false, error: 'unknown_user_id' });
    const stadiumGate = await addReader(server.db, server.provider(), { tenantId: 'stadium', name: 'Stadium gate' });
    expect(await signIn(stadiumGate, [sample(5, 17)])).toMatchObject({ ok: false, error: 'unknown_user_id' });
    await server.db.prisma.attemptThrottle.deleteMany();
  });

  it('refuses replayed, expired, unencrypted, foreign-signed and corrupted envelopes', async () => {
    const key = await captureKey();
    const countRequests = async () =>
      Number(
        (
          await server.db.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM oidc_payload WHERE type = 'BackchannelAuthenticationRequest'`,
          )
        )[0]!.n,
      );
    const before = await countRequests();
    const envelope = await sealEnvelope({
      readerId: gate.client_id,
      issuer: server.issuer,
      readerKey: gate.key,
      captureKey: key,
      images: [sample(5, 18)],
      kind: 'roi',
    });
    expect((await rawRequest(gate, envelope)).status).toBe(200);
    expect(await (await rawRequest(gate, envelope)).json()).toMatchObject({
      error: 'invalid_request',
      error_description: expect.stringMatching(/already used/),
    });

    const expired = await sealEnvelope({
      readerId: gate.client_id,
      issuer: server.issuer,
      readerKey: gate.key,
      captureKey: key,
      images: [sample(5, 18)],
      kind: 'roi',
      now: Math.floor(Date.now() / 1000) - 120,
    });
    expect(await (await rawRequest(gate, expired)).json()).toMatchObject({ error: 'expired_login_hint_token' });

    const signedOnly = await new CompactSign(Buffer.from(JSON.stringify({ iss: gate.client_id, images: [] })))
      .setProtectedHeader({ alg: 'ES256', typ: ENVELOPE_TYPE })
      .sign(await importJWK(gate.key, 'ES256'));
    expect(await (await rawRequest(gate, signedOnly)).json()).toMatchObject({
      error: 'invalid_request',
      error_description: expect.stringMatching(/JWE/),
    });

    const other = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Other' });
    const wrongKey = await sealEnvelope({
      readerId: gate.client_id,
      issuer: server.issuer,
      readerKey: { ...other.key, kid: gate.key.kid },
      captureKey: key,
      images: [sample(5, 18)],
      kind: 'roi',
    });
    expect(await (await rawRequest(gate, wrongKey)).json()).toMatchObject({
      error: 'invalid_request',
      error_description: expect.stringMatching(/not signed by this reader/),
    });

    const corrupt = Buffer.from(sample(5, 18)).subarray(0, 600);
    const broken = await sealEnvelope({
      readerId: gate.client_id,
      issuer: server.issuer,
      readerKey: gate.key,
      captureKey: key,
      images: [corrupt],
      kind: 'roi',
    });
    expect(await (await rawRequest(gate, broken)).json()).toMatchObject({
      error: 'invalid_request',
      error_description: expect.stringMatching(/capture rejected/),
    });

    // None of the refused envelopes left a CIBA request or a token behind.
    expect(await countRequests()).toBe(before + 1); // the first, valid envelope only
    await server.db.prisma.attemptThrottle.deleteMany();
  });

  // Token exchange of these tokens: test/oidc/token-exchange.test.ts.

  it.skipIf(!fs.existsSync(COEP))(
    'signs in from a whole-hand photo, scaled down by the reader to fit the envelope',
    async () => {
      const photo = (s: number) => fs.readFileSync(path.join(COEP, `002_0${s}.jpg`));
      const bo = await createPerson(server.db, { email: 'bo@example.org', role: 'user' });
      await recordConsent(server.db, bo.id, 'office', 1);
      await enrolPalm(new BiometricContext(server.db, server.master), {
        personId: bo.id,
        tenantId: 'office',
        hand: 'right',
        captures: [photo(1), photo(2)],
        kind: 'hand',
        minCaptures: 2,
      });
      expect(photo(3).length).toBeGreaterThan(56 * 1024); // as taken, it would not fit a request
      const result = await readerSignIn({ issuer: server.issuer, reader: gate, images: [photo(3)], kind: 'hand' });
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true, sub: bo.id, acr: 'urn:palmid:acr:palm' });
    },
  );

  it('refuses a revoked reader at once', async () => {
    const reader = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Soon gone' });
    expect((await signIn(reader, [sample(5, 19)])).ok).toBe(true);
    await revokeReader(server.db, reader.client_id);
    let result = await signIn(reader, [sample(5, 20)]);
    for (let i = 0; i < 10 && result.error !== 'invalid_client'; i++) result = await signIn(reader, [sample(5, 20)]);
    expect(result).toMatchObject({ ok: false, error: 'invalid_client' });
  });
});

/** POST the envelope to the backchannel endpoint with the reader's client assertion, without a library's checks. */
async function readerSignInRaw(server: TestServer, reader: ReaderKeyFile, loginHintToken: string): Promise<Response> {
  const { SignJWT } = await import('jose');
  const { randomUUID } = await import('node:crypto');
  const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<
    string,
    string
  >;
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: reader.key.kid })
    .setIssuer(reader.client_id)
    .setSubject(reader.client_id)
    .setAudience(server.issuer)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(await importJWK(reader.key, 'ES256'));
  return fetch(meta.backchannel_authentication_endpoint!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: reader.client_id,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      scope: 'openid',
      login_hint_token: loginHintToken,
    }).toString(),
  });
}
