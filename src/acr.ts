/**
 * Authentication context class references (`acr`): what a sign-in proved. Set by the passkey and
 * palm logins and the readers' CIBA hooks, required by token exchange, advertised by the provider.
 */

/** EAP ACR values (OpenID EAP ACR Values 1.0): phishing-resistant authentication. */
export const ACR_PASSKEY = 'phr';
/** Palm at a reader, and palm plus PIN (step-up). No registered value exists for palms. */
export const ACR_PALM = 'urn:palmid:acr:palm';
export const ACR_PALM_PIN = 'urn:palmid:acr:palm+pin';
export const ACR_VALUES = [ACR_PASSKEY, 'phrh', ACR_PALM, ACR_PALM_PIN];
