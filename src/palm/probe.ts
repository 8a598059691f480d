/**
 * A probe: one capture as the matcher sees it at search time. The code matcher tolerates a few
 * cells of translation but little rotation or change of scale: a palm turned by a few degrees,
 * or one whose ROI came out a few percent smaller than at enrolment (a hand held further from a
 * contactless camera), loses much of its genuine score. So the probe carries the capture
 * slightly turned and slightly rescaled as well, and a comparison takes the best of them. The
 * variants live on the probe, never on the reference: stored references stay one template each,
 * and the thresholds are calibrated on probe-versus-reference scores (training/calibrate.ts), so
 * the extra chances a stranger gets are priced in.
 */
import type { CodeMethod } from './code.js';
import { compare } from './compare.js';
import {
  prepareImage,
  prepareSample,
  templatesFromSamples,
  type ExtractOptions,
  type PreparedSample,
} from './extract.js';
import type { RasterImage } from './image.js';
import { warpSquare, type GreyImage } from './image.js';
import type { QualityResult } from './quality.js';
import type { PalmTemplate } from './template.js';

/** A change of pose tried on a probe: a turn about the ROI's centre and a zoom. */
export interface ProbeVariant {
  turnDeg: number;
  zoom: number;
}

/**
 * Variants tried besides the capture as taken. Turns three degrees apart, so a hand turned by up
 * to 7.5 degrees either way is never more than 1.5 degrees from one of them; zooms of ±5 % for
 * the distance to the camera. A cross, not a grid: each variant is one more ROI through the
 * model, one more comparison per candidate, and a little more chance for a stranger.
 */
export const PROBE_VARIANTS: readonly ProbeVariant[] = [
  { turnDeg: -6, zoom: 1 },
  { turnDeg: -3, zoom: 1 },
  { turnDeg: 3, zoom: 1 },
  { turnDeg: 6, zoom: 1 },
  { turnDeg: 0, zoom: 0.95 },
  { turnDeg: 0, zoom: 1.05 },
];

/**
 * The capture as taken, and its variants, made when first needed: most genuine captures are
 * decided on the capture alone (see bestMatch), so they never pay for the variants.
 */
export class Probe {
  private made: PalmTemplate[] | null = null;
  private making: Promise<PalmTemplate[]> | null = null;
  private readonly make: () => Promise<PalmTemplate[]>;

  constructor(
    /** The capture as taken; its embedding is what stage one searches with. */
    readonly template: PalmTemplate,
    /** The variants' templates, or how to make them when first needed. */
    variants: PalmTemplate[] | (() => Promise<PalmTemplate[]>),
  ) {
    if (Array.isArray(variants)) this.made = variants;
    this.make = Array.isArray(variants) ? async () => variants : variants;
  }

  /** The capture at PROBE_VARIANTS (extracted once, on the first call). */
  async variants(): Promise<PalmTemplate[]> {
    this.making ??= this.make();
    this.made ??= await this.making;
    return this.made;
  }

  /** The variants, when they have been made (else null). */
  get madeVariants(): PalmTemplate[] | null {
    return this.made;
  }
}

/** The square image turned by `turnDeg` degrees about its centre and magnified by `zoom` (edges clamped). */
export function reposeSquare(img: GreyImage, { turnDeg, zoom }: ProbeVariant): GreyImage {
  const a = (turnDeg * Math.PI) / 180;
  const cos = Math.cos(a) / zoom;
  const sin = Math.sin(a) / zoom;
  const c = (img.width - 1) / 2;
  // Output pixel (u, v) reads the source at centre + R(u - c, v - c) / zoom.
  const origin: [number, number] = [c - c * cos + c * sin, c - c * sin - c * cos];
  return warpSquare(img, img.width, origin, [cos, sin], [-sin, cos]);
}

function reposed(sample: PreparedSample, variants: readonly ProbeVariant[]): PreparedSample[] {
  return variants.map((v) => ({ ...sample, roi: { ...sample.roi, roi: reposeSquare(sample.roi.roi, v) } }));
}

/** Probes of prepared samples with their variants made now (one model run for all of them). */
export async function probesFromSamples(
  samples: PreparedSample[],
  variants: readonly ProbeVariant[] = PROBE_VARIANTS,
  method: CodeMethod = 'palm',
): Promise<Probe[]> {
  const templates = await templatesFromSamples(
    samples.flatMap((s) => [s, ...reposed(s, variants)]),
    method,
  );
  const per = 1 + variants.length;
  return samples.map((_, i) => new Probe(templates[i * per]!, templates.slice(i * per + 1, (i + 1) * per)));
}

/**
 * Decode, locate, check and extract one capture as a probe (variants when first needed). Throws
 * PalmImageError on rejection.
 */
export async function extractProbe(
  bytes: Uint8Array,
  opts: ExtractOptions = {},
): Promise<{ probe: Probe; quality: QualityResult }> {
  return probeFromSample(await prepareSample(bytes, opts), opts);
}

/**
 * extractProbe on an image already decoded, with the hand landmark pass already run on it when
 * given (`opts.hand`): a sign-in that also judges liveness decodes and detects each frame once.
 */
export async function extractProbeFromImage(
  img: RasterImage,
  opts: ExtractOptions = {},
): Promise<{ probe: Probe; quality: QualityResult }> {
  return probeFromSample(await prepareImage(img, opts), opts);
}

async function probeFromSample(
  sample: PreparedSample,
  opts: ExtractOptions,
): Promise<{ probe: Probe; quality: QualityResult }> {
  const method = opts.method ?? 'palm';
  const [template] = await templatesFromSamples([sample], method);
  return {
    probe: new Probe(template!, () => templatesFromSamples(reposed(sample, PROBE_VARIANTS), method)),
    quality: sample.quality,
  };
}

/**
 * Fine similarity of a probe and a reference: the best over the capture and its variants, which
 * must have been made (probesFromSamples, or `await probe.variants()`).
 */
export function compareProbe(probe: Probe, reference: PalmTemplate): number {
  const variants = probe.madeVariants;
  if (!variants) throw new Error('compareProbe: the probe variants are not made yet (await probe.variants())');
  return bestScore(probe.template, variants, reference);
}

function bestScore(template: PalmTemplate, variants: PalmTemplate[], reference: PalmTemplate): number {
  return variantScore(compare(template, reference), variants, reference);
}

/** `asTaken` (the capture's own score) raised to the best of the variants'. */
function variantScore(asTaken: number, variants: PalmTemplate[], reference: PalmTemplate): number {
  let best = asTaken;
  for (const v of variants) best = Math.max(best, compare(v, reference));
  return best;
}

/**
 * The reference a probe matches best, by compareProbe, and its score; the variants are made and
 * tried only when the capture as taken reaches `threshold` with none of them. Whether some score
 * reaches the threshold is therefore exactly as if every variant had been tried (so the
 * calibration of compareProbe holds); only the work differs.
 */
export async function bestMatch(
  probe: Probe,
  references: PalmTemplate[],
  threshold: number,
): Promise<{ index: number; score: number }> {
  const asTaken = references.map((r) => compare(probe.template, r));
  const pick = (scores: number[]) =>
    scores.reduce((best, score, index) => (score > best.score ? { index, score } : best), { index: -1, score: 0 });
  const best = pick(asTaken);
  if (best.score >= threshold || references.length === 0) return best;
  const variants = await probe.variants();
  return pick(references.map((r, i) => variantScore(asTaken[i]!, variants, r)));
}
