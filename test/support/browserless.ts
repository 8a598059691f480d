import type { SoftAuthenticator } from './authenticator.js';

/**
 * A minimal cookie-keeping HTTP user agent that goes through palmid's pages the way the page
 * scripts do, so OpenID flows can be tested without a browser.
 */
export class UserAgent {
  private readonly cookies = new Map<string, string>();

  async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  /** Follows redirects while they stay on `origin`; returns the first response elsewhere or not a redirect. */
  async follow(url: string, origin: string, init: RequestInit = {}): Promise<{ response: Response; url: string }> {
    let current = url;
    let response = await this.fetch(current, init);
    for (let i = 0; i < 10 && response.status >= 300 && response.status < 400; i++) {
      const next = new URL(response.headers.get('location')!, current).toString();
      if (new URL(next).origin !== origin) return { response, url: next };
      current = next;
      response = await this.fetch(current);
    }
    return { response, url: current };
  }

  async postJson(url: string, body: unknown): Promise<Response> {
    return this.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }
}

/** Registers a passkey through an invitation link. */
export async function registerPasskey(
  agent: UserAgent,
  inviteUrl: string,
  authenticator: SoftAuthenticator,
  input: { email: string; name?: string; origin?: string; userVerified?: boolean },
): Promise<Response> {
  const origin = input.origin ?? new URL(inviteUrl).origin;
  const start = await agent.postJson(`${inviteUrl}/options`, { email: input.email, name: input.name });
  if (!start.ok) return start;
  const { ceremony, publicKey } = (await start.json()) as {
    ceremony: string;
    publicKey: Parameters<SoftAuthenticator['create']>[0];
  };
  const response = authenticator.create(publicKey, origin, { userVerified: input.userVerified });
  return agent.postJson(`${inviteUrl}/verify`, { ceremony, response });
}

export interface PasskeySignInResult {
  /** Where the provider finally sent the browser (the RP's redirect URI, with code or error). */
  callbackUrl: string;
  /** The failing response, if the passkey step was refused. */
  refused?: Response;
}

/**
 * Starts at an authorization URL, signs in with the passkey and consents; returns the redirect to
 * the relying party.
 */
export async function signInWithPasskey(
  agent: UserAgent,
  authorizationUrl: string,
  authenticator: SoftAuthenticator,
  options: { origin?: string; userVerified?: boolean; signCount?: number; consent?: boolean } = {},
): Promise<PasskeySignInResult> {
  const issuerOrigin = new URL(authorizationUrl).origin;
  let { response, url } = await agent.follow(authorizationUrl, issuerOrigin);
  for (let step = 0; step < 4; step++) {
    if (new URL(url).origin !== issuerOrigin) return { callbackUrl: url };
    const html = await response.text();
    const uid = /\/interaction\/([^/"]+)/.exec(url)?.[1];
    if (!uid) throw new Error(`unexpected page ${url}: ${response.status} ${html.slice(0, 300)}`);
    if (html.includes('id="passkey"')) {
      const optionsResponse = await agent.fetch(`${issuerOrigin}/interaction/${uid}/passkey/options`, {
        method: 'POST',
      });
      const requestOptions = (await optionsResponse.json()) as { challenge: string; rpId?: string };
      const assertion = authenticator.get(requestOptions, options.origin ?? issuerOrigin, {
        userVerified: options.userVerified,
        signCount: options.signCount,
      });
      const verify = await agent.postJson(`${issuerOrigin}/interaction/${uid}/passkey/verify`, assertion);
      if (!verify.ok) return { callbackUrl: '', refused: verify };
      const { redirectTo } = (await verify.json()) as { redirectTo: string };
      ({ response, url } = await agent.follow(redirectTo, issuerOrigin));
    } else if (html.includes('/confirm"')) {
      if (options.consent === false) {
        ({ response, url } = await agent.follow(`${issuerOrigin}/interaction/${uid}/abort`, issuerOrigin));
      } else {
        ({ response, url } = await agent.follow(`${issuerOrigin}/interaction/${uid}/confirm`, issuerOrigin, {
          method: 'POST',
        }));
      }
    } else {
      throw new Error(`unexpected interaction page: ${html.slice(0, 300)}`);
    }
  }
  throw new Error('too many interaction steps');
}
