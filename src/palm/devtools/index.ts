/**
 * The palm engine's development entry: what benchmarks, training, tests and the CLI's
 * development commands (`palmid roi`, `palmid synth`, `palmid eval`) use beside the public API
 * (../index.js). Nothing that enrolment or sign-in runs imports it.
 *
 * - synthesis: deterministic synthetic palms and hands;
 * - metrics and evaluation: DET curves, EER, FNMR at an FMR, rank-1, a folder evaluated;
 * - debug drawing: landmarks over the source image, PNG encoding;
 * - synthetic bona fide sequences following a PAD challenge (a proxy for a live hand, not one);
 * - the engine's building blocks, to measure and test them one by one: ROI location, the
 *   feature model, orientation codes, the code matcher and its kernels, probe poses.
 */
export { synthesize, synthRoi, synthHand } from './synth.js';
export type { SynthOptions } from './synth.js';
export { equalErrorRate, fnmrAtFmr, rank1, detCurve, detSvg } from './metrics.js';
export type { DetPoint, ErrorRates } from './metrics.js';
export { evaluateDirectory } from './evaluate.js';
export type { EvalReport, EvalDetails, EvalOptions } from './evaluate.js';
export { drawLandmarks, encodePng } from './debug.js';
export { closeFingers, closeHand, closeThumb, liveSequence, SYNTHETIC_CHALLENGES } from './live-sequence.js';
export type { LiveSequenceOptions, SyntheticChallenge } from './live-sequence.js';

export { locateRoi, locateValleyRoi, detectKind } from '../roi.js';
export type { LocateOptions } from '../roi.js';
export { segmentHand } from '../hand/segmentation.js';
export { locateValleys } from '../hand/valleys.js';
export { squareFromValleys, corners } from '../hand/frame.js';
export {
  squareFromLandmarks,
  valleysFromKnuckles,
  handSide,
  framesAgree,
  fingersOverSquare,
} from '../hand/landmark-frame.js';
export { detectHand, getHandModels, palmAnchors, decodePalms, uprightRotation, rectPoint } from '../hand/detector.js';
export type { HandModels, LandmarkPass } from '../hand/detector.js';
export { SEGMENTATION, VALLEYS, FRAME, LANDMARKS } from '../hand/tunables.js';
export { getFeatureModel, MODELS_DIR } from '../features.js';
export type { FeatureModel } from '../features.js';
export { codePlanes, encode } from '../code.js';
export { matchCodes, setSimd, shiftCode, simdAvailable } from '../matcher.js';
export type { CodeMatch } from '../matcher.js';
export { reposeSquare } from '../probe.js';
export {
  ALL_FAULTS,
  CROP_LIMITS,
  PALM_LAYOUT,
  REFUSED_FAULTS,
  cropFault,
  layoutCells,
  measureCrop,
} from '../cropChecks.js';
export type { CropFault, CropMeasures } from '../cropChecks.js';
export { coverCrop, fingersCrop, makeFault, motionBlurCrop, turnCrop } from './cropFaults.js';
export { prng, prngFor } from './random.js';
export type { CropFaultKind } from './cropFaults.js';
export { assessQuality } from '../quality.js';
export { toGrey } from '../image.js';
