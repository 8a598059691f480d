import { describe, expect, it } from 'vitest';
import { audit, auditEvents } from '../../src/audit/audit.js';
import { canonicalEventText, formatAnchor, GENESIS_HASH, linkHash, parseAnchor } from '../../src/audit/chain.js';
import { describeBreak, verifyAuditChain } from '../../src/audit/verify.js';
import { openDatabase } from '../../src/db/database.js';
import { databaseKinds, useMigratedDatabase } from '../support/server.js';

describe('the audit hash chain', () => {
  it('hashes the canonical text, so key order and undefined fields do not matter', () => {
    const at = new Date('2026-11-29T17:00:00.123Z');
    const a = canonicalEventText({ at, actor: 'p', action: 'x', subject: null, detail: { b: 1, a: [2, 'é'] } });
    const b = canonicalEventText({ at, actor: 'p', action: 'x', subject: null, detail: { a: [2, 'é'], b: 1 } });
    expect(a).toBe(b);
    expect(a).toContain('"at":"2026-11-29T17:00:00.123Z"');
    const one = linkHash(GENESIS_HASH, 1n, a);
    expect(linkHash(GENESIS_HASH, 2n, a).equals(one)).toBe(false); // the position is bound
    expect(parseAnchor(formatAnchor(7n, one))).toEqual({ seq: 7n, hash: one });
    expect(parseAnchor('7:xyz')).toBeNull();
  });
});

describe.each(databaseKinds)('the audit hash chain on $name', (kind) => {
  const testDb = useMigratedDatabase(kind);
  const db = () => testDb().db;
  const exec = (sql: string) => db().prisma.$executeRawUnsafe(sql);

  it('links every event, also written concurrently and in batches, and verifies', async () => {
    const before = await verifyAuditChain(db());
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        audit(db(), {
          action: 'test.event',
          actor: `p${i % 3}`,
          subject: 't',
          detail: { i, nested: { z: 1, a: 'x' } },
        }),
      ),
    );
    await db().prisma.$transaction(
      auditEvents(db(), [{ action: 'test.batch' }, { action: 'test.batch', detail: { n: 2 } }]),
    );
    const report = await verifyAuditChain(db());
    expect(report.ok).toBe(true);
    expect(report.events).toBe(before.events + 42);
    expect(report.firstSeq).toBe(1n);
  });

  it('finds an edited event, a removed one, and removed newest events, naming the first broken link', async () => {
    const { head } = await verifyAuditChain(db());
    const target = await db().prisma.auditEvent.findFirst({ where: { action: 'test.event' }, orderBy: { seq: 'asc' } });
    const seq = target!.seq!;
    // The table refuses updates and deletes (a trigger): someone with the rights to drop it can
    // still change rows, which is what the chain is for.
    await exec('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update');

    await exec(`UPDATE audit_event SET detail = '{"i": 999}' WHERE seq = ${seq}`);
    const report = await verifyAuditChain(db());
    expect(report.ok).toBe(false);
    expect(report.broken).toEqual({ kind: 'edited', seq, id: target!.id });
    expect(describeBreak(report.broken!)).toMatch(new RegExp(`event ${seq} .*changed`));
    await exec(`UPDATE audit_event SET detail = '${JSON.stringify(target!.detail)}' WHERE seq = ${seq}`);
    expect((await verifyAuditChain(db())).ok).toBe(true); // restored byte for byte: whole again

    const actor = target!.actor;
    await exec(`UPDATE audit_event SET actor = 'someone-else' WHERE seq = ${seq}`);
    expect((await verifyAuditChain(db())).broken).toMatchObject({ kind: 'edited', seq });
    await exec(`UPDATE audit_event SET actor = '${actor}' WHERE seq = ${seq}`);

    // An event removed from the middle, then renumbered to hide the gap: the next link breaks.
    const saved = await db().prisma.auditEvent.findUnique({ where: { seq: seq + 1n } });
    await exec(`DELETE FROM audit_event WHERE seq = ${seq + 1n}`);
    expect((await verifyAuditChain(db())).broken).toEqual({ kind: 'missing', afterSeq: seq, nextSeq: seq + 2n });
    const renumber = async (where: string, by: number) => {
      // in two steps: the sequence number is unique
      await exec(`UPDATE audit_event SET seq = -(seq + ${by}) WHERE ${where}`);
      await exec('UPDATE audit_event SET seq = -seq WHERE seq < 0');
    };
    await renumber(`seq > ${seq + 1n}`, -1);
    expect((await verifyAuditChain(db())).broken).toMatchObject({ kind: 'relinked', seq: seq + 1n });
    await renumber(`seq > ${seq}`, 1);
    await db().prisma.auditEvent.create({ data: { ...saved!, detail: saved!.detail as object } });
    expect((await verifyAuditChain(db())).ok).toBe(true);

    // The newest event removed: the head still names it.
    const last = await db().prisma.auditEvent.findFirst({ orderBy: { seq: 'desc' } });
    await exec(`DELETE FROM audit_event WHERE seq = ${last!.seq}`);
    expect((await verifyAuditChain(db())).broken).toEqual({
      kind: 'head_mismatch',
      headSeq: last!.seq,
      lastSeq: last!.seq! - 1n,
    });
    await db().prisma.auditEvent.create({ data: { ...last!, detail: last!.detail as object } });

    // The oldest event removed.
    const first = await db().prisma.auditEvent.findUnique({ where: { seq: 1n } });
    await exec('DELETE FROM audit_event WHERE seq = 1');
    expect((await verifyAuditChain(db())).broken).toEqual({ kind: 'missing', afterSeq: 0n, nextSeq: 2n });
    await db().prisma.auditEvent.create({ data: { ...first!, detail: (first!.detail ?? undefined) as object } });
    await exec('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update');
    expect((await verifyAuditChain(db())).ok).toBe(true);

    // A chain rewritten from an anchored link onwards (head included) still fails against the anchor.
    const anchor = parseAnchor(head)!;
    expect((await verifyAuditChain(db(), { anchor })).ok).toBe(true);
    expect(
      (await verifyAuditChain(db(), { anchor: { seq: anchor.seq, hash: Buffer.alloc(32, 1) } })).broken,
    ).toMatchObject({
      kind: 'edited',
      seq: anchor.seq,
    });
    expect((await verifyAuditChain(db(), { anchor: { seq: 10n ** 12n, hash: anchor.hash } })).broken).toMatchObject({
      kind: 'anchor_not_found',
    });
  });

  it.skipIf(kind.name !== 'postgres')('keeps one chain when two nodes write to the same database', async () => {
    const second = await openDatabase({ url: testDb().url! });
    try {
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          audit(i % 2 ? second : db(), { action: 'test.node', detail: { node: i % 2, i } }),
        ),
      );
    } finally {
      await second.close();
    }
    expect((await verifyAuditChain(db())).ok).toBe(true);
  });
});
