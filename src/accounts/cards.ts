/**
 * Payment cards and loyalty numbers linked to a person. A card number is checked (Luhn, length,
 * expiry), handed to the vault, and dropped: only the vault token, brand and last four digits
 * are stored. No error message, log line or token ever carries the number.
 */
import { randomUUID } from 'node:crypto';
import type { CardVault } from '../../adapters/card-vault.js';
import type { Database } from '../db/database.js';
import { audit } from '../audit/audit.js';
import { findPersonById } from './people.js';
import { findTenant } from './tenants.js';
import { PalmidError, invalidRequest } from '../errors.js';

export class CardError extends PalmidError {
  constructor(
    readonly reason:
      | 'invalid_number'
      | 'expired'
      | 'invalid_expiry'
      | 'unknown_person'
      | 'unknown_tenant'
      | 'invalid_loyalty_number',
    message: string,
  ) {
    super(message, invalidRequest(1));
  }
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Brand from the IIN ranges the networks publish. */
export function cardBrand(digits: string): string {
  const two = Number(digits.slice(0, 2));
  const four = Number(digits.slice(0, 4));
  if (digits.startsWith('4')) return 'visa';
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) return 'mastercard';
  if (two === 34 || two === 37) return 'amex';
  if (digits.startsWith('6011') || digits.startsWith('65') || (four >= 6440 && four <= 6499)) return 'discover';
  if (four >= 3528 && four <= 3589) return 'jcb';
  if (
    two === 36 ||
    two === 38 ||
    two === 39 ||
    (Number(digits.slice(0, 3)) >= 300 && Number(digits.slice(0, 3)) <= 305)
  )
    return 'diners';
  if (digits.startsWith('62')) return 'unionpay';
  return 'unknown';
}

export interface CardInput {
  number: string;
  expMonth: number;
  expYear: number;
}

export function checkCard(input: CardInput, now = new Date()): { digits: string; brand: string; last4: string } {
  const digits = String(input.number).replace(/[\s-]/g, '');
  if (!/^\d{12,19}$/.test(digits) || !luhnValid(digits))
    throw new CardError('invalid_number', 'the card number is not valid');
  const month = Number(input.expMonth);
  const year = Number(input.expYear) < 100 ? 2000 + Number(input.expYear) : Number(input.expYear);
  if (!Number.isInteger(month) || month < 1 || month > 12 || !Number.isInteger(year) || year < 2000 || year > 2100) {
    throw new CardError('invalid_expiry', 'the expiry date is not valid');
  }
  // A card is valid through the last day of its expiry month.
  if (new Date(Date.UTC(year, month, 1)) <= now) throw new CardError('expired', 'the card has expired');
  return { digits, brand: cardBrand(digits), last4: digits.slice(-4) };
}

export async function linkCard(db: Database, vault: CardVault, personId: string, input: CardInput) {
  const { digits, brand, last4 } = checkCard(input);
  if (!(await findPersonById(db, personId))) throw new CardError('unknown_person', 'no such person');
  const year = Number(input.expYear) < 100 ? 2000 + Number(input.expYear) : Number(input.expYear);
  const vaultToken = await vault.tokenize({ number: digits, expMonth: Number(input.expMonth), expYear: year });
  const card = await db.prisma.paymentCard.create({
    data: {
      id: randomUUID(),
      personId,
      vault: vault.name,
      vaultToken,
      brand,
      last4,
      expMonth: Number(input.expMonth),
      expYear: year,
    },
  });
  await audit(db, { action: 'card.linked', actor: personId, subject: card.id, detail: { brand, last4 } });
  return { id: card.id, brand, last4, vaultToken, expMonth: card.expMonth, expYear: card.expYear };
}

export async function setLoyaltyNumber(db: Database, personId: string, tenantId: string, number: string) {
  if (!(await findTenant(db, tenantId))) throw new CardError('unknown_tenant', `unknown tenant ${tenantId}`);
  const value = String(number).trim();
  if (!/^[A-Za-z0-9-]{4,40}$/.test(value))
    throw new CardError('invalid_loyalty_number', 'a loyalty number has 4 to 40 letters, digits or dashes');
  await db.prisma.loyaltyNumber.upsert({
    where: { personId_tenantId: { personId, tenantId } },
    create: { personId, tenantId, number: value },
    update: { number: value },
  });
}

/** The person's loyalty number at a tenant, if one is set (token exchange's `loyalty` scope). */
export async function findLoyaltyNumber(db: Database, personId: string, tenantId: string): Promise<string | null> {
  const row = await db.prisma.loyaltyNumber.findUnique({ where: { personId_tenantId: { personId, tenantId } } });
  return row?.number ?? null;
}

/** The person's linked cards, oldest first (token exchange's `payment` scope). */
export async function listCards(db: Database, personId: string) {
  return db.prisma.paymentCard.findMany({ where: { personId }, orderBy: { createdAt: 'asc' } });
}
