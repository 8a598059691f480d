/**
 * Reading the audit log: newest first, filtered by time, actor, person, tenant, reader and event
 * type, a page at a time (keyset paging on the id, so deep pages cost the same as the first).
 * Events name a tenant as their subject or as detail.tenant, a reader as their actor or as
 * detail.reader, and a person as actor or subject.
 */
import type { Database } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';

export interface AuditFilter {
  since?: Date;
  until?: Date;
  actor?: string;
  person?: string;
  tenant?: string;
  reader?: string;
  /** An event type, or a family of them: `signin.*`. */
  action?: string;
  /** Events older than this id (the previous page's `next`). */
  before?: bigint;
  limit?: number;
}

export interface AuditEntry {
  id: bigint;
  seq: bigint | null;
  at: Date;
  actor: string | null;
  action: string;
  subject: string | null;
  detail: unknown;
}

export const MAX_AUDIT_PAGE = 1000;

export async function listAuditEvents(
  db: Database,
  filter: AuditFilter = {},
): Promise<{ events: AuditEntry[]; next: bigint | null }> {
  const limit = Math.min(Math.max(1, filter.limit ?? 100), MAX_AUDIT_PAGE);
  const and: Prisma.AuditEventWhereInput[] = [];
  if (filter.since || filter.until) and.push({ at: { gte: filter.since, lt: filter.until } });
  if (filter.actor) and.push({ actor: filter.actor });
  if (filter.person) and.push({ OR: [{ actor: filter.person }, { subject: filter.person }] });
  if (filter.tenant)
    and.push({ OR: [{ subject: filter.tenant }, { detail: { path: ['tenant'], equals: filter.tenant } }] });
  if (filter.reader)
    and.push({ OR: [{ actor: filter.reader }, { detail: { path: ['reader'], equals: filter.reader } }] });
  if (filter.action) {
    and.push(
      filter.action.endsWith('*') ? { action: { startsWith: filter.action.slice(0, -1) } } : { action: filter.action },
    );
  }
  if (filter.before !== undefined) and.push({ id: { lt: filter.before } });
  const rows = await db.prisma.auditEvent.findMany({
    where: { AND: and },
    orderBy: { id: 'desc' },
    take: limit + 1,
    select: { id: true, seq: true, at: true, actor: true, action: true, subject: true, detail: true },
  });
  const events = rows.slice(0, limit);
  return { events, next: rows.length > limit ? events[events.length - 1]!.id : null };
}

/** All the events a filter selects, page by page (for an export). */
export async function* allAuditEvents(db: Database, filter: Omit<AuditFilter, 'before' | 'limit'>) {
  let before: bigint | undefined;
  for (;;) {
    const page = await listAuditEvents(db, { ...filter, before, limit: MAX_AUDIT_PAGE });
    yield* page.events;
    if (page.next === null) return;
    before = page.next;
  }
}
