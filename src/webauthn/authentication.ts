/**
 * Passkey sign-in: discoverable credentials (no user name first), user verification required,
 * origin and RP ID checked, and the signature counter must move forward when the authenticator
 * keeps one (a counter going back hints at a cloned authenticator).
 */
import {
  generateAuthenticationOptions,
  verifyAuthenticationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import type { Database } from '../db/database.js';
import { audit } from '../audit/audit.js';
import { personSubject, resetThrottle } from '../throttling/attemptLimits.js';
import { storeChallenge, takeChallenge } from './challenges.js';
import { WebauthnError } from './errors.js';
import type { RelyingParty } from './relyingParty.js';

export interface PasskeySignIn {
  personId: string;
  /** RFC 8176: hwk for a device-bound key, swk for a synced one; user for verified user. */
  amr: string[];
}

export async function startAuthentication(
  db: Database,
  rp: RelyingParty,
  ceremonyId: string,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const options = await generateAuthenticationOptions({
    rpID: rp.id,
    userVerification: 'required',
    allowCredentials: [],
  });
  await storeChallenge(db, { id: ceremonyId, purpose: 'authentication', challenge: options.challenge });
  return options;
}

export async function finishAuthentication(
  db: Database,
  rp: RelyingParty,
  ceremonyId: string,
  response: unknown,
): Promise<PasskeySignIn> {
  const assertion = response as AuthenticationResponseJSON;
  if (!assertion || typeof assertion.id !== 'string' || typeof assertion.response !== 'object') {
    throw new WebauthnError('invalid_request', 'malformed passkey response');
  }
  const pending = await takeChallenge(db, ceremonyId, 'authentication');
  if (!pending) throw new WebauthnError('invalid_request', 'The sign-in expired; try again.');
  const passkey = await db.prisma.passkey.findUnique({ where: { id: assertion.id } });
  if (!passkey) throw new WebauthnError('unknown_passkey', 'This passkey is not registered here.');

  let verification;
  try {
    verification = await verifyAuthenticationResponse({
      response: assertion,
      expectedChallenge: pending.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
      credential: {
        id: passkey.id,
        publicKey: new Uint8Array(passkey.publicKey),
        counter: Number(passkey.signCount),
        transports: passkey.transports as never,
      },
    });
  } catch (err) {
    await audit(db, {
      action: 'passkey.rejected',
      subject: passkey.personId,
      detail: { reason: (err as Error).message },
    });
    throw new WebauthnError('passkey_rejected', `The passkey could not be verified: ${(err as Error).message}`);
  }
  if (!verification.verified) throw new WebauthnError('passkey_rejected', 'The passkey could not be verified.');

  await db.prisma.passkey.update({
    where: { id: passkey.id },
    data: { signCount: BigInt(verification.authenticationInfo.newCounter), lastUsedAt: new Date() },
  });
  // A passkey sign-in proves the person: it lifts a palm/PIN lock-out (NIST SP 800-63B-4).
  await resetThrottle(db, personSubject(passkey.personId));
  const deviceBound = verification.authenticationInfo.credentialDeviceType === 'singleDevice';
  return { personId: passkey.personId, amr: [deviceBound ? 'hwk' : 'swk', 'user'] };
}
