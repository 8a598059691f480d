import { importJWK, type JWK } from 'jose';
import * as oidc from 'openid-client';
import { sealEnvelope } from './envelope.js';

/**
 * What a reader does to sign a person in: discover the provider, fetch its capture key, seal
 * the captures in an envelope, start CIBA with it, and collect the tokens. `palmid reader signin`
 * uses it; so can a device maker's own reader software (it needs only openid-client and jose).
 */
export interface ReaderKeyFile {
  client_id: string;
  tenant?: string;
  key: JWK;
}

export interface ReaderSignInResult {
  ok: boolean;
  error?: string;
  error_description?: string;
  sub?: string;
  email?: string;
  acr?: string;
  amr?: string[];
  ms: number;
}

export async function readerSignIn(input: {
  issuer: string;
  reader: ReaderKeyFile;
  images: Uint8Array[];
  kind?: 'roi' | 'hand';
  pin?: string;
  acr?: string;
  scope?: string;
  bindingMessage?: string;
}): Promise<ReaderSignInResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const issuerUrl = new URL(input.issuer);
  const insecure = issuerUrl.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined;
  const signingKey = (await importJWK(input.reader.key, 'ES256')) as CryptoKey;
  const config = await oidc.discovery(
    issuerUrl,
    input.reader.client_id,
    { token_endpoint_auth_signing_alg: 'ES256' },
    oidc.PrivateKeyJwt({ key: signingKey, kid: input.reader.key.kid }),
    insecure,
  );
  const jwksUri = config.serverMetadata().jwks_uri!;
  const jwks = (await (await fetch(jwksUri)).json()) as { keys: JWK[] };
  const captureKey = jwks.keys.find((k) => k.use === 'enc' && k.alg === 'ECDH-ES');
  if (!captureKey) return { ok: false, error: 'no_capture_key', error_description: 'the provider publishes no capture key', ms: ms() };

  const envelope = await sealEnvelope({
    readerId: input.reader.client_id,
    issuer: config.serverMetadata().issuer,
    readerKey: input.reader.key,
    captureKey,
    images: input.images,
    kind: input.kind ?? 'roi',
  });
  try {
    const started = await oidc.initiateBackchannelAuthentication(config, {
      scope: input.scope ?? 'openid email',
      login_hint_token: envelope,
      ...(input.acr ? { acr_values: input.acr } : {}),
      ...(input.pin ? { user_code: input.pin } : {}),
      ...(input.bindingMessage ? { binding_message: input.bindingMessage } : {}),
    });
    const tokens = await oidc.pollBackchannelAuthenticationGrant(config, started);
    const claims = tokens.claims()!;
    let email = claims.email as string | undefined;
    if (!email && tokens.access_token) {
      email = (await oidc.fetchUserInfo(config, tokens.access_token, claims.sub).catch(() => undefined))?.email as string | undefined;
    }
    return { ok: true, sub: claims.sub, ...(email ? { email } : {}), acr: claims.acr as string, amr: claims.amr as string[], ms: ms() };
  } catch (err) {
    const e = err as { error?: string; error_description?: string; message: string; cause?: { error?: string; error_description?: string } };
    return { ok: false, error: e.error ?? e.cause?.error ?? 'request_failed', error_description: e.error_description ?? e.cause?.error_description ?? e.message, ms: ms() };
  }
}
