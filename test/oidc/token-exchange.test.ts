import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCardVault } from '../../adapters/card-vault.js';
import { linkCard, setLoyaltyNumber } from '../../src/accounts/cards.js';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { ClientInputError } from '../../src/oidc/clients.js';
import type { ReaderKeyFile } from '../../src/readers/client.js';
import { sealEnvelope } from '../../src/readers/envelope.js';
import { setPin } from '../../src/readers/pin.js';
import { addReader } from '../../src/readers/registry.js';
import { discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/tongji-roi');
const sample = (palm: number, s: number) =>
  fs.readFileSync(path.join(DATA, `${String(palm).padStart(3, '0')}_${String(s).padStart(2, '0')}.bmp`));

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const LOYALTY_API = 'https://loyalty.example/api';

/**
 * RFC 8693 token exchange of reader sign-in tokens: confined to the exchanging client's tenant
 * (and its allowed readers), to its own exchange scopes, to the subject token's scope, and to
 * palm + PIN for payment. The review's attack: a stadium app exchanging an office gate's token.
 */
describe.skipIf(!fs.existsSync(DATA)).each(databaseKinds)('token exchange ($name)', (kind) => {
  let server: TestServer;
  let gate: ReaderKeyFile;
  let lobby: ReaderKeyFile;
  let anaId: string;
  let sampleNo = 4;

  /** A reader signs Ana in over CIBA; its access token is the subject token. */
  async function palmToken(reader: ReaderKeyFile, options: { scope?: string; pin?: string } = {}): Promise<string> {
    const config = await oidc.discovery(
      new URL(server.issuer),
      reader.client_id,
      { token_endpoint_auth_signing_alg: 'ES256' },
      oidc.PrivateKeyJwt({ key: (await jose.importJWK(reader.key, 'ES256')) as CryptoKey, kid: reader.key.kid }),
      { execute: [oidc.allowInsecureRequests] },
    );
    const captureKey = ((await (await fetch(`${server.url}/jwks`)).json()) as { keys: jose.JWK[] }).keys.find(
      (k) => k.use === 'enc',
    )!;
    const envelope = await sealEnvelope({
      readerId: reader.client_id,
      issuer: server.issuer,
      readerKey: reader.key,
      captureKey,
      images: [sample(5, sampleNo++)],
      kind: 'roi',
    });
    const started = await oidc.initiateBackchannelAuthentication(config, {
      scope: options.scope ?? 'openid email',
      login_hint_token: envelope,
      ...(options.pin ? { acr_values: 'urn:palmid:acr:palm+pin', user_code: options.pin } : {}),
    });
    const tokens = await oidc.genericGrantRequest(config, 'urn:openid:params:grant-type:ciba', {
      auth_req_id: started.auth_req_id,
    });
    return tokens.access_token;
  }

  async function exchangeApp(input: { tenant: string; scopes: string[]; from?: string[] }) {
    const app = await server.addClient({
      name: `${input.tenant} app`,
      grantTypes: [EXCHANGE],
      redirectUris: [],
      tenant: input.tenant,
      exchangeAudiences: [LOYALTY_API],
      exchangeScopes: input.scopes,
      ...(input.from ? { exchangeSubjectClients: input.from } : {}),
    });
    const config = await discoverRp(server, app);
    return {
      clientId: app.client_id,
      exchange: (subjectToken: string, params: Record<string, string> = {}) =>
        oidc.genericGrantRequest(config, EXCHANGE, {
          subject_token: subjectToken,
          subject_token_type: ACCESS_TOKEN,
          audience: LOYALTY_API,
          ...params,
        }),
    };
  }

  const refusals = (clientId: string) =>
    server.db.prisma.auditEvent.findMany({ where: { action: 'token.exchange_refused', actor: clientId } });

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
    await setPin(server.db, anaId, '4821');
    await setLoyaltyNumber(server.db, anaId, 'office', 'OFF-42');
    await setLoyaltyNumber(server.db, anaId, 'stadium', 'STA-7');
    await linkCard(server.db, new LocalCardVault(server.db, server.master.derive('card-vault')), anaId, {
      number: '4111111111111111',
      expMonth: 12,
      expYear: 2031,
    });
    gate = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Office gate' });
    lobby = await addReader(server.db, server.provider(), { tenantId: 'office', name: 'Lobby' });
  }, 120_000);
  afterAll(async () => server?.stop());

  it("refuses another tenant's app an office gate token, whatever it asks for (the review's attack)", async () => {
    const gateToken = await palmToken(gate, { scope: 'openid email' });
    const stadiumApp = await exchangeApp({ tenant: 'stadium', scopes: ['loyalty', 'payment', 'openid', 'email'] });
    for (const scope of ['payment loyalty', 'loyalty', 'openid', '']) {
      await expect(stadiumApp.exchange(gateToken, scope ? { scope } : {})).rejects.toMatchObject({
        error: 'invalid_grant',
      });
    }
    const audited = await refusals(stadiumApp.clientId);
    expect(audited).toHaveLength(4);
    expect(audited[0]).toMatchObject({
      subject: anaId,
      detail: expect.objectContaining({ error: 'invalid_grant', reason: expect.stringMatching(/another tenant/) }),
    });
    expect(
      await server.db.prisma.auditEvent.count({ where: { action: 'token.exchanged', actor: stadiumApp.clientId } }),
    ).toBe(0);
  });

  it('refuses payment from a palm sign-in without the PIN, and grants it after palm + PIN', async () => {
    const app = await exchangeApp({ tenant: 'office', scopes: ['loyalty', 'payment'] });
    const palmOnly = await palmToken(gate, { scope: 'openid' });
    await expect(app.exchange(palmOnly, { scope: 'payment' })).rejects.toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/PIN/),
    });
    await expect(app.exchange(palmOnly, { scope: 'loyalty payment' })).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect(await refusals(app.clientId)).toHaveLength(2);

    // Palm alone is enough for the loyalty number of the reader's tenant.
    const loyaltyOnly = await app.exchange(palmOnly, { scope: 'loyalty' });
    const jwks = jose.createLocalJWKSet((await (await fetch(`${server.url}/jwks`)).json()) as jose.JSONWebKeySet);
    const loyalty = (
      await jose.jwtVerify(loyaltyOnly.access_token, jwks, { issuer: server.issuer, audience: LOYALTY_API })
    ).payload;
    expect(loyalty).toMatchObject({
      sub: anaId,
      scope: 'loyalty',
      loyalty_number: 'OFF-42',
      acr: 'urn:palmid:acr:palm',
      act: { sub: app.clientId },
    });
    expect(loyalty.payment_cards).toBeUndefined();

    const withPin = await palmToken(gate, { scope: 'openid', pin: '4821' });
    const exchanged = await app.exchange(withPin, { scope: 'loyalty payment' });
    expect(exchanged.issued_token_type).toBe(ACCESS_TOKEN);
    const { payload, protectedHeader } = await jose.jwtVerify(exchanged.access_token, jwks, {
      issuer: server.issuer,
      audience: LOYALTY_API,
    });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload).toMatchObject({
      sub: anaId,
      act: { sub: app.clientId },
      acr: 'urn:palmid:acr:palm+pin',
      loyalty_number: 'OFF-42',
    });
    expect(payload.payment_cards).toEqual([
      expect.objectContaining({ brand: 'visa', last4: '1111', vault_token: expect.stringMatching(/^vtok_/) }),
    ]);
    expect(JSON.stringify(payload)).not.toContain('4111111111111111');
    expect(await server.db.prisma.auditEvent.count({ where: { action: 'token.exchanged', actor: app.clientId } })).toBe(
      2,
    );
  });

  it("refuses OpenID scopes the subject token does not carry, and anything beyond the client's exchange scopes", async () => {
    const token = await palmToken(gate, { scope: 'openid', pin: '4821' });
    const wide = await exchangeApp({ tenant: 'office', scopes: ['openid', 'email', 'loyalty'] });
    await expect(wide.exchange(token, { scope: 'openid email' })).rejects.toMatchObject({
      error: 'invalid_scope',
      cause: { scope: 'email' },
    });
    expect(await wide.exchange(token, { scope: 'openid loyalty' })).toMatchObject({ scope: 'openid loyalty' }); // down-scoping is fine
    // Its registration does not include payment, however strong the subject token.
    await expect(wide.exchange(token, { scope: 'payment' })).rejects.toMatchObject({
      error: 'invalid_scope',
      cause: { scope: 'payment' },
    });
    await expect(wide.exchange(token, { scope: 'openid admin' })).rejects.toMatchObject({ error: 'invalid_scope' });
    const narrow = await exchangeApp({ tenant: 'office', scopes: ['loyalty'] });
    await expect(narrow.exchange(token, { scope: 'openid' })).rejects.toMatchObject({ error: 'invalid_scope' });
    expect((await refusals(wide.clientId)).map((e) => (e.detail as { error: string }).error)).toEqual([
      'invalid_scope',
      'invalid_scope',
      'invalid_scope',
    ]);
  });

  it('exchanges only tokens of the readers a client is registered to act for', async () => {
    const app = await exchangeApp({ tenant: 'office', scopes: ['loyalty'], from: [lobby.client_id] });
    await expect(app.exchange(await palmToken(gate, { scope: 'openid' }), { scope: 'loyalty' })).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect(await app.exchange(await palmToken(lobby, { scope: 'openid' }), { scope: 'loyalty' })).toMatchObject({
      scope: 'loyalty',
    });
    // Registration already refuses a reader of another tenant.
    const stadiumGate = await addReader(server.db, server.provider(), { tenantId: 'stadium', name: 'Stadium gate' });
    await expect(
      exchangeApp({ tenant: 'office', scopes: ['loyalty'], from: [stadiumGate.client_id] }),
    ).rejects.toBeInstanceOf(ClientInputError);
  });

  it('still refuses expired and revoked subject tokens, and tokens that are not from a reader', async () => {
    const app = await exchangeApp({ tenant: 'office', scopes: ['loyalty'] });
    const expired = await palmToken(gate, { scope: 'openid' });
    expect(await app.exchange(expired, { scope: 'loyalty' })).toMatchObject({ scope: 'loyalty' });
    const past = Math.floor(Date.now() / 1000) - 1;
    await server.db.query(
      `UPDATE oidc_payload SET expires_at = now() - interval '1 second', payload = jsonb_set(payload, '{exp}', to_jsonb($2::int)) WHERE type = 'AccessToken' AND id = $1`,
      [expired, past],
    );
    await expect(app.exchange(expired, { scope: 'loyalty' })).rejects.toMatchObject({ error: 'invalid_grant' });

    const revoked = await palmToken(gate, { scope: 'openid' });
    const gateConfig = await oidc.discovery(
      new URL(server.issuer),
      gate.client_id,
      { token_endpoint_auth_signing_alg: 'ES256' },
      oidc.PrivateKeyJwt({ key: (await jose.importJWK(gate.key, 'ES256')) as CryptoKey, kid: gate.key.kid }),
      { execute: [oidc.allowInsecureRequests] },
    );
    await oidc.tokenRevocation(gateConfig, revoked);
    await expect(app.exchange(revoked, { scope: 'loyalty' })).rejects.toMatchObject({ error: 'invalid_grant' });

    await expect(app.exchange('not-a-token', { scope: 'loyalty' })).rejects.toMatchObject({ error: 'invalid_grant' });
    const svc = await server.addClient({ name: 'svc', grantTypes: ['client_credentials'], redirectUris: [] });
    const notPalm = await oidc.clientCredentialsGrant(await discoverRp(server, svc));
    await expect(app.exchange(notPalm.access_token, { scope: 'loyalty' })).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    await expect(
      app.exchange(await palmToken(gate, { scope: 'openid' }), { audience: 'https://other.example/api' }),
    ).rejects.toMatchObject({ error: 'invalid_target' });
    expect(await refusals(app.clientId)).toHaveLength(5);
  });

  it('will not register an exchanging client without a tenant', async () => {
    await expect(
      server.addClient({
        name: 'no tenant',
        grantTypes: [EXCHANGE],
        redirectUris: [],
        exchangeAudiences: [LOYALTY_API],
      }),
    ).rejects.toThrow(/--tenant/);
  });
});
