import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import type { KoaContextWithOIDC } from 'oidc-provider';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { isPalmLogin, maskEmail, palmidInteractionPolicy, recognisedAs } from '../../src/oidc/recognised.js';
import { UserAgent } from '../support/browserless.js';
import { discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP);
const photo = (id: number, s: number) => fs.readFileSync(path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`));

describe('who was recognised (the page after a palm sign-in)', () => {
  it('names the person by display name, else by a masked email', () => {
    expect(recognisedAs({ name: 'Ana Lopes', email: 'ana@example.org' })).toBe('Ana Lopes');
    expect(recognisedAs({ name: null, email: 'ana@example.org' })).toBe('a•••@example.org');
    expect(recognisedAs({ name: '  ', email: 'bo@example.org' })).toBe('b•••@example.org');
  });

  it('masks all of the local part but its first character', () => {
    expect(maskEmail('x@example.org')).toBe('x•••@example.org');
    expect(maskEmail('élodie.martin@example.org')).toBe('é•••@example.org');
    expect(maskEmail('a@b@example.org')).toBe('a•••@example.org');
    expect(maskEmail('not-an-email')).toBe('•••');
  });

  it('tells palm logins from passkey logins', () => {
    expect(isPalmLogin({ acr: 'urn:palmid:acr:palm' })).toBe(true);
    expect(isPalmLogin({ acr: 'urn:palmid:acr:palm+pin' })).toBe(true);
    expect(isPalmLogin({ acr: 'phr' })).toBe(false);
    expect(isPalmLogin(undefined)).toBe(false);
  });

  it('asks for the consent page after a palm login in this authorization until it is confirmed', async () => {
    const check = [...palmidInteractionPolicy().get('consent')!.checks].find((c) => c.reason === 'palm_recognised')!;
    const run = (result: unknown) => check.check({ oidc: { result } } as unknown as KoaContextWithOIDC);
    expect(await run({ login: { accountId: 'p', acr: 'urn:palmid:acr:palm' } })).toBe(true);
    expect(await run({ login: { accountId: 'p', acr: 'urn:palmid:acr:palm' }, consent: { grantId: 'g' } })).toBe(false);
    expect(await run({ login: { accountId: 'p', acr: 'phr' } })).toBe(false);
    expect(await run(undefined)).toBe(false); // a silent sign-in on an existing session
  });
});

/**
 * The page after a palm login, through the endpoints the login page calls (no browser; the
 * browser and "Not you?" are in test/e2e/not-you.browser.test.ts).
 */
describe.skipIf(!haveData)('the page after a palm login (server)', () => {
  let server: TestServer;
  let client: { client_id: string; client_secret: string | undefined };
  const redirectUri = 'http://127.0.0.1:9/cb';

  beforeAll(async () => {
    server = await startTestServer(databaseKinds[0]!);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    // No display name: the page shows the masked email.
    const bo = await createPerson(server.db, { email: 'bo.smith@example.org', role: 'user' });
    await recordConsent(server.db, bo.id, 'office', 1);
    await enrolPalm(new BiometricContext(server.db, server.master), {
      personId: bo.id,
      tenantId: 'office',
      hand: 'right',
      captures: [photo(2, 1), photo(2, 2)],
      kind: 'hand',
      minCaptures: 2,
    });
    client = await server.addClient({ name: 'Office portal', redirectUris: [redirectUri], tenant: 'office' });
  }, 180_000);
  afterAll(async () => server?.stop());

  /** An authorization in this agent's session, signed in with one palm frame: the page that follows. */
  async function palmLogin(agent: UserAgent, params: Record<string, string> = {}) {
    const rp = await discoverRp(server, client);
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      ...params,
    });
    const { url: page } = await agent.follow(url.href, server.issuer);
    const uid = /\/interaction\/([^/?#]+)$/.exec(page)![1]!;
    const image = await sharp(photo(2, 3)).resize({ width: 640 }).jpeg({ quality: 85 }).toBuffer();
    const signedIn = await agent.fetch(`${server.issuer}/interaction/${uid}/palm`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(image),
    });
    expect(signedIn.status).toBe(200);
    const { redirectTo } = (await signedIn.json()) as { redirectTo: string };
    const next = await agent.follow(redirectTo, server.issuer);
    return { url: next.url, html: await next.response.text() };
  }

  it('names the person by masked email, with "Not you?"; confirms a palm login even when consent was given', async () => {
    const agent = new UserAgent();
    const first = await palmLogin(agent);
    expect(first.html).toContain('b•••@example.org');
    expect(first.html).not.toContain('bo.smith@');
    expect(first.html).toContain('/not-you"');
    expect(first.html).toContain('>Allow<');
    const uid = /\/interaction\/([^/?#]+)$/.exec(first.url)![1]!;
    const allowed = await agent.follow(`${server.issuer}/interaction/${uid}/confirm`, server.issuer, {
      method: 'POST',
    });
    expect(allowed.url.startsWith(redirectUri)).toBe(true);
    expect(new URL(allowed.url).searchParams.get('code')).toBeTruthy();

    // Consent given, same session, a fresh palm login (prompt=login): the page still asks "is this you?".
    const again = await palmLogin(agent, { prompt: 'login' });
    expect(again.url).toMatch(/\/interaction\/[^/]+$/);
    expect(again.html).toContain('b•••@example.org');
    expect(again.html).toContain('>Continue<');
    expect(again.html).not.toContain('asks to:');
  });
});
