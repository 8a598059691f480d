import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../db/database.js';
import { audit } from '../audit/audit.js';

/**
 * Tenants (operators) and the consent people give them. Identification at a tenant's readers
 * only ever searches people with an active consent to that tenant's current notice.
 */
export class TenantError extends Error {
  override name = 'TenantError';
}

export const MAX_RETENTION_DAYS = 1095; // 3 years: BIPA / CUBI upper bound without use

export function defaultNotice(name: string, retentionDays: number): string {
  return (
    `${name} uses palmid to recognise your palm at its readers. Purpose: to sign you in at ${name}'s ` +
    `doors, gates and checkouts. What is kept: a protected mathematical template of your palm, never an ` +
    `image, readable only with ${name}'s key. Retention: deleted after ${retentionDays} days without use, ` +
    `or at once when you withdraw consent or ask for deletion. Who receives what: ${name}'s services receive ` +
    `a signed token saying who you are, never biometric data. Your data is never sold.`
  );
}

export async function addTenant(
  prisma: PrismaClient,
  input: { id: string; name: string; retentionDays?: number; targetFmr?: number; notice?: string },
) {
  if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(input.id))
    throw new TenantError('a tenant id is 2–63 lowercase letters, digits or dashes');
  const retentionDays = input.retentionDays ?? MAX_RETENTION_DAYS;
  if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > MAX_RETENTION_DAYS) {
    throw new TenantError(`retention must be between 1 and ${MAX_RETENTION_DAYS} days`);
  }
  const targetFmr = input.targetFmr ?? 1e-5;
  if (!(targetFmr > 0 && targetFmr <= 1e-2)) throw new TenantError('the target false match rate must be in (0, 0.01]');
  if (await prisma.tenant.findUnique({ where: { id: input.id } }))
    throw new TenantError(`tenant ${input.id} already exists`);
  const tenant = await prisma.tenant.create({
    data: {
      id: input.id,
      name: input.name,
      retentionDays,
      targetFmr,
      notices: { create: { version: 1, text: input.notice ?? defaultNotice(input.name, retentionDays) } },
    },
  });
  await audit(prisma, { action: 'tenant.added', subject: tenant.id, detail: { retentionDays, targetFmr } });
  return tenant;
}

export async function currentNotice(prisma: PrismaClient, tenantId: string) {
  const notice = await prisma.biometricNotice.findFirst({ where: { tenantId }, orderBy: { version: 'desc' } });
  if (!notice) throw new TenantError(`unknown tenant ${tenantId}`);
  return notice;
}

/** Records explicit consent to the tenant's notice version the person was shown. */
export async function recordConsent(prisma: PrismaClient, personId: string, tenantId: string, noticeVersion: number) {
  const notice = await currentNotice(prisma, tenantId);
  if (notice.version !== noticeVersion)
    throw new TenantError(`the notice changed (now version ${notice.version}); show it again`);
  const consent = await prisma.$transaction(async (tx) => {
    await tx.consent.updateMany({
      where: { personId, tenantId, withdrawnAt: null },
      data: { withdrawnAt: new Date() },
    });
    return tx.consent.create({ data: { id: randomUUID(), personId, tenantId, noticeVersion } });
  });
  await audit(prisma, { action: 'consent.granted', actor: personId, subject: tenantId, detail: { noticeVersion } });
  return consent;
}

export async function hasActiveConsent(prisma: PrismaClient, personId: string, tenantId: string): Promise<boolean> {
  return (await prisma.consent.count({ where: { personId, tenantId, withdrawnAt: null } })) > 0;
}

/** Withdrawing consent ends palm use at that tenant: its references are deleted too. */
export async function withdrawConsent(prisma: PrismaClient, personId: string, tenantId: string) {
  await prisma.$transaction([
    prisma.consent.updateMany({ where: { personId, tenantId, withdrawnAt: null }, data: { withdrawnAt: new Date() } }),
    prisma.palmReference.deleteMany({ where: { personId, tenantId } }),
  ]);
  await audit(prisma, { action: 'consent.withdrawn', actor: personId, subject: tenantId });
}
