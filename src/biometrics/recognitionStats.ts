/**
 * Recognition health: palm sign-in outcomes counted per tenant, source and hour
 * (prisma/migrations/20261129190000_recognition_stats), and read back as series per hour or day
 * for the operator. Matched sign-ins carry their score's margin over the threshold; a shrinking
 * genuine margin, or more failures to acquire at one reader, shows drift before people notice.
 */
import type { Database } from '../db/database.js';

export type RecognitionOutcome = 'matched' | 'not_matched' | 'throttled' | `unusable:${string}`;

export interface OutcomeRecord {
  tenantId: string;
  /** The reader's client id, or the relying party's at the browser login. */
  source: string;
  channel: 'reader' | 'browser';
  outcome: RecognitionOutcome;
  /** score − threshold, for compared attempts. */
  margin?: number;
  at?: Date;
}

const UPSERT = `
INSERT INTO recognition_stat (tenant_id, source, channel, hour, outcome, count, margin_count, margin_sum, margin_min)
VALUES ($1, $2, $3, date_trunc('hour', $4::timestamptz), $5, 1, $6, $7, $8)
ON CONFLICT (tenant_id, source, hour, outcome) DO UPDATE SET
  count = recognition_stat.count + 1,
  margin_count = recognition_stat.margin_count + EXCLUDED.margin_count,
  margin_sum = recognition_stat.margin_sum + EXCLUDED.margin_sum,
  margin_min = LEAST(recognition_stat.margin_min, EXCLUDED.margin_min)`;

/** Reasons are short codes (the engine's and the PAD's); anything else is folded into "other". */
function outcomeKey(outcome: RecognitionOutcome): string {
  if (!outcome.startsWith('unusable:')) return outcome;
  const reason = outcome.slice('unusable:'.length);
  return /^[a-z0-9_]{1,40}$/.test(reason) ? outcome : 'unusable:other';
}

export async function recordOutcome(db: Database, record: OutcomeRecord): Promise<void> {
  const margin = record.margin !== undefined && Number.isFinite(record.margin) ? record.margin : null;
  await db.prisma.$executeRawUnsafe(
    UPSERT,
    record.tenantId,
    record.source.slice(0, 200),
    record.channel,
    (record.at ?? new Date()).toISOString(),
    outcomeKey(record.outcome),
    margin === null ? 0 : 1,
    margin ?? 0,
    margin,
  );
}

export interface HealthPoint {
  /** Start of the hour or day (UTC). */
  at: Date;
  attempts: number;
  matched: number;
  notMatched: number;
  throttled: number;
  /** Failures to acquire, by reason. */
  unusable: Record<string, number>;
  /** Genuine margin over the threshold of matched sign-ins: mean and lowest. */
  marginMean: number | null;
  marginMin: number | null;
}

export interface HealthQuery {
  tenantId?: string;
  source?: string;
  since: Date;
  until?: Date;
  bucket: 'hour' | 'day';
}

/** The series, oldest first, one point per bucket with any attempt. */
export async function recognitionHealth(db: Database, query: HealthQuery): Promise<HealthPoint[]> {
  const rows = await db.prisma.recognitionStat.findMany({
    where: {
      tenantId: query.tenantId,
      source: query.source,
      hour: { gte: query.since, ...(query.until ? { lt: query.until } : {}) },
    },
    orderBy: { hour: 'asc' },
  });
  const points = new Map<number, HealthPoint & { marginSum: number; marginCount: number }>();
  for (const row of rows) {
    const at = new Date(row.hour);
    if (query.bucket === 'day') at.setUTCHours(0, 0, 0, 0);
    let point = points.get(at.getTime());
    if (!point) {
      point = {
        at,
        attempts: 0,
        matched: 0,
        notMatched: 0,
        throttled: 0,
        unusable: {},
        marginMean: null,
        marginMin: null,
        marginSum: 0,
        marginCount: 0,
      };
      points.set(at.getTime(), point);
    }
    point.attempts += row.count;
    if (row.outcome === 'matched') {
      point.matched += row.count;
      point.marginSum += row.marginSum;
      point.marginCount += row.marginCount;
      if (row.marginMin !== null)
        point.marginMin = point.marginMin === null ? row.marginMin : Math.min(point.marginMin, row.marginMin);
    } else if (row.outcome === 'not_matched') point.notMatched += row.count;
    else if (row.outcome === 'throttled') point.throttled += row.count;
    else {
      const reason = row.outcome.slice('unusable:'.length);
      point.unusable[reason] = (point.unusable[reason] ?? 0) + row.count;
    }
  }
  return [...points.values()].map(({ marginSum, marginCount, ...point }) => ({
    ...point,
    marginMean: marginCount ? Math.round((marginSum / marginCount) * 1000) / 1000 : null,
    marginMin: point.marginMin === null ? null : Math.round(point.marginMin * 1000) / 1000,
  }));
}
