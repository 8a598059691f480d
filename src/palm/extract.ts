/** The extraction pipeline: bytes -> decode -> ROI -> quality -> ONNX features -> template. */
import { encode, codePlanes, type CodeMethod } from './code.js';
import { decodeImage, type DecodeLimits } from './decode.js';
import { PalmImageError } from './errors.js';
import { getFeatureModel } from './features.js';
import type { RasterImage } from './image.js';
import { REFUSED_FAULTS } from './cropChecks.js';
import type { LandmarkPass } from './hand/detector.js';
import { fingersOverSquare } from './hand/landmark-frame.js';
import { assessQuality, type QualityResult } from './quality.js';
import { locateRoi, ROI_SIZE, type ImageKind, type RoiResult } from './roi.js';
import type { PalmTemplate } from './template.js';
import { TEMPLATE_VERSION } from './template.js';

/** The crop checks on a crop located from hand landmarks: fingers are judged by their joints instead. */
const LANDMARK_LOCATED_FAULTS = new Set([...REFUSED_FAULTS].filter((f) => f !== 'fingers_in_view'));

export interface ExtractOptions {
  /** 'roi' for a palm crop, 'hand' for a whole-hand photo, 'auto' to decide (default) */
  kind?: ImageKind;
  /** code for the fine matcher: 'palm' (default), 'bocv', or the classical 'compcode' reference */
  method?: CodeMethod;
  limits?: DecodeLimits;
  /** throw PalmImageError (the weakest factor's reason) when the quality score is under this; default: none */
  minQuality?: number;
  /**
   * refuse failed crops (fingers over the palm, a sleeve or cover; cropChecks.ts): default true,
   * false only to measure the gate
   */
  cropChecks?: boolean;
  /** whole hands: use the hand landmark models when installed (default true); false: the valley path alone */
  landmarks?: boolean;
  /**
   * The hand landmark pass already run on this image (detectHand; null: no hand): the models are
   * not run again (a sign-in's frames are detected once, for recognition and liveness alike).
   */
  hand?: LandmarkPass | null;
}

export interface PreparedSample {
  roi: RoiResult;
  quality: QualityResult;
}

export interface Extraction {
  template: PalmTemplate;
  quality: QualityResult;
}

/**
 * Locate the ROI of a decoded image and assess its quality. Asynchronous: a whole hand is located
 * with the hand landmark models when they are installed; a palm crop ('roi') runs no model.
 */
export async function prepareImage(img: RasterImage, opts: ExtractOptions = {}): Promise<PreparedSample> {
  const roi = await locateRoi(img, opts.kind ?? 'auto', ROI_SIZE, {
    landmarks: opts.landmarks,
    ...(opts.hand !== undefined ? { pass: opts.hand } : {}),
  });
  // Located from hand landmarks: the finger joints say whether a finger lies over the palm (a
  // dozen points, checked before the crop's texture is measured).
  const keypoints = roi.landmarks?.keypoints;
  if (keypoints && opts.cropChecks !== false && fingersOverSquare(keypoints.points, roi.landmarks!.square))
    throw new PalmImageError('fingers_in_view', 'fingers cover the palm: open the hand flat, palm to the camera');
  const quality = assessQuality(roi.roi, roi.confidence, roi.sourceSide, {
    cropChecks: opts.cropChecks,
    faults: keypoints ? LANDMARK_LOCATED_FAULTS : undefined,
  });
  if (opts.minQuality !== undefined && quality.score < opts.minQuality) {
    const worst = [...quality.reasons].sort((a, b) => a.score - b.score)[0]!;
    const reason =
      worst.factor === 'focus'
        ? 'too_blurred'
        : worst.factor === 'exposure'
          ? worst.value < 128
            ? 'too_dark'
            : 'too_bright'
          : worst.factor === 'palmSize'
            ? 'too_small'
            : worst.factor === 'contrast'
              ? 'low_contrast'
              : 'no_hand';
    throw new PalmImageError(
      reason,
      `sample quality ${quality.score.toFixed(2)} under ${opts.minQuality}: ${worst.message}`,
    );
  }
  return { roi, quality };
}

/** Decode image bytes, then prepareImage. */
export async function prepareSample(bytes: Uint8Array, opts: ExtractOptions = {}): Promise<PreparedSample> {
  return prepareImage(await decodeImage(bytes, opts.limits), opts);
}

/** Run the feature model on prepared samples (batched) and build templates. */
export async function templatesFromSamples(
  samples: PreparedSample[],
  method: CodeMethod = 'palm',
): Promise<PalmTemplate[]> {
  if (samples.length === 0) return [];
  const model = await getFeatureModel();
  const inputs = samples.map((s) => {
    const d = s.roi.roi.data;
    const x = new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) x[i] = d[i]! / 255;
    return x;
  });
  const { resp, embedding } = await model.run(inputs);
  const per = model.orientations * model.grid * model.grid;
  const E = model.embeddingDim;
  return samples.map((s, i) => ({
    version: TEMPLATE_VERSION,
    method,
    model: `${model.manifest.name}@${model.manifest.version}`,
    embedding: embedding.slice(i * E, (i + 1) * E),
    code: encode(method, resp.subarray(i * per, (i + 1) * per), model.orientations, model.grid),
    planes: codePlanes(method, model.orientations),
    grid: model.grid,
    quality: s.quality.score,
    samples: 1,
  }));
}

/** Extract a palm template from image bytes (PNG, JPEG, BMP). Throws PalmImageError on rejection. */
export async function extractTemplate(bytes: Uint8Array, opts: ExtractOptions = {}): Promise<Extraction> {
  const sample = await prepareSample(bytes, opts);
  const [template] = await templatesFromSamples([sample], opts.method ?? 'palm');
  return { template: template!, quality: sample.quality };
}
