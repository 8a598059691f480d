/**
 * Client records, cached in memory so a token request does not read the client table every time.
 * Any process that changes or removes a client sends NOTIFY on CLIENT_CHANGED_CHANNEL with the
 * client id, and every server evicts it at once; should the listening connection drop, the cache
 * empties itself and stays off, so a stale client is never served.
 */
import type { AdapterPayload } from 'oidc-provider';
import type { Database } from '../db/database.js';

export const CLIENT_CHANGED_CHANNEL = 'palmid_client_changed';

const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

export class ClientCache {
  private readonly entries = new Map<string, { payload: AdapterPayload; expires: number }>();
  private trusted = false;
  private stopListening: (() => Promise<void>) | undefined;

  static async start(db: Database): Promise<ClientCache> {
    const cache = new ClientCache();
    cache.stopListening = await db.listen(
      CLIENT_CHANGED_CHANNEL,
      (clientId) => cache.entries.delete(clientId),
      () => {
        cache.trusted = false;
        cache.entries.clear();
      },
    );
    cache.trusted = true;
    return cache;
  }

  get(clientId: string): AdapterPayload | undefined {
    if (!this.trusted) return undefined;
    const entry = this.entries.get(clientId);
    if (!entry) return undefined;
    if (entry.expires <= Date.now()) {
      this.entries.delete(clientId);
      return undefined;
    }
    return entry.payload;
  }

  set(clientId: string, payload: AdapterPayload): void {
    if (!this.trusted) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(clientId, { payload, expires: Date.now() + TTL_MS });
  }

  async close(): Promise<void> {
    this.trusted = false;
    this.entries.clear();
    await this.stopListening?.();
  }
}

/** Tells every server to forget a client (after it was changed or removed). */
export async function announceClientChange(db: Database, clientId: string): Promise<void> {
  await db.notify(CLIENT_CHANGED_CHANNEL, clientId);
}
