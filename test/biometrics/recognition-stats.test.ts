/**
 * Recognition health (#14): palm sign-in outcomes counted per tenant, source and hour by the one
 * sign-in attempt path (attemptPalmSignIn), and read back as series with failure-to-acquire reasons
 * and the genuine margin over the threshold.
 */
import { describe, expect, it } from 'vitest';
import { type RecognitionOutcome, recognitionHealth, recordOutcome } from '../../src/biometrics/recognitionStats.js';
import { attemptPalmSignIn, type PalmAttempt } from '../../src/biometrics/signInAttempt.js';
import { LIMITS } from '../../src/throttling/attemptLimits.js';
import { databaseKinds, useMigratedDatabase } from '../support/server.js';

describe.each(databaseKinds)('recognition health on $name', (kind) => {
  const testDb = useMigratedDatabase(kind);
  const db = () => testDb().db;

  it('sums outcomes per hour or day, keeps the lowest genuine margin, and folds unknown reasons', async () => {
    const at = (h: number) => new Date(Date.UTC(2026, 10, 20, h, 30));
    // [tenant, reader, outcome, margin, hour]: written at once, as concurrent sign-ins would.
    const outcomes: Array<[string, string, RecognitionOutcome, number | undefined, number]> = [
      ['shop', 'r1', 'matched', 0.2, 9],
      ['shop', 'r1', 'matched', 0.1, 9],
      ['shop', 'r1', 'matched', 0.05, 10],
      ['shop', 'r1', 'not_matched', -0.3, 10],
      ['shop', 'r1', 'unusable:blurred', undefined, 10],
      ['shop', 'r1', 'unusable:blurred', undefined, 10],
      ['shop', 'r1', 'unusable:<script>', undefined, 10],
      ['shop', 'r2', 'throttled', undefined, 10],
      ['gym', 'r9', 'matched', 0.9, 10],
    ];
    await Promise.all(
      outcomes.map(([tenantId, source, outcome, margin, hour]) =>
        recordOutcome(db(), { tenantId, source, channel: 'reader', outcome, margin, at: at(hour) }),
      ),
    );
    const since = new Date(Date.UTC(2026, 10, 20));
    const hourly = await recognitionHealth(db(), { tenantId: 'shop', since, bucket: 'hour' });
    expect(hourly).toEqual([
      {
        at: new Date(Date.UTC(2026, 10, 20, 9)),
        attempts: 2,
        matched: 2,
        notMatched: 0,
        throttled: 0,
        unusable: {},
        marginMean: 0.15,
        marginMin: 0.1,
      },
      {
        at: new Date(Date.UTC(2026, 10, 20, 10)),
        attempts: 6,
        matched: 1,
        notMatched: 1,
        throttled: 1,
        unusable: { blurred: 2, other: 1 },
        marginMean: 0.05,
        marginMin: 0.05,
      },
    ]);
    const daily = await recognitionHealth(db(), { tenantId: 'shop', source: 'r1', since, bucket: 'day' });
    expect(daily).toHaveLength(1);
    expect(daily[0]).toMatchObject({ attempts: 7, matched: 3, marginMin: 0.05, marginMean: 0.117 });
  });

  it('is counted by the sign-in attempt path: usable or not, matched or not, not a source’s refusal', async () => {
    const base = (score: number, match: boolean, usable = true): PalmAttempt<string, { reason: string }> => ({
      channel: 'browser',
      actor: 'rp-health',
      tenantId: 'office',
      sources: [{ subject: `test-source-${kind.name}`, policy: LIMITS.browserAddress }],
      read: async () =>
        usable ? { usable: true, probe: 'probe' } : { usable: false, rejection: { reason: 'too_dark' } },
      compare: async () => ({ mode: 'identify', match, personId: match ? 'p1' : null, score, threshold: 0.4 }),
    });
    expect((await attemptPalmSignIn(db(), base(0.7, true))).kind).toBe('matched');
    expect((await attemptPalmSignIn(db(), base(0.1, false))).kind).toBe('not_matched');
    expect((await attemptPalmSignIn(db(), base(0, false, false))).kind).toBe('unusable');
    const refused = await attemptPalmSignIn(db(), { ...base(0.7, true), precheck: () => ({ reason: 'truncated' }) });
    expect(refused.kind).toBe('unusable'); // refused on its header: not counted
    const [point] = await recognitionHealth(db(), {
      tenantId: 'office',
      since: new Date(Date.now() - 3_600_000),
      bucket: 'day',
    });
    expect(point).toMatchObject({ attempts: 3, matched: 1, notMatched: 1, unusable: { too_dark: 1 }, marginMin: 0.3 });
  });
});
