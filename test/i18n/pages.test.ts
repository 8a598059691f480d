import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenant } from '../../src/accounts/tenants.js';
import { formatDateTime } from '../../src/i18n/dates.js';
import { renderView } from '../../src/views.js';
import { SoftAuthenticator } from '../support/authenticator.js';
import { registerPasskey, UserAgent } from '../support/browserless.js';
import { discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

/**
 * palmid's pages through HTTP in French: chosen by the authorization request's ui_locales, by
 * Accept-Language, by ?lang= (remembered in a cookie); ui_locales wins over the browser. One server.
 */
const REDIRECT = 'http://127.0.0.1:9/cb';

/** The JSON a page hands its scripts (views/layout.eta). */
function scriptMessages(html: string): Record<string, unknown> {
  const json = /<script type="application\/json" id="palmid-messages">([^<]*)<\/script>/.exec(html)?.[1];
  expect(json, 'the page carries its scripts’ messages').toBeDefined();
  return JSON.parse(json!) as Record<string, unknown>;
}

describe('catalogue text with markup', () => {
  it('keeps the catalogue’s <strong> but escapes the names put into it', () => {
    const html = renderView('login', { uid: 'u1', clientName: '<img src=x onerror=alert(1)>', locale: 'fr' });
    expect(html).toContain('Connectez-vous à <strong>&lt;img src=x onerror=alert(1)&gt;</strong>.');
    expect(html).not.toContain('<img');
  });
});

describe('pages in the person’s language', () => {
  let server: TestServer;
  let rp: oidc.Configuration;
  const adminKey = new SoftAuthenticator();
  const origin = () => new URL(server.issuer).origin;

  beforeAll(async () => {
    server = await startTestServer(databaseKinds[0]!);
    await addTenant(server.db, { id: 'office', name: 'Office' });
    const client = await server.addClient({ name: 'Portail', redirectUris: [REDIRECT], tenant: 'office' });
    rp = await discoverRp(server, client);
    expect(
      (await registerPasskey(new UserAgent(), server.setupLink!, adminKey, { email: 'root@example.org' })).status,
    ).toBe(200);
  }, 120_000);
  afterAll(async () => server?.stop());

  /** The login page of a new authorization request. */
  async function loginPage(agent: UserAgent, params: Record<string, string>, headers: Record<string, string> = {}) {
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      ...params,
    });
    let response = await agent.fetch(url, { headers });
    let at = url.href;
    for (let i = 0; i < 5 && response.status >= 300 && response.status < 400; i++) {
      at = new URL(response.headers.get('location')!, at).href;
      response = await agent.fetch(at, { headers });
    }
    expect(at).toMatch(/\/interaction\/[^/]+$/);
    return { html: await response.text(), url: at, response };
  }

  it('the login page follows ui_locales=fr, and its scripts get French words (login, capture, common)', async () => {
    const { html, response } = await loginPage(new UserAgent(), { ui_locales: 'de fr-CA' });
    expect(html).toContain('<html lang="fr">');
    expect(html).toContain('<title>Connexion · palmid</title>');
    expect(html).toContain('Connectez-vous à <strong>Portail</strong>.');
    expect(html).toContain('Se connecter avec une clé d’accès');
    expect(html).toContain('Se connecter avec la paume');
    expect(html).toContain('Annuler et revenir à Portail');
    expect(html).not.toMatch(/Sign in with|Cancel and return/);
    expect(response.headers.get('vary')).toMatch(/accept-language/i);
    const messages = scriptMessages(html) as {
      palm: { recognised: string };
      capture: { guidance: { no_hand: string } };
      common: { passkey: { unsupported: string } };
    };
    expect(messages.palm.recognised).toBe('Paume reconnue. Connexion en cours…');
    expect(messages.capture.guidance.no_hand).toMatch(/^Aucune main détectée/);
    expect(messages.common.passkey.unsupported).toMatch(/clés d’accès/);
  });

  it('without ui_locales the browser’s Accept-Language decides; ui_locales wins over it', async () => {
    const french = await loginPage(new UserAgent(), {}, { 'accept-language': 'de;q=0.9, fr;q=0.8, en;q=0.1' });
    expect(french.html).toContain('<html lang="fr">');
    expect(french.html).toContain('Se connecter avec une clé d’accès');
    const english = await loginPage(new UserAgent(), { ui_locales: 'en' }, { 'accept-language': 'fr' });
    expect(english.html).toContain('<html lang="en">');
    expect(english.html).toContain('Sign in with a passkey');
    expect((scriptMessages(english.html) as { palm: { recognised: string } }).palm.recognised).toBe(
      'Recognised. Signing you in…',
    );
  });

  it('the consent page (after a passkey) is French too, scopes included', async () => {
    const agent = new UserAgent();
    const { url } = await loginPage(agent, { ui_locales: 'fr' });
    const uid = url.split('/interaction/')[1]!;
    const options = await agent.fetch(`${origin()}/interaction/${uid}/passkey/options`, { method: 'POST' });
    const assertion = adminKey.get((await options.json()) as { challenge: string }, origin());
    const verify = await agent.postJson(`${origin()}/interaction/${uid}/passkey/verify`, assertion);
    expect(verify.status).toBe(200);
    const { redirectTo } = (await verify.json()) as { redirectTo: string };
    const { response } = await agent.follow(redirectTo, origin());
    const html = await response.text();
    expect(html).toContain('<h1 id="page-title">Autoriser l’accès\u202f?</h1>');
    expect(html).toContain('<strong>Portail</strong> demande à\u00a0:');
    expect(html).toContain('<li>Savoir qui vous êtes (un identifiant stable)</li>');
    expect(html).toContain('<li>Voir votre adresse e-mail</li>');
    expect(html).toMatch(/>Autoriser<\/button>/);
    expect(html).toMatch(/>Refuser<\/a>/);
  });

  it('the admin console writes the invitation’s expiry as a French date, not raw UTC', async () => {
    const agent = new UserAgent();
    const options = await agent.fetch(`${origin()}/admin/passkey/options`, {
      method: 'POST',
      headers: { origin: origin() },
    });
    const assertion = adminKey.get((await options.json()) as { challenge: string }, origin());
    const verify = await agent.fetch(`${origin()}/admin/passkey/verify`, {
      method: 'POST',
      headers: { origin: origin(), 'content-type': 'application/json' },
      body: JSON.stringify(assertion),
    });
    expect(verify.status).toBe(200);
    const created = await agent.fetch(`${origin()}/admin/invitations?lang=fr`, {
      method: 'POST',
      headers: { origin: origin(), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'email=bea%40example.org&role=user',
    });
    expect(created.status).toBe(200);
    const html = await created.text();
    expect(html).toContain('<html lang="fr">');
    expect(html).toContain('Invitation créée');
    const time = /valable jusqu’au <time datetime="([^"]+)">([^<]+)<\/time>/.exec(html);
    expect(time, html.slice(0, 2000)).not.toBeNull();
    const [, iso, shown] = time!;
    const expires = new Date(iso!);
    expect(expires.getTime()).toBeGreaterThan(Date.now() + 6 * 24 * 3600_000);
    expect(shown).toBe(formatDateTime(expires, 'fr'));
    expect(shown).toMatch(/^\d{1,2} [a-zéû.]+ \d{4}.*\d{2}:\d{2}.*UTC$/);
    expect(shown).not.toContain(iso!);
    // A refused invitation: the console again, saying why in French (the cookie remembers ?lang=fr).
    const refused = await agent.fetch(`${origin()}/admin/invitations`, {
      method: 'POST',
      headers: { origin: origin(), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'email=not-an-address&role=user',
    });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain(
      'role="alert">Saisissez une adresse e-mail valide, ou laissez le champ vide.</p>',
    );
    // ?lang= is remembered: the next page is French without asking again.
    const page = await (await agent.fetch(`${origin()}/admin`)).text();
    expect(page).toContain('<html lang="fr">');
    expect(page).toContain('<th scope="col">Clés d’accès</th>');
  });

  it('error pages, the kiosk and the invitation page speak French too', async () => {
    const fr = { 'accept-language': 'fr-FR,fr;q=0.9', accept: 'text/html' };
    const gone = await fetch(`${server.issuer}/invite/not-a-token`, { headers: fr });
    expect(gone.status).toBe(410);
    const goneHtml = await gone.text();
    expect(goneHtml).toContain('<h1 id="page-title">Un problème est survenu</h1>');
    expect(goneHtml).toContain('Ce lien d’invitation n’est pas valide');
    expect(goneHtml).toContain('Erreur\u00a0: invalid_invitation');

    // oidc-provider's own error page: an unknown client, with ui_locales in the request.
    const unknown = await fetch(
      `${server.issuer}/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}&ui_locales=fr`,
      { headers: { accept: 'text/html' } },
    );
    const unknownHtml = await unknown.text();
    expect(unknownHtml).toContain('<html lang="fr">');
    expect(unknownHtml).toContain('Cette application n’est pas connue de palmid.');

    // oidc-provider's logout (RP-initiated, no session: it confirms by itself), by Accept-Language.
    const agent = new UserAgent();
    const logout = await (await agent.fetch(`${server.issuer}/session/end`, { headers: fr })).text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(logout)![1]!;
    let signedOut = await agent.fetch(`${server.issuer}/session/end/confirm`, {
      method: 'POST',
      headers: { ...fr, 'content-type': 'application/x-www-form-urlencoded' },
      body: `xsrf=${xsrf}&logout=yes`,
    });
    // as a browser does: every request carries its Accept-Language
    for (let i = 0; i < 3 && signedOut.status >= 300 && signedOut.status < 400; i++)
      signedOut = await agent.fetch(new URL(signedOut.headers.get('location')!, server.issuer), { headers: fr });
    const signedOutHtml = await signedOut.text();
    expect(signedOutHtml).toContain('<h1 id="page-title">Déconnexion effectuée</h1>');
    expect(signedOutHtml).toContain('Vous êtes déconnecté de palmid.');
    const confirm = renderView('logout', { locale: 'fr', form: '', clientName: 'Portail' });
    expect(confirm).toContain('Voulez-vous vous déconnecter de palmid et de Portail\u202f?');
    expect(confirm).toContain('>Rester connecté</button>');

    const kiosk = await fetch(`${server.issuer}/kiosk`, { headers: fr });
    const kioskHtml = await kiosk.text();
    expect(kioskHtml).toContain('<title>Lecteur de paume · palmid</title>');
    expect(kioskHtml).toContain('Scanner ma paume');
    const kioskMessages = scriptMessages(kioskHtml) as {
      welcomeName: string;
      capture: { challenge: { close: string } };
    };
    expect(kioskMessages.welcomeName).toBe('Bienvenue, {{name}}');
    expect(kioskMessages.capture.challenge.close).toBe('Maintenant, resserrez les doigts.');

    const invite = await fetch(server.setupLink!.replace(/[^/]+$/, 'x'), { headers: { accept: 'text/html' } });
    expect(invite.status).toBe(410);
    expect(await invite.text()).toContain('<html lang="en">');
  });
});
