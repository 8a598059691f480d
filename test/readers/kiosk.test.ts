import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { issueActivationCode } from '../../src/readers/activation.js';
import { fitForEnvelope, readerSignIn } from '../../src/readers/client.js';
import { addReader, revokeReader, type ReaderCredentials } from '../../src/readers/registry.js';
import * as jose from 'jose';
import { readerCrypto } from '../../src/readers/readerCrypto.js';
import { palmid } from '../support/cli.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP);
const { clientAuthentication, sealEnvelope } = readerCrypto(jose);
const photo = (id: number, s: number) => fs.readFileSync(path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`));

interface KioskKey {
  clientId: string;
  kid: string;
  privateKey: CryptoKey;
}

/**
 * The kiosk reader's server side: one-time activation that installs a key made in the browser,
 * and the kiosk's own CIBA requests (src/readers/readerCrypto.ts, run here as the page runs it,
 * with the page's Origin header). The page itself is driven in test/e2e/palm.browser.test.ts.
 */
describe.each(databaseKinds)('kiosk readers: activation and sign-in ($name)', (kind) => {
  let server: TestServer;
  let anaId: string;

  beforeAll(async () => {
    server = await startTestServer(kind);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    const ana = await createPerson(server.db, { email: 'ana@example.org', name: 'Ana', role: 'user' });
    anaId = ana.id;
    await recordConsent(server.db, ana.id, 'office', 1);
    if (haveData) {
      await enrolPalm(new BiometricContext(server.db, server.master), {
        personId: ana.id,
        tenantId: 'office',
        hand: 'right',
        captures: [photo(2, 1), photo(2, 2)],
        kind: 'hand',
        minCaptures: 2,
      });
    }
  }, 120_000);
  afterAll(async () => server?.stop());

  const activate = (code: string, key: unknown) =>
    fetch(`${server.url}/kiosk/activate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, key }),
    });

  /** What the page does at activation: a non-extractable key pair, the public half sent. */
  async function activateKiosk(reader: ReaderCredentials): Promise<KioskKey> {
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const { code } = await issueActivationCode(server.db, reader.client_id);
    const response = await activate(code.toLowerCase(), { kty, crv, x, y });
    const body = (await response.json()) as Record<string, string>;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({
      client_id: reader.client_id,
      tenant: 'office',
      name: expect.any(String),
      kid: expect.any(String),
    });
    return { clientId: reader.client_id, kid: body.kid!, privateKey: pair.privateKey };
  }

  /** The kiosk page's CIBA: envelope, backchannel request, token request (kiosk.js palmSignIn). */
  async function kioskSignIn(key: KioskKey, image: Uint8Array) {
    const metadata = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >;
    const jwks = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: Array<Record<string, string>> };
    const captureKey = jwks.keys.find((k) => k.use === 'enc')!;
    const post = async (url: string, params: Record<string, string>) => {
      const authentication = await clientAuthentication({
        clientId: key.clientId,
        audience: metadata.issuer,
        readerKey: key.privateKey,
        kid: key.kid,
      });
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(server.issuer).origin },
        body: new URLSearchParams({ ...params, ...authentication }),
      });
      return (await response.json()) as Record<string, string>;
    };
    const envelope = await sealEnvelope({
      readerId: key.clientId,
      issuer: metadata.issuer,
      readerKey: key.privateKey,
      kid: key.kid,
      captureKey,
      images: [image],
      kind: 'hand',
    });
    const started = await post(metadata.backchannel_authentication_endpoint!, {
      scope: 'openid email profile',
      login_hint_token: envelope,
    });
    if (started.error) return started;
    return post(metadata.token_endpoint!, {
      grant_type: 'urn:openid:params:grant-type:ciba',
      auth_req_id: started.auth_req_id!,
    });
  }

  it('serves the kiosk page and its scripts under the CSP, with the camera allowed for this origin only', async () => {
    const page = await fetch(`${server.url}/kiosk`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('id="activation-code"');
    expect(html).toContain('<script type="module" src="/static/kiosk.js"></script>');
    // The hand tracker's WebAssembly may compile on this page; eval stays blocked; the rest as everywhere.
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self' 'wasm-unsafe-eval';/);
    expect(page.headers.get('content-security-policy')).not.toMatch(/'unsafe-eval'|'unsafe-inline'/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self';.*frame-ancestors 'none'/);
    const other = await fetch(`${server.url}/.well-known/openid-configuration`);
    expect(other.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
    expect(page.headers.get('permissions-policy')).toContain('camera=(self)');
    for (const name of ['kiosk.js', 'reader-crypto.js', 'palm-capture.js', 'palm-login.js', 'passkey.js']) {
      const script = await fetch(`${server.url}/static/${name}`);
      expect(script.status, name).toBe(200);
      expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    }
  });

  /** A GET with the path sent as written (fetch would resolve `..` and `%2e%2e` itself). */
  const rawGet = (rawPath: string) =>
    new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(server.url);
      http
        .get({ hostname, port, path: rawPath }, (response) => {
          response.resume();
          resolve(response.statusCode!);
        })
        .on('error', reject);
    });

  it('serves the hand tracker (MediaPipe Hands) from palmid itself, the files it needs only', async () => {
    for (const [name, type] of [
      ['hands.js', /^text\/javascript/],
      ['hands_solution_packed_assets_loader.js', /^text\/javascript/],
      ['hands_solution_packed_assets.data', /^application\/octet-stream/],
      ['hands_solution_simd_wasm_bin.js', /^text\/javascript/],
      ['hands_solution_simd_wasm_bin.wasm', /^application\/wasm/],
      ['hands_solution_wasm_bin.wasm', /^application\/wasm/],
      ['hands.binarypb', /^application\/octet-stream/],
      ['hand_landmark_lite.tflite', /^application\/octet-stream/],
    ] as const) {
      const file = await fetch(`${server.url}/static/mediapipe/hands/${name}`);
      expect(file.status, name).toBe(200);
      expect(file.headers.get('content-type'), name).toMatch(type);
      expect(Number(file.headers.get('content-length')), name).toBe((await file.arrayBuffer()).byteLength);
    }
    for (const rawPath of [
      '/static/mediapipe/hands/package.json',
      '/static/mediapipe/hands/hand_landmark_full.tflite', // the pages use the lite model only
      '/static/mediapipe/hands/index.d.ts',
      '/static/mediapipe/hands/README.md',
      '/static/mediapipe/hands/hands_solution_simd_wasm_bin.data',
      '/static/mediapipe/hands/..%2fhands%2fpackage.json',
      '/static/mediapipe/hands/../hands/package.json',
      '/static/mediapipe/hands/constructor',
      '/static/mediapipe/hands/__proto__',
      '/static/mediapipe/hands/',
    ])
      expect(await rawGet(rawPath), rawPath).toBe(404);
  });

  it("serves jose's browser build under /static/jose/, its .js files only", async () => {
    for (const name of ['index.js', 'jwe/compact/encrypt.js', 'lib/content_encryption.js']) {
      const script = await fetch(`${server.url}/static/jose/${name}`);
      expect(script.status, name).toBe(200);
      expect(script.headers.get('content-type'), name).toBe('text/javascript; charset=utf-8');
      expect(script.headers.get('cache-control'), name).toMatch(/max-age=\d+/);
      expect(await script.text(), name).toMatch(/export /);
    }
    for (const rawPath of [
      '/static/jose/../package.json',
      '/static/jose/%2e%2e/package.json',
      '/static/jose/%2E%2E/%2E%2E/package.json',
      '/static/jose/..%2f..%2fpackage.json',
      '/static/jose/..\\..\\package.json',
      '/static/jose/lib/../index.js',
      '/static/jose/%69ndex.js',
      '/static/jose/index.ts',
      '/static/jose/index.d.ts',
      '/static/jose/nope.js',
      '/static/jose/',
      '/static/jose/jwe',
    ]) {
      expect(await rawGet(rawPath), rawPath).toBe(404);
    }
  });

  it('installs the key made on the device with a one-time code; the key `reader add` wrote stops working', async () => {
    const reader = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Lobby tablet' });
    const kiosk = await activateKiosk(reader);
    const stored = await server.db.prisma.oidcClient.findUniqueOrThrow({ where: { clientId: reader.client_id } });
    const keys = (stored.metadata as { jwks: { keys: Array<Record<string, unknown>> } }).jwks.keys;
    expect(keys).toEqual([
      expect.objectContaining({ kty: 'EC', crv: 'P-256', kid: kiosk.kid, alg: 'ES256', use: 'sig' }),
    ]);
    expect(keys[0]).not.toHaveProperty('d');
    const row = await server.db.prisma.reader.findUniqueOrThrow({ where: { clientId: reader.client_id } });
    expect(row).toMatchObject({ activationCodeHash: null, activationExpiresAt: null, activatedAt: expect.any(Date) });
    expect(
      await server.db.prisma.auditEvent.count({ where: { action: 'reader.activated', subject: reader.client_id } }),
    ).toBe(1);

    const oldKey = await readerSignIn({ issuer: server.issuer, reader, images: [new Uint8Array(10)], kind: 'hand' });
    expect(oldKey).toMatchObject({ ok: false, error: 'invalid_client' });
  });

  it('refuses used, expired, unknown and revoked codes, and anything but a P-256 public key', async () => {
    const reader = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Side door' });
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const publicJwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const privateJwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
    const key = { kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x, y: publicJwk.y };

    const { code } = await issueActivationCode(server.db, reader.client_id);
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(await (await activate(code, privateJwk)).json()).toMatchObject({
      error: 'invalid_request',
      error_description: expect.stringMatching(/only the public key/),
    });
    expect((await activate(code, { ...key, crv: 'P-384' })).status).toBe(400);
    expect((await activate(code, { ...key, x: key.y })).status).toBe(400); // not a point on the curve
    expect((await activate('AAAA-BBBB-CCCC', key)).status).toBe(400);
    expect((await activate(code, key)).status).toBe(200);
    expect(await (await activate(code, key)).json()).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/unknown, already used or expired/),
    });

    const expired = await issueActivationCode(server.db, reader.client_id, new Date(Date.now() - 16 * 60_000));
    expect((await activate(expired.code, key)).status).toBe(400);

    const pending = await issueActivationCode(server.db, reader.client_id);
    await revokeReader(server.db, reader.client_id);
    expect((await activate(pending.code, key)).status).toBe(400);
    const stored = await server.db.prisma.reader.findMany({ where: { activationCodeHash: { not: null } } });
    expect(stored.every((r) => !JSON.stringify(r).includes(pending.code))).toBe(true);
  });

  it.skipIf(!haveData)(
    'signs a person in with the envelope and client assertions made by the WebCrypto key',
    async () => {
      const reader = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Front desk' });
      const kiosk = await activateKiosk(reader);
      const [image] = await fitForEnvelope([photo(2, 3)], 'hand');
      const tokens = await kioskSignIn(kiosk, image!);
      expect(tokens.error, JSON.stringify(tokens)).toBeUndefined();
      const claims = JSON.parse(Buffer.from(tokens.id_token!.split('.')[1]!, 'base64url').toString()) as Record<
        string,
        unknown
      >;
      expect(claims).toMatchObject({ sub: anaId, acr: 'urn:palmid:acr:palm', amr: ['palm'] });
      const userinfo = (await (
        await fetch(`${server.url}/me`, {
          headers: { authorization: `Bearer ${tokens.access_token}`, origin: new URL(server.issuer).origin },
        })
      ).json()) as Record<string, unknown>;
      // A reader greets by the first word of the name only, by default (src/readers/greeting.ts).
      expect(userinfo).toMatchObject({ sub: anaId, given_name: 'Ana', email: 'ana@example.org' });
      expect(userinfo.name).toBeUndefined();

      const [stranger] = await fitForEnvelope([photo(30, 1)], 'hand');
      expect(await kioskSignIn(kiosk, stranger!)).toMatchObject({ error: 'unknown_user_id' });
      await server.db.prisma.attemptThrottle.deleteMany();
    },
  );
});

describe.skipIf(databaseKinds[0]!.name !== 'pglite')('palmid reader add / activation (CLI)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-kiosk-cli-'));
  const env = { PALMID_DATA_DIR: dataDir, LOG_LEVEL: 'silent', PORT: '4456' };
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('prints a one-time activation code with reader add, and a new one with reader activation', async () => {
    expect((await palmid(env, 'tenant', 'add', '--id', 'office', '--name', 'Office')).code).toBe(0);
    const added = await palmid(env, 'reader', 'add', '--tenant', 'office', '--name', 'Lobby', '--json');
    expect(added.code, added.stderr).toBe(0);
    const json = JSON.parse(added.stdout) as Record<string, string>;
    expect(json).toMatchObject({
      client_id: expect.stringMatching(/^rdr_/),
      activation_code: expect.stringMatching(/^\w{4}-\w{4}-\w{4}$/),
      kiosk_url: 'http://localhost:4456/kiosk',
    });
    expect(new Date(json.activation_expires_at!).getTime() - Date.now()).toBeGreaterThan(14 * 60_000);

    const again = await palmid(env, 'reader', 'activation', json.client_id!);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /Kiosk activation code: \w{4}-\w{4}-\w{4} \(one use, until .+\): open http:\/\/localhost:4456\/kiosk/,
    );
    expect(again.stdout).not.toContain(json.activation_code!);

    const greeting = await palmid(env, 'reader', 'add', '--tenant', 'office', '--name', 'Hall', '--greeting', 'nick');
    expect(greeting.code).not.toBe(0);
    expect(greeting.stderr).toMatch(/first_name, none, full/);

    const unknown = await palmid(env, 'reader', 'activation', 'rdr_nope');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no active reader rdr_nope/);
  });
});
