/** Lifetimes (seconds), clock tolerance and scopes of the provider, in one place (acr values: src/acr.ts). */
export const TTL = {
  AccessToken: 60 * 60,
  AuthorizationCode: 60,
  ClientCredentials: 10 * 60,
  IdToken: 60 * 60,
  Interaction: 60 * 60,
  Session: 14 * 24 * 60 * 60,
  Grant: 14 * 24 * 60 * 60,
  RefreshToken: 14 * 24 * 60 * 60,
  DeviceCode: 10 * 60,
  BackchannelAuthenticationRequest: 10 * 60,
  PushedAuthorizationRequest: 60,
} as const;

export const CLOCK_TOLERANCE = 15;

/** How long a retired signing key stays published: the longest-lived token it may have signed. */
export const SIGNED_TOKEN_MAX_LIFETIME = Math.max(TTL.IdToken, TTL.AccessToken) + CLOCK_TOLERANCE;

export const SCOPES = ['openid', 'offline_access', 'email', 'profile'];
