/**
 * Adding a passkey from the account page: the same ceremony as an invitation's (discoverable
 * credential, user verification required), for the person already signed in, whose existing
 * passkeys are excluded. The ceremony is bound to the person: another person's response is refused.
 */
import { generateRegistrationOptions, type PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import type { Database } from '../db/database.js';
import { findPersonById } from '../accounts/people.js';
import { audit } from '../audit/audit.js';
import { storeChallenge, takeChallenge } from './challenges.js';
import { WebauthnError } from './errors.js';
import { verifyNewPasskey } from './newPasskey.js';
import type { RelyingParty } from './relyingParty.js';

const PURPOSE = 'account-passkey';

export async function startPasskeyAddition(
  db: Database,
  rp: RelyingParty,
  personId: string,
): Promise<{ ceremony: string; publicKey: PublicKeyCredentialCreationOptionsJSON }> {
  const person = await findPersonById(db, personId);
  if (!person) throw new WebauthnError('invalid_request', 'no such person');
  const passkeys = await db.prisma.passkey.findMany({ where: { personId }, select: { id: true, transports: true } });
  const publicKey = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: person.email,
    userDisplayName: person.name ?? person.email,
    userID: Buffer.from(person.webauthnId, 'base64url'),
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    excludeCredentials: passkeys.map((p) => ({ id: p.id, transports: p.transports as never })),
  });
  const ceremony = await storeChallenge(db, { purpose: PURPOSE, challenge: publicKey.challenge, data: { personId } });
  return { ceremony, publicKey };
}

export async function finishPasskeyAddition(
  db: Database,
  rp: RelyingParty,
  personId: string,
  input: { ceremony: unknown; response: unknown; name?: unknown },
): Promise<{ passkeyId: string }> {
  if (typeof input.ceremony !== 'string') throw new WebauthnError('invalid_request', 'missing ceremony');
  const pending = await takeChallenge(db, input.ceremony, PURPOSE);
  if (!pending || (pending.data as { personId?: string } | null)?.personId !== personId)
    throw new WebauthnError('invalid_request', 'The registration expired; start again.');
  const passkey = await verifyNewPasskey(rp, pending.challenge, input.response);
  const name = typeof input.name === 'string' ? input.name.trim().slice(0, 60) || null : null;
  await db.prisma.passkey.create({ data: { ...passkey, personId, name } });
  await audit(db, { action: 'account.passkey_added', actor: personId, subject: personId });
  return { passkeyId: passkey.id };
}
