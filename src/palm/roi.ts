/**
 * Region of interest: the dispatcher. A palm crop is normalised as it is (centre square,
 * resampled to the model's ROI size). A whole-hand photo is located by two paths, both in
 * ./hand/ (tunables in ./hand/tunables.ts):
 *
 * - the landmark path (any background, no rig): palm detector and hand landmark model
 *   (detector.ts), the ROI frame from the knuckles and the wrist (landmark-frame.ts);
 * - the valley path (hand brighter than a plain background): segmentation (foreground mask),
 *   valleys (fingertips and finger valleys on its contour), frame (the square from two valleys
 *   or from the mask's axis).
 *
 * With the hand models installed, the landmark frame alone cuts the ROI, on a rig as anywhere
 * else. It used to be refined by the valley frame wherever the two agreed, but the two frames
 * differ systematically (on the COEP hands the valley square sits about 5 % of its side further
 * towards the wrist and is about 6 % larger), so whether a capture was refined depended on how
 * well the valleys showed that time, and two captures of one palm could be cut two ways: on a
 * dark background, where the valley path works, the genuine scores spread (bench:wild EER
 * 0.3-1.4 %, 0 % without the refinement; README). One frame for every capture keeps the cut a
 * function of the hand alone, and the segmentation no longer runs on this path. Without the
 * models, the valley path alone runs, as before the models existed.
 */
import { PalmImageError } from './errors.js';
import { detectHand, getHandModels, type LandmarkPass } from './hand/detector.js';
import { corner, coverOf, corners, cutSquare, fallbackSquare, type Square, squareFromValleys } from './hand/frame.js';
import { handSide, squareFromLandmarks } from './hand/landmark-frame.js';
import { segmentHand } from './hand/segmentation.js';
import { FRAME, LANDMARKS, SEGMENTATION, VALLEYS } from './hand/tunables.js';
import type { HandLandmarks } from './hand/types.js';
import { dist, locateValleys, toSource } from './hand/valleys.js';
import { type GreyImage, type RasterImage, resizeSquare, toGrey, warpSquare } from './image.js';

export type { HandKeypoints, HandLandmarks, Point } from './hand/types.js';

export type ImageKind = 'roi' | 'hand' | 'auto';

export interface LocateOptions {
  /** use the hand landmark models when installed (default true); false: the valley path alone */
  landmarks?: boolean;
  /**
   * The landmark models' pass on this very image, when the caller already ran it (detectHand; null:
   * no hand found): not run again. Presentation attack detection reads the same pass.
   */
  pass?: LandmarkPass | null;
}

export interface RoiResult {
  roi: GreyImage; // size x size, 0..255
  kind: 'roi' | 'hand';
  /** 0..1: how sure the locator is about this ROI */
  confidence: number;
  /** side of the ROI square in source pixels */
  sourceSide: number;
  landmarks?: HandLandmarks;
}

export const ROI_SIZE = 128;

/** Normalise a palm crop: centre square, resampled to size x size. */
function normaliseCrop(grey: GreyImage, size = ROI_SIZE): RoiResult {
  const side = Math.min(grey.width, grey.height);
  const x0 = (grey.width - side) / 2;
  const y0 = (grey.height - side) / 2;
  if (grey.width !== grey.height) {
    const s = side / size;
    return {
      roi: warpSquare(grey, size, [x0 + (s - 1) / 2, y0 + (s - 1) / 2], [s, 0], [0, s]),
      kind: 'roi',
      confidence: 1,
      sourceSide: side,
    };
  }
  return { roi: resizeSquare(grey, size), kind: 'roi', confidence: 1, sourceSide: side };
}

/**
 * The valley path: locate the palm in a whole-hand image whose hand is brighter than a plain
 * background, and cut a normalised square ROI. Throws PalmImageError('no_hand').
 */
export function locateValleyRoi(img: RasterImage, size = ROI_SIZE): RoiResult {
  const seg = segmentHand(img);
  const { mask, width: w, height: h, scale: f } = seg;
  if (seg.foreground < SEGMENTATION.minForeground || seg.separation < SEGMENTATION.minSeparation)
    throw new PalmImageError('no_hand', 'no hand found: nothing stands out from the background');
  if (seg.foreground > SEGMENTATION.maxForeground)
    throw new PalmImageError('no_hand', 'no hand found: the image is all foreground (a palm crop? use kind "roi")');
  const v = locateValleys(seg);
  const { centre, radius: R, contour, onBorder } = v;
  let frame = v.frame;
  let confidence = v.confidence;
  const c = toSource(centre, f);
  const fallback = () => fallbackSquare(mask, w, h, f, centre, R, contour, onBorder, c);
  let q: Square;
  if (frame) {
    const a = toSource(frame[0], f);
    const b = toSource(frame[1], f);
    q = squareFromValleys(a, b, c);
    const ratio = dist(a, b) / (R * f);
    if (ratio < FRAME.minValleyToRadius || ratio > FRAME.maxValleyToRadius) confidence *= 0.5;
    if (coverOf(q, mask, w, h, f) < FRAME.minCover) {
      // implausible valleys: fall back on the palm centre rather than fail
      q = fallback();
      frame = null;
      confidence = VALLEYS.confidenceNone;
    }
  } else q = fallback();
  const cover = coverOf(q, mask, w, h, f);
  if (cover < FRAME.minCover)
    throw new PalmImageError('no_hand', 'no usable palm found: the palm square falls off the hand');
  confidence *= Math.min(1, Math.max(0, (cover - FRAME.minCover) / FRAME.coverRamp));
  const roi = cutSquare(img, q, size);
  if (!roi) throw new PalmImageError('no_hand', 'no usable palm found: the palm square is outside the image');
  return {
    roi,
    kind: 'hand',
    confidence,
    sourceSide: q.side,
    landmarks: {
      centre: c,
      palmRadius: R * f,
      fingertips: v.tips.map((i) => toSource(contour[i]!, f)),
      valleys: v.valleys.map((p) => toSource(p, f)),
      frame: frame ? [toSource(frame[0], f), toSource(frame[1], f)] : null,
      square: corners(q),
      contour: contour.map((p) => toSource(p, f)),
      source: 'valleys',
    },
  };
}

/** Share of a square that lies inside the image. */
function insideShare(q: Square, w: number, h: number): number {
  const G = FRAME.coverGrid;
  let inside = 0;
  for (let j = 0; j < G; j++)
    for (let i = 0; i < G; i++) {
      const p = corner(q, (i + 0.5) / G, (j + 0.5) / G);
      if (p.x >= 0 && p.y >= 0 && p.x <= w - 1 && p.y <= h - 1) inside++;
    }
  return inside / (G * G);
}

/**
 * The landmark path: the hand's landmarks, its side and the landmark frame. Throws
 * PalmImageError: no_hand (no hand, or the palm partly out of view), back_of_hand.
 */
async function landmarkRoi(img: RasterImage, pass: LandmarkPass | null, size: number): Promise<RoiResult> {
  if (!pass || pass.presence < LANDMARKS.minPresence)
    throw new PalmImageError('no_hand', 'no hand found: the hand landmark model sees no hand');
  const side = handSide(pass.points, pass.handedness);
  if (side === 'back')
    throw new PalmImageError('back_of_hand', 'the back of the hand faces the camera: turn the palm towards it');
  const lm = squareFromLandmarks(pass.points);
  const keypoints = { points: pass.points, presence: pass.presence, handedness: pass.handedness, side };
  const inside = insideShare(lm.square, img.width, img.height);
  if (inside < LANDMARKS.minInside)
    throw new PalmImageError('no_hand', 'no usable palm found: the palm is partly outside the image');
  const roi = cutSquare(img, lm.square, size);
  if (!roi) throw new PalmImageError('no_hand', 'no usable palm found: the palm square is outside the image');
  return {
    roi,
    kind: 'hand',
    // the one frame of this path: as sure as the landmark model is that a hand fills the crop
    confidence: pass.presence,
    sourceSide: lm.square.side,
    landmarks: {
      centre: lm.square.ctr,
      palmRadius: lm.span / 2,
      fingertips: [],
      valleys: [],
      frame: lm.frame,
      square: corners(lm.square),
      contour: [],
      keypoints,
      landmarkFrame: lm.frame,
      source: 'landmarks',
    },
  };
}

/** Decide between a palm crop and a whole hand from the foreground alone (no model). */
export function detectKind(img: RasterImage): 'roi' | 'hand' {
  if (Math.max(img.width, img.height) <= SEGMENTATION.maxCropSide) return 'roi';
  const seg = segmentHand(img, SEGMENTATION.kindWorkSide);
  return seg.foreground < SEGMENTATION.kindMaxForeground && seg.separation >= SEGMENTATION.minSeparation
    ? 'hand'
    : 'roi';
}

/**
 * Cut the ROI of an image. kind 'roi': a palm crop, normalised as it is. 'hand': a whole hand,
 * located (throws PalmImageError when no usable palm is found). 'auto': small images are palm
 * crops; larger ones are whole hands when the foreground says so or, with the hand models, when
 * the landmark path finds a palm that fits in the image; otherwise palm crops.
 */
export async function locateRoi(
  img: RasterImage,
  kind: ImageKind = 'auto',
  size = ROI_SIZE,
  opts: LocateOptions = {},
): Promise<RoiResult> {
  if (kind === 'roi' || (kind === 'auto' && Math.max(img.width, img.height) <= SEGMENTATION.maxCropSide))
    return normaliseCrop(toGrey(img), size);
  // Loaded only here: a palm crop never needs the hand models.
  const models = opts.landmarks === false ? null : await getHandModels();
  if (!models) {
    const k = kind === 'auto' ? detectKind(img) : kind;
    return k === 'hand' ? locateValleyRoi(img, size) : normaliseCrop(toGrey(img), size);
  }
  const pass = opts.pass !== undefined ? opts.pass : await detectHand(img, models);
  if (kind === 'hand' || detectKind(img) === 'hand') return landmarkRoi(img, pass, size);
  try {
    return await landmarkRoi(img, pass, size);
  } catch (e) {
    if (!(e instanceof PalmImageError) || e.reason !== 'no_hand') throw e;
    return normaliseCrop(toGrey(img), size);
  }
}
