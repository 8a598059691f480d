import type { Database } from '../db/database.js';
import { audit } from '../audit/audit.js';
import type { BiometricContext } from './context.js';
import { COARSE_DIMENSIONS, referencesForRekey, vectorLiteral } from './references.js';

/**
 * Erasure, retention and re-keying of palm data.
 */

/** Deletes a person's palm data: the data key goes first (crypto-shredding), then the rows. */
export async function erasePalmData(ctx: BiometricContext, personId: string, actor = 'person'): Promise<{ references: number }> {
  await ctx.dataKeys.destroy(personId);
  const { count } = await ctx.db.prisma.palmReference.deleteMany({ where: { personId } });
  await audit(ctx.db.prisma, { action: 'palm.erased', actor, subject: personId, detail: { references: count } });
  return { references: count };
}

/** Deletes references unused for longer than their tenant's retention period. */
export async function purgeUnusedPalmData(db: Database, now = new Date()): Promise<Array<{ tenantId: string; deleted: number }>> {
  const result: Array<{ tenantId: string; deleted: number }> = [];
  for (const tenant of await db.prisma.tenant.findMany({ select: { id: true, retentionDays: true } })) {
    const cutoff = new Date(now.getTime() - tenant.retentionDays * 86_400_000);
    const { count } = await db.prisma.palmReference.deleteMany({ where: { tenantId: tenant.id, lastUsedAt: { lt: cutoff } } });
    if (count > 0) {
      await audit(db.prisma, { action: 'palm.retention_purge', actor: 'retention', subject: tenant.id, detail: { deleted: count, retentionDays: tenant.retentionDays } });
      result.push({ tenantId: tenant.id, deleted: count });
    }
  }
  return result;
}

/**
 * Renews every reference of a tenant under a new key version, without re-enrolment: each stored
 * vector is moved from the old transform to the new one, which keeps the coarse index's leading
 * dimensions apart (a tenant keyed before the coarse index moves to it here). Everything, the
 * tenant's key version included, changes in one transaction, so identification sees either the
 * old or the new version, never a mix.
 */
export async function rekeyTenant(ctx: BiometricContext, tenantId: string): Promise<{ keyVersion: number; references: number }> {
  const tenant = await ctx.db.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId } });
  const from = { id: tenantId, keyVersion: tenant.keyVersion, transformSplit: tenant.transformSplit };
  const to = { id: tenantId, keyVersion: tenant.keyVersion + 1, transformSplit: COARSE_DIMENSIONS };
  const pages: Array<Array<{ id: string; embedding: Float32Array }>> = [];
  for await (const page of referencesForRekey(ctx.db, tenantId, from.keyVersion)) pages.push(page);
  let moved = 0;
  await ctx.db.prisma.$transaction(
    async (tx) => {
      for (const page of pages) {
        for (const ref of page) {
          const renewed = ctx.transform(to, ref.embedding.length).protect(ctx.transform(from, ref.embedding.length).unprotect(ref.embedding));
          await tx.$executeRawUnsafe(
            `UPDATE palm_reference SET embedding = $1::vector, key_version = $2 WHERE id = $3 AND key_version = $4`,
            vectorLiteral(renewed),
            to.keyVersion,
            ref.id,
            from.keyVersion,
          );
          moved++;
        }
      }
      await tx.tenant.update({ where: { id: tenantId, keyVersion: from.keyVersion }, data: { keyVersion: to.keyVersion, transformSplit: to.transformSplit } });
    },
    { timeout: 10 * 60_000, maxWait: 60_000 },
  );
  await audit(ctx.db.prisma, { action: 'tenant.rekeyed', subject: tenantId, detail: { from: from.keyVersion, to: to.keyVersion, transformSplit: to.transformSplit, references: moved } });
  return { keyVersion: to.keyVersion, references: moved };
}
