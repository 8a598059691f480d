/** Erasure, retention and re-keying of palm data. */
import { findTenant, setTenantKeying, type TenantKeying } from '../accounts/tenants.js';
import { audit } from '../audit/audit.js';
import { deserializeTemplate, serializeTemplate } from '../palm/index.js';
import { BiometricError, type BiometricContext } from './context.js';
import { openTemplate, sealTemplate } from './dataKeys.js';
import {
  deleteReferences,
  deleteUnusedReferences,
  peopleWithUnusedReferences,
  referencesForRekey,
  rekeyReference,
  type RekeyRow,
} from './references.js';

/**
 * Deletes a person's palm data and destroys their data key through a rotation of its bucket
 * (dataKeys.ts, shred): afterwards no key palmid holds opens what copies of it survive in the
 * database files, its log or backups.
 */
export async function erasePalmData(
  ctx: BiometricContext,
  personId: string,
  actor = 'person',
): Promise<{ references: number }> {
  const { result: count, buckets } = await ctx.dataKeys.shred([personId], (tx) => deleteReferences(tx, personId));
  ctx.forgetGallerySizes();
  await audit(ctx.db, {
    action: 'palm.erased',
    actor,
    subject: personId,
    detail: { references: count, bucketsRotated: buckets },
  });
  return { references: count };
}

/**
 * Deletes a person's references at one tenant (consent withdrawn). Their references at other
 * tenants move to a new data key, and the old one is destroyed as in an erasure.
 */
export async function erasePalmDataAt(
  ctx: BiometricContext,
  personId: string,
  tenantId: string,
): Promise<{ references: number }> {
  const { result: count } = await ctx.dataKeys.shred([personId], (tx) => deleteReferences(tx, personId, tenantId));
  ctx.forgetGallerySizes();
  return { references: count };
}

/**
 * Deletes references unused for longer than their tenant's retention period, with the keys that
 * opened them destroyed as in an erasure: each affected bucket is rotated once per run.
 */
export async function purgeUnusedPalmData(
  ctx: BiometricContext,
  now = new Date(),
): Promise<Array<{ tenantId: string; deleted: number }>> {
  const people = await peopleWithUnusedReferences(ctx.db, now);
  if (!people.length) return [];
  // Only the people whose keys are being rotated, with the condition checked again in the transaction.
  const { result: deleted } = await ctx.dataKeys.shred(people, (tx) => deleteUnusedReferences(tx, people, now));
  ctx.forgetGallerySizes();
  const result: Array<{ tenantId: string; deleted: number }> = [];
  for (const { tenantId, retentionDays, deleted: n } of deleted) {
    await audit(ctx.db, {
      action: 'palm.retention_purge',
      actor: 'retention',
      subject: tenantId,
      detail: { deleted: n, retentionDays },
    });
    result.push({ tenantId, deleted: n });
  }
  return result;
}

/**
 * Renews every reference of a tenant under a new key version, without re-enrolment. A code
 * cannot be turned back into the embedding (protection.ts), so the embedding comes from the
 * reference's sealed fine template, opened with the person's data key, and is protected under
 * the new version's projection. References stored under the old linear transform (a tenant on
 * 'transform', or templates sealed without their embedding) are converted here: their embedding
 * is the stored vector transformed back, and their fine template is sealed again with it, so the
 * next re-key finds it there. Everything, the tenant's key version and scheme included, changes
 * in one transaction, so identification sees either the old or the new version, never a mix.
 * References whose data key is gone (nothing readable left) stay behind at the old version,
 * found by no search.
 */
export async function rekeyTenant(
  ctx: BiometricContext,
  tenantId: string,
): Promise<{ keyVersion: number; references: number; unreadable: number }> {
  const tenant = await findTenant(ctx.db, tenantId);
  if (!tenant) throw new BiometricError('unknown_tenant', `unknown tenant ${tenantId}`);
  const from: TenantKeying = {
    id: tenantId,
    keyVersion: tenant.keyVersion,
    transformSplit: tenant.transformSplit,
    templateProtection: tenant.templateProtection,
  };
  const to: TenantKeying = { ...from, keyVersion: tenant.keyVersion + 1, templateProtection: 'projection' };
  const pages: RekeyRow[][] = [];
  for await (const page of referencesForRekey(ctx.db, tenantId, from.keyVersion)) pages.push(page);
  let moved = 0;
  let unreadable = 0;
  await ctx.db.prisma.$transaction(
    async (tx) => {
      for (const page of pages) {
        for (const ref of page) {
          if (!ref.wrappedKey) {
            unreadable++;
            continue;
          }
          const key = ctx.dataKeys.unwrap(ref.personId, ref.wrappedKey);
          let fine = deserializeTemplate(new Uint8Array(openTemplate(key, ref.sealedTemplate, ref.id)));
          let resealed: Uint8Array | null = null;
          if (fine.embedding.length === 0) {
            if (!ref.embedding) throw new Error(`palm reference ${ref.id} has no embedding to protect again`);
            fine = { ...fine, embedding: ctx.transform(from, ref.embedding.length).unprotect(ref.embedding) };
            resealed = new Uint8Array(sealTemplate(key, serializeTemplate(fine), ref.id));
          }
          const code = ctx.projection(to, fine.embedding.length).protect(fine.embedding);
          await rekeyReference(tx, { id: ref.id, code, resealedTemplate: resealed }, from, to);
          moved++;
        }
      }
      await setTenantKeying(tx, tenantId, from, to);
    },
    { timeout: 10 * 60_000, maxWait: 60_000 },
  );
  await audit(ctx.db, {
    action: 'tenant.rekeyed',
    subject: tenantId,
    detail: {
      from: from.keyVersion,
      to: to.keyVersion,
      templateProtection: { from: from.templateProtection, to: to.templateProtection },
      references: moved,
      unreadable,
    },
  });
  return { keyVersion: to.keyVersion, references: moved, unreadable };
}
