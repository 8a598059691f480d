import * as oidc from 'openid-client';
import type { SoftAuthenticator } from './authenticator.js';
import { UserAgent, signInWithPasskey } from './browserless.js';
import type { TestServer } from './server.js';

/** An openid-client relying party for a client of the test server (plain http is allowed here). */
export function discoverRp(
  server: TestServer,
  client: { client_id: string; client_secret?: string | undefined },
): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(server.issuer), client.client_id, client.client_secret, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
}

/** Code + PKCE through palmid's pages with a passkey, then the token request. */
export async function codeFlowTokens(
  rp: oidc.Configuration,
  authenticator: SoftAuthenticator,
  options: { redirectUri: string; scope?: string; params?: Record<string, string>; agent?: UserAgent },
) {
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: options.redirectUri,
    scope: options.scope ?? 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...options.params,
  });
  const { callbackUrl } = await signInWithPasskey(options.agent ?? new UserAgent(), url.href, authenticator);
  return oidc.authorizationCodeGrant(rp, new URL(callbackUrl), { pkceCodeVerifier: verifier });
}
