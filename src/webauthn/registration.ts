/**
 * Passkey registration through an invitation: discoverable credential, user verification
 * required. An invitation for an email names its person (created with it, or found), and adds
 * the passkey to that person.
 */
import { generateRegistrationOptions, type PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Database } from '../db/database.js';
import { findRedeemableInvitation } from '../accounts/invitations.js';
import {
  PersonInputError,
  findPersonByEmail,
  findPersonById,
  isValidEmail,
  normaliseEmail,
  parsePersonName,
  type Role,
} from '../accounts/people.js';
import { audit } from '../audit/audit.js';
import { storeChallenge, takeChallenge } from './challenges.js';
import type { RelyingParty } from './relyingParty.js';
import { WebauthnError } from './errors.js';
import { verifyNewPasskey } from './newPasskey.js';

const EXISTS = 'An account with this email already exists; ask an administrator for an invitation to add a passkey.';

export interface RegistrationStart {
  ceremony: string;
  publicKey: PublicKeyCredentialCreationOptionsJSON;
}

export async function startRegistration(
  db: Database,
  rp: RelyingParty,
  input: { token: string; email?: unknown; name?: unknown },
): Promise<RegistrationStart> {
  const invitation = await findRedeemableInvitation(db, input.token);
  if (!invitation) throw new WebauthnError('invalid_invitation', 'This invitation link is invalid, used or expired.');
  const email = normaliseEmail(String(invitation.email ?? input.email ?? ''));
  if (!isValidEmail(email)) throw new WebauthnError('invalid_request', 'Enter a valid email address.');
  let name: string | null;
  try {
    // The same rules as a name an administrator gives (no control characters, at most 100).
    name = parsePersonName(typeof input.name === 'string' ? input.name : null);
  } catch (err) {
    if (err instanceof PersonInputError) throw new WebauthnError('invalid_request', `The ${err.message}.`);
    throw err;
  }

  const existing = invitation.personId
    ? await findPersonById(db, invitation.personId)
    : await findPersonByEmail(db, email);
  if (existing && invitation.email !== email) {
    // Only an invitation addressed to this email may add a passkey to an existing account.
    throw new WebauthnError('invalid_request', EXISTS);
  }
  const webauthnId = existing?.webauthnId ?? randomBytes(32).toString('base64url');
  const passkeys = existing ? await db.prisma.passkey.findMany({ where: { personId: existing.id } }) : [];
  const publicKey = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: email,
    userDisplayName: name ?? email,
    userID: Buffer.from(webauthnId, 'base64url'),
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    excludeCredentials: passkeys.map((p) => ({ id: p.id, transports: p.transports as never })),
  });
  const ceremony = await storeChallenge(db, {
    purpose: 'registration',
    challenge: publicKey.challenge,
    invitationId: invitation.id,
    data: { email, name, webauthnId },
  });
  return { ceremony, publicKey };
}

export async function finishRegistration(
  db: Database,
  rp: RelyingParty,
  input: { token: string; ceremony: unknown; response: unknown },
): Promise<{ personId: string; role: Role }> {
  const invitation = await findRedeemableInvitation(db, input.token);
  if (!invitation) throw new WebauthnError('invalid_invitation', 'This invitation link is invalid, used or expired.');
  if (typeof input.ceremony !== 'string') throw new WebauthnError('invalid_request', 'missing ceremony');
  const pending = await takeChallenge(db, input.ceremony, 'registration');
  if (!pending || pending.invitationId !== invitation.id) {
    throw new WebauthnError('invalid_request', 'The registration expired; start again.');
  }
  const data = pending.data as { email: string; name: string | null; webauthnId: string };

  const passkey = await verifyNewPasskey(rp, pending.challenge, input.response);

  const role = invitation.role as Role;
  // The invitation is redeemed, the person found or created and the passkey stored in one
  // transaction: those statements on invitation and person stay here rather than in src/accounts.
  const personId = await db.prisma.$transaction(async (tx) => {
    // Redeem exactly once, even with two tabs racing.
    const redeemed = await tx.invitation.updateMany({
      where: { id: invitation.id, usedAt: null },
      data: { usedAt: new Date() },
    });
    if (redeemed.count !== 1) throw new WebauthnError('invalid_invitation', 'This invitation has already been used.');
    // An invitation without email always makes a new person: one who appeared with the address
    // since the start (refused there) must not receive a stranger's passkey.
    const person = invitation.personId
      ? await tx.person.findUnique({ where: { id: invitation.personId } })
      : await tx.person
          .create({ data: { id: randomUUID(), email: data.email, name: data.name, role, webauthnId: data.webauthnId } })
          .catch((err: unknown) => {
            if ((err as { code?: unknown }).code === 'P2002') throw new WebauthnError('invalid_request', EXISTS);
            throw err;
          });
    // Removed since (the invitation goes with them, so this is a race with the removal).
    if (!person) throw new WebauthnError('invalid_invitation', 'This invitation link is invalid, used or expired.');
    if (role === 'admin' && person.role !== 'admin')
      await tx.person.update({ where: { id: person.id }, data: { role: 'admin' } });
    // A person added without a name (invited by email, imported) takes the one they typed.
    if (!person.name && data.name) await tx.person.update({ where: { id: person.id }, data: { name: data.name } });
    await tx.passkey.create({ data: { ...passkey, personId: person.id } });
    return person.id;
  });
  await audit(db, {
    action: 'passkey.registered',
    actor: personId,
    subject: personId,
    detail: { invitation: invitation.id, role },
  });
  return { personId, role };
}
