/** Lifetimes (seconds) and authentication-context values, in one place. */
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

/** EAP ACR values (OpenID EAP ACR Values 1.0): phishing-resistant authentication. */
export const ACR_PASSKEY = 'phr';
/** Palm at a reader, and palm plus PIN (step-up). No registered value exists for palms. */
export const ACR_PALM = 'urn:palmid:acr:palm';
export const ACR_PALM_PIN = 'urn:palmid:acr:palm+pin';
export const ACR_VALUES = [ACR_PASSKEY, 'phrh', ACR_PALM, ACR_PALM_PIN];

export const SCOPES = ['openid', 'offline_access', 'email', 'profile'];
