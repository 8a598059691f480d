import { randomBytes } from 'node:crypto';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecryptionError, open } from '../../src/crypto/aead.js';
import { MasterKey } from '../../src/crypto/masterKey.js';
import { SigningKeyStore } from '../../src/crypto/signingKeys.js';
import { SoftAuthenticator } from '../support/authenticator.js';
import { UserAgent, registerPasskey } from '../support/browserless.js';
import { codeFlowTokens, discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const REDIRECT = 'http://127.0.0.1:9/cb';
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

describe.each(databaseKinds)('signing key rotation ($name)', (kind) => {
  let server: TestServer;
  let authenticator: SoftAuthenticator;
  let rp: oidc.Configuration;
  let clientId: string;

  beforeAll(async () => {
    server = await startTestServer(kind);
    authenticator = new SoftAuthenticator();
    expect(
      (await registerPasskey(new UserAgent(), server.setupLink!, authenticator, { email: 'ana@example.org' })).status,
    ).toBe(200);
    const client = await server.addClient({ redirectUris: [REDIRECT] });
    clientId = client.client_id;
    rp = await discoverRp(server, client);
  });
  afterAll(async () => server?.stop());

  const freshTokens = () => codeFlowTokens(rp, authenticator, { redirectUri: REDIRECT });

  const idToken = async () => (await freshTokens()).id_token!;

  async function publishedJwks(): Promise<jose.JSONWebKeySet> {
    const response = await fetch(rp.serverMetadata().jwks_uri!);
    expect(response.status).toBe(200);
    return (await response.json()) as jose.JSONWebKeySet;
  }

  function expectPublicOnly(jwks: jose.JSONWebKeySet) {
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const key of jwks.keys) {
      for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member);
      expect(key.kid).toBeTruthy();
    }
  }

  async function verify(token: string, jwks: jose.JSONWebKeySet) {
    return jose.jwtVerify(token, jose.createLocalJWKSet(jwks), { issuer: server.issuer, audience: clientId });
  }

  it('publishes only public key members', async () => {
    const jwks = await publishedJwks();
    expectPublicOnly(jwks);
    expect(jwks.keys.map((k) => `${k.alg}/${k.use}`).sort()).toEqual(['ECDH-ES/enc', 'ES256/sig', 'RS256/sig']);
  });

  it('stores signing keys encrypted under the master key, bound to their kid', async () => {
    const store = new SigningKeyStore(server.db, server.master);
    const { keys } = await store.load();
    const rows = await server.db.query<{ kid: string; encrypted_jwk: Uint8Array }>(
      'SELECT kid, encrypted_jwk FROM signing_key',
    );
    expect(rows.length).toBe(keys.length);
    for (const row of rows) {
      const sealed = Buffer.from(row.encrypted_jwk);
      const privateJwk = keys.find((k) => k.kid === row.kid)!;
      expect(privateJwk.d).toBeTruthy();
      expect(sealed.includes('"d":')).toBe(false);
      expect(sealed.includes(privateJwk.d!)).toBe(false);
      expect(sealed.includes('"kty"')).toBe(false);
      // The right key and associated data open it; another row's kid does not.
      const plain = JSON.parse(
        open(server.master.derive('signing-keys'), sealed, `signing-key:${row.kid}`).toString(),
      ) as jose.JWK;
      expect(plain.d).toBe(privateJwk.d);
      const otherKid = rows.find((r) => r.kid !== row.kid)!.kid;
      expect(() => open(server.master.derive('signing-keys'), sealed, `signing-key:${otherKid}`)).toThrow(
        DecryptionError,
      );
    }
    // Another master key cannot decrypt them.
    const stranger = new SigningKeyStore(server.db, MasterKey.fromBytes(randomBytes(32)));
    await expect(stranger.load()).rejects.toBeInstanceOf(DecryptionError);
  });

  it('rotates: old and new keys published, new tokens signed by a new kid, old tokens still verify, expired keys dropped', async () => {
    const before = await publishedJwks();
    const oldToken = await idToken();
    const oldKid = jose.decodeProtectedHeader(oldToken).kid!;
    expect(before.keys.map((k) => k.kid)).toContain(oldKid);
    await verify(oldToken, before);

    const store = new SigningKeyStore(server.db, server.master);
    const first = await store.rotate(3600);
    expect(first.retired.sort()).toEqual(before.keys.map((k) => k.kid!).sort());
    expect(first.created).toHaveLength(3); // ES256, RS256 and the ECDH-ES capture key
    expect(await server.reloadKeys()).toBe(true);
    expect(await server.reloadKeys()).toBe(false); // nothing changed since

    const during = await publishedJwks();
    expectPublicOnly(during);
    expect(during.keys.map((k) => k.kid).sort()).toEqual([...first.retired, ...first.created].sort());

    const newToken = await idToken();
    const newKid = jose.decodeProtectedHeader(newToken).kid!;
    expect(first.created).toContain(newKid);
    expect(newKid).not.toBe(oldKid);
    await verify(newToken, during);
    const { payload } = await verify(oldToken, during);
    expect(payload.aud).toBe(clientId);
    // openid-client also still accepts the provider's tokens after the switch.
    expect((await oidc.fetchUserInfo(rp, (await freshTokens()).access_token, oidc.skipSubjectCheck)).sub).toBeTruthy();

    // Rotate again and let every retired key's publication window pass.
    const second = await store.rotate(0);
    await server.db.prisma.signingKey.updateMany({
      where: { retiredAt: { not: null } },
      data: { publishUntil: new Date(Date.now() - 1000) },
    });
    expect(await server.reloadKeys()).toBe(true);
    const after = await publishedJwks();
    expectPublicOnly(after);
    expect(after.keys.map((k) => k.kid).sort()).toEqual([...second.created].sort());
    await expect(verify(oldToken, after)).rejects.toBeInstanceOf(jose.errors.JWKSNoMatchingKey);
    await expect(verify(newToken, after)).rejects.toBeInstanceOf(jose.errors.JWKSNoMatchingKey);
    // The expired rows are gone from the database, too.
    expect(await server.db.prisma.signingKey.count()).toBe(3);

    const latest = await idToken();
    expect(second.created).toContain(jose.decodeProtectedHeader(latest).kid);
    await verify(latest, after);
  });
});
