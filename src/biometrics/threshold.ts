/**
 * The decision threshold for a target false match rate. A tenant's target is what a stranger
 * risks per attempt: the chance that a palm nobody enrolled is taken for someone (1:N: the
 * false positive identification rate; 1:1: the false match rate). Against N references that
 * chance is about N times the per-comparison FMR, so the per-comparison target is FMR / N.
 *
 * The model manifest carries the calibration measured on impostor pairs of synthetic palms:
 * thresholds for per-comparison FMRs down to 1e-6 (`fmrCalibration`, interpolated on a log
 * scale between rows) and a normal tail fitted to them (`impostorTail`), used below the table,
 * where large galleries need thresholds no feasible number of pairs can measure. Never lower
 * than the table's strictest row there. Without a table the manifest's `identify` is used.
 */
import { loadManifest, normalUpperQuantile } from '../palm/index.js';

interface Calibration {
  identify?: number;
  fmrCalibration?: Array<{ fmr: number; threshold: number }>;
  impostorTail?: { model: 'normal'; mean: number; sd: number };
}

// Read once: identification asks for a threshold on every request.
let calibration: Calibration | undefined;

function modelCalibration(): Calibration {
  calibration ??= (loadManifest().models[0] as unknown as { thresholds?: Calibration }).thresholds ?? {};
  return calibration;
}

export function thresholdForFmr(targetFmr: number, comparisons: number, cal: Calibration = modelCalibration()): number {
  const table = [...(cal.fmrCalibration ?? [])].sort((a, b) => b.fmr - a.fmr); // decreasing FMR = increasing threshold
  if (!table.length) return cal.identify ?? 0.62;
  const perComparison = targetFmr / Math.max(1, comparisons);
  const first = table[0]!;
  const last = table[table.length - 1]!;
  if (perComparison >= first.fmr) return first.threshold;
  if (perComparison < last.fmr) {
    const tail = cal.impostorTail;
    if (!tail) return last.threshold;
    return Math.max(last.threshold, tail.mean + tail.sd * normalUpperQuantile(perComparison));
  }
  for (let i = 1; i < table.length; i++) {
    const hi = table[i - 1]!;
    const lo = table[i]!;
    if (perComparison >= lo.fmr) {
      const t = Math.log(hi.fmr / perComparison) / Math.log(hi.fmr / lo.fmr);
      return hi.threshold + t * (lo.threshold - hi.threshold);
    }
  }
  return last.threshold;
}
