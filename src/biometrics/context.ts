import type { Database } from '../db/database.js';
import type { MasterKey } from '../crypto/masterKey.js';
import { keyStoreOf, type KeyStore } from '../crypto/keyStore.js';
import { PersonDataKeys } from './dataKeys.js';
import { TenantProjection, TenantTransform } from './protection.js';
import type { Searchable } from './references.js';

/** The N of 1:N; an index-only scan of palm_reference_tenant_id_key_version_model_idx. */
export const GALLERY_SIZE_SQL = `SELECT count(*)::int AS n FROM palm_reference WHERE tenant_id = $1 AND key_version = $2 AND model = $3`;

/** What selects a tenant's template transform (the tenant row's columns of the same names). */
export interface TenantKeying {
  id: string;
  keyVersion: number;
  transformSplit: number | null;
  /** 'projection' (keyed bit code) or 'transform' (references stored before it, until re-keyed): protection.ts */
  templateProtection: string;
}

/** What enrolment and identification share: the database, the keys and the tenant transforms. */
export class BiometricContext {
  readonly dataKeys: PersonDataKeys;
  private readonly transforms = new Map<string, TenantTransform>();
  private readonly projections = new Map<string, TenantProjection>();
  private readonly sizes = new Map<string, { count: number; at: number; refreshing?: Promise<number> }>();

  /** `keys`: the key store wrapping people's data keys; by default the one attached to the database (src/crypto/keyStore.ts). */
  constructor(
    readonly db: Database,
    readonly master: MasterKey,
    keys: KeyStore = keyStoreOf(db),
  ) {
    this.dataKeys = new PersonDataKeys(db, master, keys);
  }

  /** The tenant's transform for a key version and split (computed once: it costs a QR decomposition). */
  transform(tenant: TenantKeying, dim: number): TenantTransform {
    const key = `${tenant.id}:${tenant.keyVersion}:${tenant.transformSplit}:${dim}`;
    let t = this.transforms.get(key);
    if (!t) {
      t = TenantTransform.derive(this.master, tenant.id, tenant.keyVersion, dim, tenant.transformSplit);
      this.transforms.set(key, t);
    }
    return t;
  }

  /** The tenant's projection for a key version (computed once). */
  projection(tenant: TenantKeying, dim: number): TenantProjection {
    const key = `${tenant.id}:${tenant.keyVersion}:${dim}`;
    let p = this.projections.get(key);
    if (!p) {
      p = TenantProjection.derive(this.master, tenant.id, tenant.keyVersion, dim);
      this.projections.set(key, p);
    }
    return p;
  }

  /** An embedding in the form the tenant stores and searches (its template protection scheme). */
  protect(tenant: TenantKeying, embedding: Float32Array): Searchable {
    if (tenant.templateProtection === 'projection')
      return { code: this.projection(tenant, embedding.length).protect(embedding) };
    if (tenant.templateProtection === 'transform')
      return { embedding: this.transform(tenant, embedding.length).protect(embedding) };
    throw new Error(`unknown template protection ${tenant.templateProtection} of tenant ${tenant.id}`);
  }

  /**
   * How many references a search at this tenant runs against (the N of 1:N, which sets the
   * decision threshold). Counting a large tenant costs a scan, so the count is kept for a minute
   * and then refreshed in the background while the last one serves: N moves slowly and the
   * threshold depends on its logarithm.
   */
  async gallerySize(tenantId: string, keyVersion: number, model: string, maxAgeMs = 60_000): Promise<number> {
    const key = `${tenantId}:${keyVersion}:${model}`;
    const entry = this.sizes.get(key);
    const count = () => {
      const refreshing = this.db.query<{ n: number }>(GALLERY_SIZE_SQL, [tenantId, keyVersion, model]).then((rows) => {
        const n = Number(rows[0]?.n ?? 0);
        this.sizes.set(key, { count: n, at: Date.now() });
        return n;
      });
      return refreshing;
    };
    if (!entry) return count();
    if (Date.now() - entry.at > maxAgeMs && !entry.refreshing) {
      entry.refreshing = count().catch(() => entry.count); // a failed refresh keeps the last count
      entry.refreshing.finally(() => delete entry.refreshing).catch(() => {});
    }
    return entry.count;
  }

  /** Forget the counts (after enrolments or erasures that must count at once, e.g. in tests). */
  forgetGallerySizes(): void {
    this.sizes.clear();
  }
}

export class BiometricError extends Error {
  override name = 'BiometricError';
  constructor(
    readonly reason:
      | 'unknown_tenant'
      | 'unknown_person'
      | 'consent_required'
      | 'not_enough_captures'
      | 'capture_rejected'
      | 'duplicate_enrolment',
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
