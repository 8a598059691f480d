import type { Database } from '../db/database.js';
import type { MasterKey } from '../crypto/masterKey.js';
import { PersonDataKeys } from './dataKeys.js';
import { TenantTransform } from './protection.js';

/** What enrolment and identification share: the database, the keys and the tenant transforms. */
export class BiometricContext {
  readonly dataKeys: PersonDataKeys;
  private readonly transforms = new Map<string, TenantTransform>();

  constructor(
    readonly db: Database,
    readonly master: MasterKey,
  ) {
    this.dataKeys = new PersonDataKeys(db.prisma, master);
  }

  /** The tenant's transform for a key version (computed once: it costs a QR decomposition). */
  transform(tenantId: string, keyVersion: number, dim: number): TenantTransform {
    const key = `${tenantId}:${keyVersion}:${dim}`;
    let t = this.transforms.get(key);
    if (!t) {
      t = TenantTransform.derive(this.master, tenantId, keyVersion, dim);
      this.transforms.set(key, t);
    }
    return t;
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
