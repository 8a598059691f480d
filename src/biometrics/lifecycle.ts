import { audit } from '../audit/audit.js';
import { deserializeTemplate, serializeTemplate } from '../palm/index.js';
import type { BiometricContext, TenantKeying } from './context.js';
import { openTemplate, sealTemplate } from './dataKeys.js';
import { bitLiteral, PROTECTED_CODE_BITS } from './protection.js';
import { referencesForRekey, type RekeyRow } from './references.js';

/**
 * Erasure, retention and re-keying of palm data.
 */

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
  const { result: count, buckets } = await ctx.dataKeys.shred(
    [personId],
    async (tx) => (await tx.palmReference.deleteMany({ where: { personId } })).count,
  );
  ctx.forgetGallerySizes();
  await audit(ctx.db.prisma, {
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
  const { result: count } = await ctx.dataKeys.shred(
    [personId],
    async (tx) => (await tx.palmReference.deleteMany({ where: { personId, tenantId } })).count,
  );
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
  const expired = `FROM palm_reference r JOIN tenant t ON t.id = r.tenant_id WHERE r.last_used_at < $1::timestamptz - t.retention_days * interval '1 day'`;
  const people = await ctx.db.query<{ person_id: string }>(`SELECT DISTINCT r.person_id ${expired}`, [
    now.toISOString(),
  ]);
  if (!people.length) return [];
  const { result: deleted } = await ctx.dataKeys.shred(
    people.map((p) => p.person_id),
    // The same condition again inside the transaction (a reference used meanwhile is kept), for
    // the people whose keys are being rotated only.
    async (tx) => {
      const deleted = new Map<string, number>();
      for (let i = 0; i < people.length; i += 1000) {
        const ids = people.slice(i, i + 1000).map((p) => p.person_id);
        const rows = await tx.$queryRawUnsafe<Array<{ tenant_id: string; n: number }>>(
          `WITH gone AS (DELETE FROM palm_reference d USING tenant t
             WHERE t.id = d.tenant_id AND d.last_used_at < $1::timestamptz - t.retention_days * interval '1 day'
               AND d.person_id IN (${ids.map((_, j) => `$${j + 2}`).join(',')}) RETURNING d.tenant_id)
           SELECT tenant_id, count(*)::int AS n FROM gone GROUP BY tenant_id`,
          now.toISOString(),
          ...ids,
        );
        for (const r of rows) deleted.set(r.tenant_id, (deleted.get(r.tenant_id) ?? 0) + r.n);
      }
      return [...deleted].map(([tenant_id, n]) => ({ tenant_id, n }));
    },
  );
  ctx.forgetGallerySizes();
  const retention = new Map(
    (await ctx.db.prisma.tenant.findMany({ select: { id: true, retentionDays: true } })).map((t) => [
      t.id,
      t.retentionDays,
    ]),
  );
  const result: Array<{ tenantId: string; deleted: number }> = [];
  for (const { tenant_id, n } of deleted) {
    await audit(ctx.db.prisma, {
      action: 'palm.retention_purge',
      actor: 'retention',
      subject: tenant_id,
      detail: { deleted: n, retentionDays: retention.get(tenant_id) },
    });
    result.push({ tenantId: tenant_id, deleted: n });
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
  const tenant = await ctx.db.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId } });
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
          await tx.$executeRawUnsafe(
            `UPDATE palm_reference SET embedding = NULL, code = $1::bit(${PROTECTED_CODE_BITS}), key_version = $2, fine_template = COALESCE($3, fine_template)
              WHERE id = $4 AND key_version = $5`,
            bitLiteral(code),
            to.keyVersion,
            resealed,
            ref.id,
            from.keyVersion,
          );
          moved++;
        }
      }
      await tx.tenant.update({
        where: { id: tenantId, keyVersion: from.keyVersion },
        data: { keyVersion: to.keyVersion, templateProtection: to.templateProtection },
      });
    },
    { timeout: 10 * 60_000, maxWait: 60_000 },
  );
  await audit(ctx.db.prisma, {
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
