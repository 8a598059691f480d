/**
 * The audit log: security events, each appended as a link of one hash chain (src/audit/chain.ts).
 * The link is computed by the database in the statement that inserts the event: it moves the one
 * head row forward (whose row lock orders concurrent writers, from this process or another palmid
 * node on the same database) and inserts the event with the head's old and new hash.
 */
import type { Database } from '../db/database.js';
import { canonicalEventText } from './chain.js';

export interface AuditEventInput {
  action: string;
  actor?: string | null;
  subject?: string | null;
  detail?: Record<string, unknown>;
}

/**
 * sha256(prev ‖ int8send(seq) ‖ sha256(text)): the same formula as linkHash in chain.ts. SET reads
 * the row as the UPDATE finds it, after any concurrent writer's commit, so prev_hash is the link
 * just before this one (a separate SELECT would read the statement's older snapshot).
 */
const APPEND = `
WITH head AS (
  UPDATE audit_chain_head
     SET seq = seq + 1,
         prev_hash = hash,
         hash = sha256(hash || int8send(seq + 1) || sha256(convert_to($6, 'UTF8')))
   WHERE id = 1
  RETURNING seq, prev_hash, hash
)
INSERT INTO audit_event (at, actor, action, subject, detail, seq, prev_hash, hash)
SELECT $1::timestamptz, $2, $3, $4, $5::jsonb, head.seq, head.prev_hash, head.hash FROM head`;

function appendStatement(db: Database, event: AuditEventInput) {
  // A JavaScript date has milliseconds, the column's precision: the hashed time is the stored one.
  const at = new Date();
  const content = {
    at,
    actor: event.actor ?? null,
    action: event.action,
    subject: event.subject ?? null,
    detail: event.detail ?? null,
  };
  // Through JSON once, as the database will give it back (undefined fields dropped, dates as text).
  const detail = content.detail === null ? null : (JSON.parse(JSON.stringify(content.detail)) as unknown);
  const text = canonicalEventText({ ...content, detail });
  return db.prisma.$executeRawUnsafe(
    APPEND,
    at.toISOString(),
    content.actor,
    content.action,
    content.subject,
    detail === null ? null : JSON.stringify(detail),
    text,
  );
}

/** Appends one security event. Never pass secrets, tokens or biometric data in `detail`. */
export async function audit(db: Database, event: AuditEventInput): Promise<void> {
  await appendStatement(db, event);
}

/**
 * The statements that append several events, for the caller's `$transaction([...])` with the
 * change they record (a batch of imported people). The same rules as audit().
 */
export function auditEvents(db: Database, events: AuditEventInput[]) {
  return events.map((event) => appendStatement(db, event));
}
