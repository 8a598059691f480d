import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { PrismaClient } from '../src/db/database.js';
import { Prisma } from '../src/generated/prisma/client.js';

/**
 * oidc-provider storage on Prisma. Every model the provider stores (Session, Grant, Interaction,
 * AuthorizationCode, AccessToken, RefreshToken, ClientCredentials, DeviceCode,
 * BackchannelAuthenticationRequest, PushedAuthorizationRequest, ReplayDetection, ...) lands in
 * one table keyed by (type, id), with the columns the provider looks things up by.
 * Clients are the exception: they live in their own table, managed by `palmid client`.
 */
export function createPrismaAdapter(prisma: PrismaClient): new (name: string) => Adapter {
  return class PrismaAdapter implements Adapter {
    constructor(private readonly type: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      if (this.type === 'Client') throw new Error('clients are managed with `palmid client`');
      const data = {
        payload: payload as Prisma.InputJsonValue,
        grantId: payload.grantId ?? null,
        userCode: payload.userCode ?? null,
        uid: payload.uid ?? null,
        expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
      };
      await prisma.oidcPayload.upsert({
        where: { type_id: { type: this.type, id } },
        create: { type: this.type, id, ...data },
        update: data,
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.type === 'Client') return findClient(prisma, id);
      const row = await prisma.oidcPayload.findUnique({ where: { type_id: { type: this.type, id } } });
      return toPayload(row);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return toPayload(await prisma.oidcPayload.findFirst({ where: { type: this.type, userCode } }));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return toPayload(await prisma.oidcPayload.findFirst({ where: { type: this.type, uid } }));
    }

    async consume(id: string): Promise<void> {
      await prisma.oidcPayload.updateMany({ where: { type: this.type, id }, data: { consumedAt: new Date() } });
    }

    async destroy(id: string): Promise<void> {
      await prisma.oidcPayload.deleteMany({ where: { type: this.type, id } });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await prisma.oidcPayload.deleteMany({ where: { grantId } });
    }
  };
}

type Row = { payload: Prisma.JsonValue; expiresAt: Date | null; consumedAt: Date | null } | null;

function toPayload(row: Row): AdapterPayload | undefined {
  if (!row) return undefined;
  if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) return undefined;
  const payload = row.payload as AdapterPayload;
  return row.consumedAt ? { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) } : payload;
}

async function findClient(prisma: PrismaClient, clientId: string): Promise<AdapterPayload | undefined> {
  const row = await prisma.oidcClient.findUnique({ where: { clientId } });
  if (!row) return undefined;
  const metadata = row.metadata as Record<string, unknown>;
  // The "secret" handed to oidc-provider is the argon2id hash; the provider's Client model
  // compares presented secrets through our compareClientSecret (src/oidc/clientSecrets.ts).
  return { ...metadata, client_id: row.clientId, ...(row.secretHash ? { client_secret: row.secretHash } : {}) };
}

/** Deletes rows whose expiry passed more than `graceSeconds` ago. Returns how many went. */
export async function purgeExpiredPayloads(prisma: PrismaClient, graceSeconds = 0): Promise<number> {
  const { count } = await prisma.oidcPayload.deleteMany({
    where: { expiresAt: { lt: new Date(Date.now() - graceSeconds * 1000) } },
  });
  return count;
}
