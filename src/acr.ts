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

/**
 * Authentication method references (`amr`, RFC 8176) of palm sign-ins. `palm` alone means the
 * sign-in's liveness was NOT checked (presentation attack detection, src/palm/pad): one frame, a
 * capture path without PAD, or frames that showed no liveness. AMR_PAD is added only when the
 * sign-in's frames passed it, so a relying party that needs PAD refuses tokens without it, or
 * registers `palmid_require_pad` and the provider refuses such sign-ins for it. No registered amr
 * value exists for PAD, hence a URN.
 */
export const AMR_PALM = 'palm';
export const AMR_PAD = 'urn:palmid:amr:pad';

/** The amr of a palm sign-in: palm, then PIN (palm + PIN is multi-factor), then whether PAD passed. */
export function palmAmr(signIn: { pin: boolean; pad: boolean }): string[] {
  return [AMR_PALM, ...(signIn.pin ? ['pin', 'mfa'] : []), ...(signIn.pad ? [AMR_PAD] : [])];
}
