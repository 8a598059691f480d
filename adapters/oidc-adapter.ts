/**
 * oidc-provider storage. Every model the provider stores (Session, Grant, Interaction,
 * AuthorizationCode, AccessToken, RefreshToken, ClientCredentials, DeviceCode,
 * BackchannelAuthenticationRequest, PushedAuthorizationRequest, ReplayDetection, ...) lands in
 * the Prisma model OidcPayload (table oidc_payload), keyed by (type, id), with the columns the
 * provider looks things up by. Clients are read from OidcClient, managed by `palmid client`.
 *
 * The tables are Prisma's (schema, migrations, admin queries), but these hot paths run as plain
 * SQL on the same connection: every token request goes through them, and a Prisma query costs
 * several times the CPU of the same statement on the driver (`npm run bench:oidc` measures the
 * token endpoint).
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Database } from '../src/db/database.js';
import type { ClientCache } from '../src/clients/cache.js';

export function createOidcAdapter(db: Database, clients?: ClientCache): new (name: string) => Adapter {
  return class OidcAdapter implements Adapter {
    constructor(private readonly type: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      if (this.type === 'Client') throw new Error('clients are managed with `palmid client`');
      await db.query(
        `INSERT INTO oidc_payload (type, id, payload, grant_id, user_code, uid, expires_at)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)
         ON CONFLICT (type, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
           user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`,
        [
          this.type,
          id,
          JSON.stringify(payload),
          payload.grantId ?? null,
          payload.userCode ?? null,
          payload.uid ?? null,
          expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
        ],
        'oidc_upsert',
      );
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.type === 'Client') {
        const cached = clients?.get(id);
        if (cached) return cached;
        const found = await findClient(db, id);
        if (found) clients?.set(id, found);
        return found;
      }
      return this.findWhere('id = $2', id);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.findWhere('user_code = $2', userCode);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.findWhere('uid = $2', uid);
    }

    async consume(id: string): Promise<void> {
      await db.query(`UPDATE oidc_payload SET consumed_at = now() WHERE type = $1 AND id = $2`, [this.type, id]);
    }

    async destroy(id: string): Promise<void> {
      await db.query(`DELETE FROM oidc_payload WHERE type = $1 AND id = $2`, [this.type, id]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.query(`DELETE FROM oidc_payload WHERE grant_id = $1`, [grantId]);
    }

    private async findWhere(condition: string, value: string): Promise<AdapterPayload | undefined> {
      const [row] = await db.query<Row>(
        `SELECT payload, expires_at, consumed_at FROM oidc_payload WHERE type = $1 AND ${condition} LIMIT 1`,
        [this.type, value],
        `oidc_find_${condition.split(' ')[0]}`,
      );
      return toPayload(row);
    }
  };
}

interface Row {
  payload: AdapterPayload | string;
  expires_at: Date | string | null;
  consumed_at: Date | string | null;
}

function toPayload(row: Row | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  if (row.expires_at && new Date(row.expires_at).getTime() <= Date.now()) return undefined;
  const payload = typeof row.payload === 'string' ? (JSON.parse(row.payload) as AdapterPayload) : row.payload;
  return row.consumed_at ? { ...payload, consumed: Math.floor(new Date(row.consumed_at).getTime() / 1000) } : payload;
}

async function findClient(db: Database, clientId: string): Promise<AdapterPayload | undefined> {
  const [row] = await db.query<{
    client_id: string;
    metadata: Record<string, unknown> | string;
    secret_hash: string | null;
  }>(
    // A revoked reader's client record is not found: it is refused from that moment on.
    `SELECT c.client_id, c.metadata, c.secret_hash FROM oidc_client c
       LEFT JOIN reader r ON r.client_id = c.client_id
      WHERE c.client_id = $1 AND r.revoked_at IS NULL`,
    [clientId],
    'oidc_client_find',
  );
  if (!row) return undefined;
  const metadata =
    typeof row.metadata === 'string' ? (JSON.parse(row.metadata) as Record<string, unknown>) : row.metadata;
  // The "secret" handed to oidc-provider is the argon2id hash; the provider's Client model
  // compares presented secrets through our compareClientSecret (src/oidc/clientSecrets.ts).
  return { ...metadata, client_id: row.client_id, ...(row.secret_hash ? { client_secret: row.secret_hash } : {}) };
}

/** Deletes rows whose expiry passed more than `graceSeconds` ago. Returns how many went. */
export async function purgeExpiredPayloads(db: Database, graceSeconds = 0): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `WITH gone AS (DELETE FROM oidc_payload WHERE expires_at < $1::timestamptz RETURNING 1)
     SELECT count(*)::int AS n FROM gone`,
    [new Date(Date.now() - graceSeconds * 1000).toISOString()],
  );
  return row?.n ?? 0;
}

/** Every token, code and grant issued to a client (which was removed or revoked). */
export async function deletePayloadsOfClient(db: Database, clientId: string): Promise<void> {
  await db.query(`DELETE FROM oidc_payload WHERE payload->>'clientId' = $1`, [clientId]);
}

/** Every session, grant, code, token and pending interaction of an account (a person who was removed). */
export async function deletePayloadsOfAccount(db: Database, accountId: string): Promise<void> {
  await db.query(
    `DELETE FROM oidc_payload
      WHERE payload->>'accountId' = $1 OR payload->'session'->>'accountId' = $1`,
    [accountId],
  );
}
