import type { Database } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';

/** Appends one security event. Never pass secrets, tokens or biometric data in `detail`. */
export async function audit(
  db: Database,
  event: { action: string; actor?: string | null; subject?: string | null; detail?: Record<string, unknown> },
): Promise<void> {
  await db.prisma.auditEvent.create({
    data: {
      action: event.action,
      actor: event.actor ?? null,
      subject: event.subject ?? null,
      detail: (event.detail ?? undefined) as Prisma.InputJsonValue | undefined,
    },
  });
}
