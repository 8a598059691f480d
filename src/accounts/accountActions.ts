/**
 * What a person changes on their own account page (src/http/routes/account.ts): profile,
 * passkeys (rename, remove), cards and loyalty numbers (unlink), apps (revoke). Each change is
 * audited with the person as actor. Palm data and the account itself go through
 * src/biometrics (their keys are destroyed there).
 */
import type { CardVault } from '../../adapters/card-vault.js';
import { audit } from '../audit/audit.js';
import type { Database } from '../db/database.js';
import { invalidRequest, PalmidError } from '../errors.js';
import { isLocale } from '../i18n/locales.js';
import { parsePersonInput } from './people.js';

/** A change the account page cannot make as asked: the page words it by `reason`. */
export class AccountError extends PalmidError {
  constructor(
    readonly reason: 'not_found' | 'last_passkey' | 'passkey_name',
    message: string,
  ) {
    super(message, invalidRequest(1));
  }
}

/** Name and phone (the email is the account's identity and changes only by an administrator), language. */
export async function updateProfile(
  db: Database,
  personId: string,
  input: { name?: unknown; phone?: unknown; locale?: unknown },
): Promise<void> {
  const person = await db.prisma.person.findUniqueOrThrow({ where: { id: personId }, select: { email: true } });
  const parsed = parsePersonInput({ email: person.email, name: input.name ?? null, phone: input.phone ?? null });
  const locale = isLocale(input.locale) ? input.locale : null;
  await db.prisma.person.update({ where: { id: personId }, data: { name: parsed.name, phone: parsed.phone, locale } });
  await audit(db, { action: 'account.profile_updated', actor: personId, subject: personId });
}

const PASSKEY_NAME_MAX = 60;

export async function renamePasskey(db: Database, personId: string, passkeyId: string, name: unknown): Promise<void> {
  const value = typeof name === 'string' ? name.trim() : '';
  if (value.length > PASSKEY_NAME_MAX || /\p{Cc}/u.test(value))
    throw new AccountError('passkey_name', `a passkey name has at most ${PASSKEY_NAME_MAX} characters`);
  const { count } = await db.prisma.passkey.updateMany({
    where: { id: passkeyId, personId },
    data: { name: value || null },
  });
  if (!count) throw new AccountError('not_found', 'no such passkey');
  await audit(db, { action: 'account.passkey_renamed', actor: personId, subject: personId });
}

/**
 * Removes one of the person's passkeys. The last one goes only with `confirmLast`: a palm-only
 * person is legitimate (#13), but nobody should lose their passkey sign-in without being told.
 * The count and the deletion are one transaction, so two tabs cannot remove the last two unasked.
 */
export async function removePasskey(
  db: Database,
  personId: string,
  passkeyId: string,
  options: { confirmLast: boolean },
): Promise<{ remaining: number }> {
  const remaining = await db.prisma.$transaction(async (tx) => {
    const owned = await tx.passkey.findMany({ where: { personId }, select: { id: true } });
    if (!owned.some((p) => p.id === passkeyId)) throw new AccountError('not_found', 'no such passkey');
    if (owned.length === 1 && !options.confirmLast)
      throw new AccountError('last_passkey', 'this is your last passkey: confirm that you want to remove it');
    await tx.passkey.delete({ where: { id: passkeyId } });
    return owned.length - 1;
  });
  await audit(db, { action: 'account.passkey_removed', actor: personId, subject: personId, detail: { remaining } });
  return { remaining };
}

/** Unlinks a card: the vault forgets the number first, then the row goes. */
export async function unlinkCard(db: Database, vault: CardVault, personId: string, cardId: string): Promise<void> {
  const card = await db.prisma.paymentCard.findFirst({ where: { id: cardId, personId } });
  if (!card) throw new AccountError('not_found', 'no such card');
  if (card.vault === vault.name) await vault.remove(card.vaultToken);
  await db.prisma.paymentCard.delete({ where: { id: card.id } });
  await audit(db, {
    action: 'account.card_unlinked',
    actor: personId,
    subject: card.id,
    detail: { brand: card.brand, last4: card.last4 },
  });
}

export async function removeLoyaltyNumber(db: Database, personId: string, tenantId: string): Promise<void> {
  const { count } = await db.prisma.loyaltyNumber.deleteMany({ where: { personId, tenantId } });
  if (!count) throw new AccountError('not_found', 'no loyalty number at this tenant');
  await audit(db, { action: 'account.loyalty_unlinked', actor: personId, subject: tenantId });
}

/**
 * Revokes what an application holds: the person's grants to that client and everything issued
 * under them (codes, access and refresh tokens: oidc_payload rows carry their grant id). The
 * application asks for consent again at the next sign-in.
 */
export async function revokeApp(db: Database, personId: string, clientId: string): Promise<{ grants: number }> {
  const grants = await db.prisma.oidcPayload.findMany({
    where: {
      type: 'Grant',
      AND: [
        { payload: { path: ['accountId'], equals: personId } },
        { payload: { path: ['clientId'], equals: clientId } },
      ],
    },
    select: { id: true },
  });
  if (!grants.length) throw new AccountError('not_found', 'this application holds no access to your account');
  const ids = grants.map((g) => g.id);
  await db.prisma.$transaction([
    db.prisma.oidcPayload.deleteMany({ where: { grantId: { in: ids } } }),
    db.prisma.oidcPayload.deleteMany({ where: { type: 'Grant', id: { in: ids } } }),
  ]);
  await audit(db, {
    action: 'account.app_revoked',
    actor: personId,
    subject: clientId,
    detail: { grants: ids.length },
  });
  return { grants: ids.length };
}
