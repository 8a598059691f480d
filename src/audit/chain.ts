/**
 * The audit log's hash chain: each event is a link,
 *   hash = sha256(prev_hash ‖ seq (8 bytes, big-endian) ‖ sha256(canonical event text)),
 * the canonical text being RFC 8785 JSON of {action, actor, at, detail, subject}. The database
 * computes each link as it inserts the event (src/audit/audit.ts); this module recomputes them to
 * verify the log. Anyone who edits, removes or inserts an event without rewriting every later link
 * and the head is found out; to also catch someone who rewrites the chain with database access,
 * keep the head (`palmid audit head`) outside it and check it later (`audit verify --anchor`).
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

export const GENESIS_HASH = Buffer.alloc(32);

export interface ChainedEventContent {
  at: Date;
  actor: string | null;
  action: string;
  subject: string | null;
  detail: unknown;
}

/** The event's text as hashed: RFC 8785 canonical JSON, the time with milliseconds in UTC. */
export function canonicalEventText(event: ChainedEventContent): string {
  const text = canonicalize({
    action: event.action,
    actor: event.actor,
    at: event.at.toISOString(),
    detail: event.detail ?? null,
    subject: event.subject,
  });
  if (text === undefined) throw new Error('audit event cannot be written as JSON');
  return text;
}

export function linkHash(prevHash: Uint8Array, seq: bigint, eventText: string): Buffer {
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigInt64BE(seq);
  const eventDigest = createHash('sha256').update(eventText, 'utf8').digest();
  return createHash('sha256').update(prevHash).update(seqBytes).update(eventDigest).digest();
}

/** How a chain head is written outside palmid: `<seq>:<hash in hex>`. */
export function formatAnchor(seq: bigint, hash: Uint8Array): string {
  return `${seq}:${Buffer.from(hash).toString('hex')}`;
}

export function parseAnchor(text: string): { seq: bigint; hash: Buffer } | null {
  const match = /^(\d{1,19}):([0-9a-f]{64})$/i.exec(text.trim());
  if (!match) return null;
  return { seq: BigInt(match[1]!), hash: Buffer.from(match[2]!, 'hex') };
}
