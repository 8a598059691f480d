import { loadManifest } from '../palm/index.js';

/**
 * The decision threshold for a target false match rate. The model manifest may carry a
 * calibration table (`fmrCalibration`: pairs of per-comparison FMR and similarity threshold,
 * measured on impostor pairs of synthetic palms); 1:N against N references multiplies the
 * chance of a false match by about N, so the per-comparison target is FMR/N. Without a table
 * the manifest's `identify` threshold is used.
 */
interface Calibration {
  identify?: number;
  fmrCalibration?: Array<{ fmr: number; threshold: number }>;
}

// Read once: identification asks for a threshold on every request.
let calibration: Calibration | undefined;

function modelCalibration(): Calibration {
  calibration ??= ((loadManifest().models[0] as unknown as { thresholds?: Calibration }).thresholds ?? {});
  return calibration;
}

export function thresholdForFmr(targetFmr: number, galleryComparisons: number): number {
  const { fmrCalibration: table, identify } = modelCalibration();
  const fallback = identify ?? 0.62;
  if (!table?.length) return fallback;
  const perComparison = targetFmr / Math.max(1, galleryComparisons);
  const sorted = [...table].sort((a, b) => b.fmr - a.fmr); // decreasing FMR = increasing threshold
  let chosen = sorted[0]!.threshold;
  for (const row of sorted) if (row.fmr >= perComparison) chosen = row.threshold;
  // Past the table's end, the highest calibrated threshold is the best we know.
  return perComparison < sorted[sorted.length - 1]!.fmr ? sorted[sorted.length - 1]!.threshold : chosen;
}
