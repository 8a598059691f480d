/**
 * A new passkey's registration response, checked the one way palmid accepts passkeys (its
 * challenge, palmid's origin and RP ID, user verification required), and the row it becomes.
 * Used by the invitation's registration and by the account page's "add a passkey".
 */
import { type RegistrationResponseJSON, verifyRegistrationResponse } from '@simplewebauthn/server';
import { WebauthnError } from './errors.js';
import type { RelyingParty } from './relyingParty.js';

export interface NewPasskey {
  id: string;
  publicKey: Uint8Array<ArrayBuffer>;
  signCount: bigint;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
}

export async function verifyNewPasskey(rp: RelyingParty, challenge: string, response: unknown): Promise<NewPasskey> {
  let verification;
  try {
    verification = await verifyRegistrationResponse({
      response: response as RegistrationResponseJSON,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
    });
  } catch (err) {
    throw new WebauthnError('passkey_rejected', `The passkey could not be verified: ${(err as Error).message}`);
  }
  if (!verification.verified) throw new WebauthnError('passkey_rejected', 'The passkey could not be verified.');
  const { credential, credentialDeviceType, credentialBackedUp } = verification.registrationInfo;
  return {
    id: credential.id,
    publicKey: new Uint8Array(credential.publicKey),
    signCount: BigInt(credential.counter),
    transports: credential.transports ?? [],
    deviceType: credentialDeviceType,
    backedUp: credentialBackedUp,
  };
}
