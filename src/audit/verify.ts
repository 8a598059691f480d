/**
 * Walks the audit hash chain (src/audit/chain.ts) from its first link to the head and reports
 * the first broken link: an event whose content no longer gives its hash (edited), a link whose
 * previous hash is not the event before it (one removed or inserted), a gap in the sequence, or a
 * head that names a link no event has (the newest removed). Reads in pages, so a long log costs
 * bounded memory.
 */
import type { Database } from '../db/database.js';
import { canonicalEventText, formatAnchor, GENESIS_HASH, linkHash } from './chain.js';

export type ChainBreak =
  | { kind: 'edited'; seq: bigint; id: bigint }
  | { kind: 'relinked'; seq: bigint; id: bigint }
  | { kind: 'missing'; afterSeq: bigint; nextSeq: bigint | null }
  | { kind: 'head_mismatch'; headSeq: bigint; lastSeq: bigint }
  | { kind: 'anchor_not_found'; anchor: string };

export interface ChainReport {
  ok: boolean;
  /** Links checked. */
  events: number;
  /** The chain's first sequence number (1 unless the oldest events were removed). */
  firstSeq: bigint | null;
  head: string;
  /** Events written before the chain began (no link). */
  unchained: number;
  broken?: ChainBreak;
}

const PAGE = 1000;

/** The newest link (seq 0 and the genesis hash while the log is empty). */
export async function readAuditHead(db: Database): Promise<{ seq: bigint; hash: Buffer }> {
  const head = await db.prisma.auditChainHead.findUnique({ where: { id: 1 } });
  if (!head) throw new Error('the audit chain has no head row: run the migrations');
  return { seq: head.seq, hash: Buffer.from(head.hash) };
}

export async function verifyAuditChain(
  db: Database,
  options: { anchor?: { seq: bigint; hash: Buffer } } = {},
): Promise<ChainReport> {
  const head = await readAuditHead(db);
  const unchained = await db.prisma.auditEvent.count({ where: { seq: null } });
  const report = (events: number, firstSeq: bigint | null, broken?: ChainBreak): ChainReport => ({
    ok: !broken,
    events,
    firstSeq,
    head: formatAnchor(head.seq, head.hash),
    unchained,
    ...(broken ? { broken } : {}),
  });

  let checked = 0;
  let firstSeq: bigint | null = null;
  let previous: { seq: bigint; hash: Buffer } | null = null;
  let anchorSeen = !options.anchor;
  for (;;) {
    const after: bigint | null = previous ? (previous as { seq: bigint }).seq : null;
    const rows = await db.prisma.auditEvent.findMany({
      where: { seq: after !== null ? { gt: after } : { not: null } },
      orderBy: { seq: 'asc' },
      take: PAGE,
    });
    for (const row of rows) {
      const seq: bigint = row.seq!;
      if (firstSeq === null) {
        firstSeq = seq;
        // The log is append-only with no retention: the chain starts at 1, after the genesis hash.
        if (seq !== 1n) return report(checked, firstSeq, { kind: 'missing', afterSeq: 0n, nextSeq: seq });
        if (!Buffer.from(row.prevHash ?? []).equals(GENESIS_HASH))
          return report(checked, firstSeq, { kind: 'relinked', seq, id: row.id });
      } else if (seq !== previous!.seq + 1n) {
        return report(checked, firstSeq, { kind: 'missing', afterSeq: previous!.seq, nextSeq: seq });
      } else if (!Buffer.from(row.prevHash ?? []).equals(previous!.hash)) {
        return report(checked, firstSeq, { kind: 'relinked', seq, id: row.id });
      }
      const text = canonicalEventText({
        at: row.at,
        actor: row.actor,
        action: row.action,
        subject: row.subject,
        detail: row.detail,
      });
      const hash = linkHash(row.prevHash ?? GENESIS_HASH, seq, text);
      if (!row.hash || !hash.equals(row.hash)) return report(checked, firstSeq, { kind: 'edited', seq, id: row.id });
      if (options.anchor && seq === options.anchor.seq) {
        if (!hash.equals(options.anchor.hash)) return report(checked, firstSeq, { kind: 'edited', seq, id: row.id });
        anchorSeen = true;
      }
      checked++;
      previous = { seq, hash };
    }
    if (rows.length < PAGE) break;
  }
  const lastSeq = previous?.seq ?? 0n;
  if (head.seq !== lastSeq || (previous && !previous.hash.equals(head.hash)))
    return report(checked, firstSeq, { kind: 'head_mismatch', headSeq: head.seq, lastSeq });
  if (!anchorSeen)
    return report(checked, firstSeq, {
      kind: 'anchor_not_found',
      anchor: formatAnchor(options.anchor!.seq, options.anchor!.hash),
    });
  return report(checked, firstSeq);
}

/** The break in words, for the CLI and the console. */
export function describeBreak(broken: ChainBreak): string {
  switch (broken.kind) {
    case 'edited':
      return `event ${broken.seq} (id ${broken.id}) was changed after it was written`;
    case 'relinked':
      return `event ${broken.seq} (id ${broken.id}) does not follow the event before it: one was removed or inserted`;
    case 'missing':
      return broken.nextSeq === null
        ? `events after ${broken.afterSeq} are missing`
        : `events ${broken.afterSeq + 1n} to ${broken.nextSeq - 1n} are missing`;
    case 'head_mismatch':
      return `the chain's head is event ${broken.headSeq} but the newest event is ${broken.lastSeq}: the newest events were removed or altered`;
    case 'anchor_not_found':
      return `the anchor ${broken.anchor} is not in the chain: it was rewritten or truncated`;
  }
}
