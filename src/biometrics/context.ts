import type { TenantKeying } from '../accounts/tenants.js';
import type { Database } from '../db/database.js';
import type { MasterKey } from '../crypto/masterKey.js';
import { keyStoreOf, type KeyStore } from '../crypto/keyStore.js';
import { PersonDataKeys } from './dataKeys.js';
import { TenantProjection, TenantTransform } from './protection.js';
import { countReferences, type Searchable } from './references.js';
import { PalmidError, invalidRequest } from '../errors.js';

/** What enrolment and identification share: the database, the keys and the tenants' protection schemes. */
export class BiometricContext {
  readonly dataKeys: PersonDataKeys;
  private readonly transforms = new Map<string, TenantTransform>();
  private readonly projections = new Map<string, TenantProjection>();
  private readonly sizes = new Map<string, { count: number; at: number; refreshing?: Promise<number> }>();

  /**
   * `keys`: the key store wrapping people's data keys; by default the one attached to the database
   * (src/crypto/keyStore.ts).
   */
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
      const refreshing = countReferences(this.db, tenantId, keyVersion, model).then((n) => {
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

export class BiometricError extends PalmidError {
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
    super(message, invalidRequest(1));
  }
}
