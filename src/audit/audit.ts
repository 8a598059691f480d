import type { Database } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';

export interface AuditEventInput {
  action: string;
  actor?: string | null;
  subject?: string | null;
  detail?: Record<string, unknown>;
}

function row(event: AuditEventInput) {
  return {
    action: event.action,
    actor: event.actor ?? null,
    subject: event.subject ?? null,
    detail: (event.detail ?? undefined) as Prisma.InputJsonValue | undefined,
  };
}

/** Appends one security event. Never pass secrets, tokens or biometric data in `detail`. */
export async function audit(db: Database, event: AuditEventInput): Promise<void> {
  await db.prisma.auditEvent.create({ data: row(event) });
}

/**
 * The statement that appends several events, for the caller's `$transaction([...])` with the
 * change they record (a batch of imported people). The same rules as audit().
 */
export function auditEvents(db: Database, events: AuditEventInput[]) {
  return db.prisma.auditEvent.createMany({ data: events.map(row) });
}
