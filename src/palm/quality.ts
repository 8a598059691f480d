/**
 * Sample quality: a score in [0, 1] with the reasons behind it, so that a reader can ask for
 * another capture instead of enrolling a poor one. Hard failures (far too dark, flat, blurred)
 * and failed crops (a turned or partial palm, a sleeve or fingers over it, motion blur:
 * cropChecks.ts) throw PalmImageError, at enrolment and at sign-in alike; the rest lowers the score.
 */
import { CROP_SIDE, type CropFault, checkCrop } from './cropChecks.js';
import { PalmImageError } from './errors.js';
import type { GreyImage } from './image.js';

export type QualityFactor = 'focus' | 'exposure' | 'contrast' | 'roiConfidence' | 'palmSize';

export interface QualityReason {
  factor: QualityFactor;
  /** 0..1, 1 = no concern */
  score: number;
  /** the raw measurement */
  value: number;
  message: string;
}

export interface QualityResult {
  /** 0..1: the product of the factor scores */
  score: number;
  reasons: QualityReason[];
  /** true when the sample is fit for enrolment (score >= the default enrol threshold) */
  acceptable: boolean;
}

export const ENROL_MIN_QUALITY = 0.5;

/** Hard limits (rejections). Deliberately lenient: they catch unusable captures, not mediocre ones. */
const QUALITY_LIMITS = {
  darkMean: 20, // mean grey (0..255) under this -> too_dark
  brightMean: 245, // mean grey over this -> too_bright
  minStd: 3, // grey standard deviation under this -> low_contrast
  minFocus: 0.19, // focus measure under this -> too_blurred
  minRoiSide: 48, // ROI side in source pixels under this -> too_small
};

/** Focus at or over this earns the full score; under it a crop counts as soft. */
const FOCUS_FULL = 0.26;

const ramp = (v: number, lo: number, hi: number) => (v <= lo ? 0 : v >= hi ? 1 : (v - lo) / (hi - lo));

/** A factor's score and measurement, with the message for a concern (score under 1) or for none. */
const reason = (factor: QualityFactor, score: number, value: number, concern: string, ok: string): QualityReason => ({
  factor,
  score,
  value,
  message: score < 1 ? concern : ok,
});

/**
 * Focus: how much of the palm's line-scale detail survives, i.e. the RMS of the band between a
 * 3x3 and a 5x5 box blur over the RMS of the band between the 5x5 and a 13x13 box blur. Blur
 * removes the first band faster than the second; the finest band (pixel noise, JPEG and
 * quantisation artefacts) is left out on purpose, and the ratio does not depend on brightness
 * or contrast. Sharp palms measure at least 0.26 (the full score); a palm blurred by a 7x7 box
 * three times falls under the hard limit (minFocus).
 */
function focusMeasure(img: GreyImage): number {
  const { width: w, height: h, data } = img;
  const m = Math.min(12, Math.floor(Math.min(w, h) / 8));
  if (m < 7) return 0;
  // integral image: every box mean is four lookups; the margin keeps the boxes inside the image
  const W = w + 1;
  const S = new Float64Array(W * (h + 1));
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) {
      row += data[y * w + x]!;
      S[(y + 1) * W + x + 1] = S[y * W + x + 1]! + row;
    }
  }
  const box = (x: number, y: number, r: number) =>
    (S[(y + r + 1) * W + x + r + 1]! -
      S[(y - r) * W + x + r + 1]! -
      S[(y + r + 1) * W + x - r]! +
      S[(y - r) * W + x - r]!) /
    ((2 * r + 1) * (2 * r + 1));
  let fine = 0;
  let mid = 0;
  for (let y = m; y < h - m; y++)
    for (let x = m; x < w - m; x++) {
      const b1 = box(x, y, 1);
      const b2 = box(x, y, 2);
      const b6 = box(x, y, 6);
      fine += (b1 - b2) ** 2;
      mid += (b2 - b6) ** 2;
    }
  return mid > 0 ? Math.sqrt(fine / mid) : 0;
}

export function assessQuality(
  roi: GreyImage,
  roiConfidence: number,
  sourceSide: number,
  opts: { cropChecks?: boolean; faults?: ReadonlySet<CropFault> } = {},
): QualityResult {
  const n = roi.data.length;
  let s = 0;
  let s2 = 0;
  let clipped = 0;
  for (let i = 0; i < n; i++) {
    const v = roi.data[i]!;
    s += v;
    s2 += v * v;
    if (v <= 2 || v >= 253) clipped++;
  }
  const mean = s / n;
  const std = Math.sqrt(Math.max(0, s2 / n - mean * mean));
  const clipFrac = clipped / n;
  if (mean < QUALITY_LIMITS.darkMean)
    throw new PalmImageError('too_dark', `palm too dark (mean grey ${mean.toFixed(0)} of 255)`);
  if (mean > QUALITY_LIMITS.brightMean)
    throw new PalmImageError('too_bright', `palm over-exposed (mean grey ${mean.toFixed(0)} of 255)`);
  if (std < QUALITY_LIMITS.minStd)
    throw new PalmImageError('low_contrast', `palm image is flat (grey standard deviation ${std.toFixed(1)})`);
  if (sourceSide < QUALITY_LIMITS.minRoiSide)
    throw new PalmImageError('too_small', `palm region is only ${sourceSide.toFixed(0)} px wide`);
  // Failed crops before the focus limit: a motion blur is told apart from a soft image only here.
  if (opts.cropChecks !== false && roi.width === CROP_SIDE && roi.height === CROP_SIDE) checkCrop(roi, opts.faults);
  const focus = focusMeasure(roi);
  if (focus < QUALITY_LIMITS.minFocus)
    throw new PalmImageError('too_blurred', `palm image too blurred (focus ${focus.toFixed(3)})`);

  const exposure = Math.min(ramp(mean, 20, 60), 1 - ramp(mean, 200, 245)) * (1 - ramp(clipFrac, 0.02, 0.3));
  // Orientation codes ignore global contrast: on synthetic palms whose contrast was scaled down
  // to a grey standard deviation of 6, genuine and impostor scores hardly moved. So std 6 earns
  // the full score; below it the score falls to the hard limit (minStd).
  const contrast = ramp(std, QUALITY_LIMITS.minStd, 6);
  const focusScore = ramp(focus, QUALITY_LIMITS.minFocus, FOCUS_FULL);
  const size = ramp(sourceSide, 48, 110);
  const reasons = [
    reason(
      'exposure',
      exposure,
      mean,
      mean < 128 ? 'palm is dark: add light' : 'palm is too bright or saturated',
      'exposure ok',
    ),
    reason('contrast', contrast, std, 'low contrast', 'contrast ok'),
    reason('focus', focusScore, focus, 'image is soft: hold the hand still and in focus', 'focus ok'),
    reason(
      'roiConfidence',
      roiConfidence,
      roiConfidence,
      'palm position uncertain: spread the fingers, whole hand in view',
      'palm located',
    ),
    reason('palmSize', size, sourceSide, 'palm is small in the image: move closer', 'palm size ok'),
  ];
  const score = reasons.reduce((p, r) => p * r.score, 1);
  return { score, reasons, acceptable: score >= ENROL_MIN_QUALITY };
}
