/**
 * palmid palm recognition engine: what enrolment and sign-in use (a library: no HTTP, no
 * database, writes nothing). Synthesis, evaluation, metrics and debug drawing live apart, in
 * the development entry (./devtools/index.js), which nothing on this path imports.
 *
 *   const { template, quality } = await extractTemplate(bytes, { kind: 'auto' });
 *   template.embedding   // Float32Array(128), L2-normalised: for pgvector (cosine)
 *   compare(a, b)        // fine similarity in [0, 1]
 *   const { probe } = await extractProbe(bytes)   // a capture at search time (with small turns and zooms)
 *   await bestMatch(probe, references, threshold)  // what 1:1 and 1:N decide on
 *   fuse([t1, t2, t3])   // one reference from several samples
 *   serializeTemplate(t) / deserializeTemplate(bytes)
 */
export { PalmImageError, PalmTemplateError } from './errors.js';
export type { PalmImageErrorReason, PalmTemplateErrorReason } from './errors.js';
export { checkImageHeader, decodeImage, DEFAULT_LIMITS, CAMERA_FRAME_LIMITS } from './decode.js';
export type { DecodeLimits, ImageFormat } from './decode.js';
export type { RasterImage, GreyImage } from './image.js';
export type { ImageKind, RoiResult, HandLandmarks, Point } from './roi.js';
export { ENROL_MIN_QUALITY } from './quality.js';
export type { QualityResult, QualityReason, QualityFactor } from './quality.js';
export { loadManifest } from './features.js';
export type { ModelManifestEntry } from './features.js';
export type { CodeMethod } from './code.js';
export { extractTemplate, prepareSample, prepareImage, templatesFromSamples } from './extract.js';
export type { ExtractOptions, Extraction, PreparedSample } from './extract.js';
export { compare, embeddingSimilarity, fuse } from './compare.js';
export type { CompareOptions } from './compare.js';
export type { SearchMode } from './matcher.js';
export {
  extractProbe,
  extractProbeFromImage,
  probesFromSamples,
  compareProbe,
  bestMatch,
  Probe,
  PROBE_VARIANTS,
} from './probe.js';
export type { ProbeVariant } from './probe.js';
export { serializeTemplate, deserializeTemplate, TEMPLATE_VERSION } from './template.js';
export type { PalmTemplate } from './template.js';
export { normalUpperQuantile } from './quantile.js';
export { checkLiveness, handPasses, isChallenge, CHALLENGES, CHALLENGES_FROM_OPEN_HAND } from './pad/index.js';
export type { LandmarkPass } from './hand/detector.js';
export type { Challenge, LivenessResult, LivenessReason } from './pad/index.js';
