/**
 * The landmark path's models: MediaPipe's palm detector (full) and hand landmark model (lite),
 * converted to ONNX by training/convert_mediapipe.py and listed in models/hands.json, run in
 * onnxruntime-node on one thread. Pipeline, as MediaPipe documents it:
 *
 * 1. palm detector: the whole image letterboxed into its square input, RGB in [0, 1]; an SSD
 *    head over fixed-size anchors gives boxes and 7 palm keypoints (0 wrist, 2 middle-finger
 *    knuckle); scores are logits; overlapping boxes are merged (weighted non-maximum suppression);
 * 2. hand crop: a square around the best palm box, turned so that wrist→middle knuckle points
 *    up, scaled up to hold the fingers (handRectScale) and shifted towards them (handRectShift);
 * 3. landmark model on that crop: 21 landmarks (x, y in crop pixels), hand presence and
 *    handedness (both already sigmoid), projected back to source pixels;
 * 4. one refinement: a new crop from the landmarks' own box (as MediaPipe's tracking does
 *    between frames) and the landmark model again, for steadier points.
 *
 * The models and their manifest (models/hands.json, sha256 checked at load) are optional: when
 * they are absent the engine runs the valley path alone. Sessions are created once per process.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { MODELS_DIR } from '../features.js';
import type { RasterImage } from '../image.js';
import { LANDMARKS } from './tunables.js';
import type { Point } from './types.js';

/** Raw model runner: image tensor in, named float outputs back. */
export interface TensorModel {
  size: number;
  layout: 'NHWC' | 'NCHW';
  run(rgb: Float32Array): Promise<Float32Array[]>;
}

export interface HandModels {
  detector: TensorModel;
  landmarker: TensorModel;
}

/** A palm found by the detector, in source pixels. */
export interface PalmDetection {
  score: number;
  centre: Point;
  width: number;
  height: number;
  keypoints: Point[];
}

/** A square crop turned by `rotation` (radians, clockwise on screen) around `centre`. */
export interface RotatedRect {
  centre: Point;
  side: number;
  rotation: number;
}

export interface LandmarkPass {
  points: Point[];
  /**
   * The model's relative depth of each landmark (wrist near 0, smaller = nearer the camera), in
   * source pixels (the x scale): what presentation attack detection reads non-rigid 3D motion from.
   */
  depth: number[];
  presence: number;
  handedness: number;
  rect: RotatedRect;
  detection: PalmDetection;
}

// ------------------------------------------------------------------ tensors

/**
 * Sample an RGB tensor (size x size, channels in [0, 1]) from the image along an affine map:
 * tensor pixel (u, v) reads the source at origin + (u + 0.5) * ex + (v + 0.5) * ey. Outside the
 * image reads 0 (MediaPipe pads with zeros).
 */
export function sampleRgb(
  img: RasterImage,
  size: number,
  origin: Point,
  ex: Point,
  ey: Point,
  layout: 'NHWC' | 'NCHW',
): Float32Array {
  const out = new Float32Array(size * size * 3);
  const { width: W, height: H, data: d, channels: C } = img;
  const plane = size * size;
  // channel offsets of the output: interleaved (NHWC) or planar (NCHW)
  const step = layout === 'NHWC' ? 3 : 1;
  const o1 = layout === 'NHWC' ? 1 : plane;
  const o2 = 2 * o1;
  const g1 = C === 1 ? 0 : 1;
  const g2 = C === 1 ? 0 : 2;
  const inv = 1 / 255;
  for (let v = 0; v < size; v++) {
    // walk the row incrementally: one multiply-add per pixel instead of four
    let sx = origin.x + 0.5 * ex.x + (v + 0.5) * ey.x - 0.5;
    let sy = origin.y + 0.5 * ex.y + (v + 0.5) * ey.y - 0.5;
    let o = v * size * step;
    for (let u = 0; u < size; u++, sx += ex.x, sy += ex.y, o += step) {
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= W || y0 >= H) continue; // all four taps outside: zeros
      const fx = sx - x0;
      const fy = sy - y0;
      const w00 = (1 - fx) * (1 - fy);
      const w01 = fx * (1 - fy);
      const w10 = (1 - fx) * fy;
      const w11 = fx * fy;
      let r = 0;
      let g = 0;
      let b = 0;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < W && y0 + 1 < H) {
        const p = (y0 * W + x0) * C;
        const q = p + W * C;
        r = d[p]! * w00 + d[p + C]! * w01 + d[q]! * w10 + d[q + C]! * w11;
        g = d[p + g1]! * w00 + d[p + C + g1]! * w01 + d[q + g1]! * w10 + d[q + C + g1]! * w11;
        b = d[p + g2]! * w00 + d[p + C + g2]! * w01 + d[q + g2]! * w10 + d[q + C + g2]! * w11;
      } else {
        // at the border: only the taps inside the image (MediaPipe pads with zeros)
        for (let k = 0; k < 4; k++) {
          const x = x0 + (k & 1);
          const y = y0 + (k >> 1);
          if (x < 0 || y < 0 || x >= W || y >= H) continue;
          const wgt = k === 0 ? w00 : k === 1 ? w01 : k === 2 ? w10 : w11;
          const p = (y * W + x) * C;
          r += d[p]! * wgt;
          g += d[p + g1]! * wgt;
          b += d[p + g2]! * wgt;
        }
      }
      out[o] = r * inv;
      out[o + o1] = g * inv;
      out[o + o2] = b * inv;
    }
  }
  return out;
}

// ------------------------------------------------------------------ palm detector

/**
 * SSD anchors of the palm detector (fixed size, so only centres): feature maps at strides
 * 8, 16, 16, 16 of the input, layers with the same stride sharing one map; two anchors per
 * layer and cell (aspect ratio 1 and its interpolated scale).
 */
export function palmAnchors(inputSize: number, strides: readonly number[] = [8, 16, 16, 16]): Float32Array {
  const centres: number[] = [];
  let layer = 0;
  while (layer < strides.length) {
    let last = layer;
    while (last < strides.length && strides[last] === strides[layer]) last++;
    const perCell = 2 * (last - layer);
    const fm = Math.ceil(inputSize / strides[layer]!);
    for (let y = 0; y < fm; y++)
      for (let x = 0; x < fm; x++) for (let a = 0; a < perCell; a++) centres.push((x + 0.5) / fm, (y + 0.5) / fm);
    layer = last;
  }
  return Float32Array.from(centres);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, x))));

interface RawBox {
  score: number;
  /** normalised to the detector input: xc, yc, w, h, then 7 keypoints x, y */
  v: Float64Array;
}

function iou(a: Float64Array, b: Float64Array): number {
  const ax0 = a[0]! - a[2]! / 2;
  const ax1 = a[0]! + a[2]! / 2;
  const ay0 = a[1]! - a[3]! / 2;
  const ay1 = a[1]! + a[3]! / 2;
  const bx0 = b[0]! - b[2]! / 2;
  const bx1 = b[0]! + b[2]! / 2;
  const by0 = b[1]! - b[3]! / 2;
  const by1 = b[1]! + b[3]! / 2;
  const iw = Math.max(0, Math.min(ax1, bx1) - Math.max(ax0, bx0));
  const ih = Math.max(0, Math.min(ay1, by1) - Math.max(ay0, by0));
  const inter = iw * ih;
  const union = a[2]! * a[3]! + b[2]! * b[3]! - inter;
  return union > 0 ? inter / union : 0;
}

const anchorCache = new Map<number, Float32Array>();
/** The detector's anchors for an input size, computed once. */
function anchorsFor(inputSize: number): Float32Array {
  let anchors = anchorCache.get(inputSize);
  if (!anchors) {
    anchors = palmAnchors(inputSize);
    anchorCache.set(inputSize, anchors);
  }
  return anchors;
}

/**
 * Decode the detector's outputs (regressors N x 18, logits N x 1) over the anchors and merge the
 * boxes that overlap each kept one (score-weighted), best first, normalised to the detector
 * input; empty when no box reaches the minimum score. `maxPalms` stops after that many palms:
 * merging every cluster costs a pass over the boxes per palm, and how many boxes a frame lights
 * up is the sender's choice.
 */
export function decodePalms(
  regressors: Float32Array,
  logits: Float32Array,
  anchors: Float32Array,
  inputSize: number,
  maxPalms = Number.POSITIVE_INFINITY,
): RawBox[] {
  const n = anchors.length / 2;
  const coords = regressors.length / n;
  const boxes: RawBox[] = [];
  for (let i = 0; i < n; i++) {
    const score = sigmoid(logits[i]!);
    if (score < LANDMARKS.minDetectionScore) continue;
    const ax = anchors[2 * i]!;
    const ay = anchors[2 * i + 1]!;
    const r = regressors.subarray(i * coords, (i + 1) * coords);
    const v = new Float64Array(coords);
    v[0] = r[0]! / inputSize + ax;
    v[1] = r[1]! / inputSize + ay;
    v[2] = r[2]! / inputSize;
    v[3] = r[3]! / inputSize;
    for (let k = 4; k + 1 < coords; k += 2) {
      v[k] = r[k]! / inputSize + ax;
      v[k + 1] = r[k + 1]! / inputSize + ay;
    }
    boxes.push({ score, v });
  }
  boxes.sort((a, b) => b.score - a.score);
  const merged: RawBox[] = [];
  const used = new Uint8Array(boxes.length);
  for (let i = 0; i < boxes.length && merged.length < maxPalms; i++) {
    if (used[i]) continue;
    const acc = new Float64Array(boxes[i]!.v.length);
    let wsum = 0;
    for (let j = i; j < boxes.length; j++) {
      if (used[j] || iou(boxes[i]!.v, boxes[j]!.v) <= LANDMARKS.nmsIou) continue;
      used[j] = 1;
      const s = boxes[j]!.score;
      for (let k = 0; k < acc.length; k++) acc[k]! += boxes[j]!.v[k]! * s;
      wsum += s;
    }
    for (let k = 0; k < acc.length; k++) acc[k]! /= wsum;
    merged.push({ score: boxes[i]!.score, v: acc });
  }
  return merged;
}

/** Clockwise rotation (radians) that turns the vector a→b to point up, in (-π, π]. */
export function uprightRotation(a: Point, b: Point): number {
  let r = Math.PI / 2 - Math.atan2(-(b.y - a.y), b.x - a.x);
  r -= 2 * Math.PI * Math.floor((r + Math.PI) / (2 * Math.PI));
  return r;
}

/** Source point of a rect-relative offset (dx, dy in sides, y down). */
export function rectPoint(rect: RotatedRect, dx: number, dy: number): Point {
  const c = Math.cos(rect.rotation);
  const s = Math.sin(rect.rotation);
  return {
    x: rect.centre.x + (c * dx - s * dy) * rect.side,
    y: rect.centre.y + (s * dx + c * dy) * rect.side,
  };
}

/**
 * The hand crop from a box (centre, width, height in source pixels) turned by `rotation`: moved
 * along its own axis by shift (box heights), made square on its long side, scaled.
 */
export function handRect(centre: Point, width: number, height: number, rotation: number, scale: number, shift: number) {
  const c = Math.cos(rotation);
  const s = Math.sin(rotation);
  const long = Math.max(width, height);
  return {
    centre: { x: centre.x - height * shift * s, y: centre.y + height * shift * c },
    side: long * scale,
    rotation,
  } satisfies RotatedRect;
}

/** The hand crop for a second pass, from the landmarks: turned by wrist→knuckles, around their box. */
export function rectFromLandmarks(pts: Point[]): RotatedRect {
  const knuckles = {
    x: ((pts[5]!.x + pts[13]!.x) / 2 + pts[9]!.x) / 2,
    y: ((pts[5]!.y + pts[13]!.y) / 2 + pts[9]!.y) / 2,
  };
  const rotation = uprightRotation(pts[0]!, knuckles);
  const c = Math.cos(rotation);
  const s = Math.sin(rotation);
  // the box of the palm and the first finger joints in the turned frame
  const idx = [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18];
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const i of idx) {
    const p = pts[i]!;
    const u = c * p.x + s * p.y;
    const v = -s * p.x + c * p.y;
    x0 = Math.min(x0, u);
    x1 = Math.max(x1, u);
    y0 = Math.min(y0, v);
    y1 = Math.max(y1, v);
  }
  const uc = (x0 + x1) / 2;
  const vc = (y0 + y1) / 2;
  const centre = { x: c * uc - s * vc, y: s * uc + c * vc };
  return handRect(centre, x1 - x0, y1 - y0, rotation, LANDMARKS.refineRectScale, LANDMARKS.refineRectShift);
}

// ------------------------------------------------------------------ the models

type Layout = 'NHWC' | 'NCHW';

interface HandModelEntry {
  name: string;
  file: string;
  sha256: string;
  input: { name: string; shape: (string | number)[]; layout?: string };
  outputs: { name: string; shape: (string | number)[] }[];
}

/** The hand models' manifest, apart from the feature model's (models/manifest.json). */
export const HANDS_MANIFEST = 'hands.json';
const DETECTOR = { name: 'palm-detection-full', outputs: ['regressors', 'classificators'] };
/**
 * The lite landmark model: half the full one's time (about 3 against 6 ms a pass on one core), and
 * on bench:wild the same failures to acquire, rank-1 and EER (0 %) with genuine scores as high
 * (README, palm accuracy in the wild); the full model stays in models/ for comparison.
 */
const LANDMARKER = {
  name: 'hand-landmark-lite',
  outputs: ['landmarks', 'hand_flag', 'handedness'],
};

function layoutOf(e: HandModelEntry): Layout {
  if (e.input.layout) return e.input.layout.startsWith('NCHW') ? 'NCHW' : 'NHWC';
  return Number(e.input.shape[3]) === 3 ? 'NHWC' : 'NCHW';
}

async function session(dir: string, e: HandModelEntry, outputs: string[]): Promise<TensorModel> {
  for (const o of outputs)
    if (!e.outputs.some((x) => x.name === o)) throw new Error(`model ${e.file}: the manifest lists no output ${o}`);
  const bytes = readFileSync(path.join(dir, e.file));
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== e.sha256) throw new Error(`model ${e.file}: sha256 ${sha} does not match the manifest`);
  const s = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const layout = layoutOf(e);
  const size = Number(layout === 'NHWC' ? e.input.shape[1] : e.input.shape[2]);
  const dims = layout === 'NHWC' ? [1, size, size, 3] : [1, 3, size, size];
  return {
    size,
    layout,
    async run(rgb) {
      const out = await s.run({ [e.input.name]: new ort.Tensor('float32', rgb, dims) });
      return outputs.map((n) => out[n]!.data as Float32Array);
    },
  };
}

/** The manifest entries of the hand models, or null when they are not installed. */
export function handModelEntries(dir = MODELS_DIR): { detector: HandModelEntry; landmarker: HandModelEntry } | null {
  const file = path.join(dir, HANDS_MANIFEST);
  if (!existsSync(file)) return null;
  const models = (JSON.parse(readFileSync(file, 'utf8')) as { models: HandModelEntry[] }).models;
  const detector = models.find((m) => m.name === DETECTOR.name);
  const landmarker = models.find((m) => m.name === LANDMARKER.name);
  if (!detector || !landmarker) return null;
  if (!existsSync(path.join(dir, detector.file)) || !existsSync(path.join(dir, landmarker.file))) return null;
  return { detector, landmarker };
}

const cached = new Map<string, Promise<HandModels | null>>();

/** The hand models (sessions created once per process and folder), or null when not installed. */
export function getHandModels(dir = MODELS_DIR): Promise<HandModels | null> {
  let p = cached.get(dir);
  if (!p) {
    p = (async () => {
      const entries = handModelEntries(dir);
      if (!entries) return null;
      return {
        detector: await session(dir, entries.detector, DETECTOR.outputs),
        landmarker: await session(dir, entries.landmarker, LANDMARKER.outputs),
      };
    })();
    cached.set(dir, p);
  }
  return p;
}

// ------------------------------------------------------------------ the pipeline

/** Letterbox the whole image into the detector's square input; returns the tensor and the mapping back. */
function letterbox(img: RasterImage, size: number, layout: Layout) {
  const scale = Math.max(img.width, img.height) / size; // source px per input px
  const ox = (img.width - size * scale) / 2;
  const oy = (img.height - size * scale) / 2;
  const rgb = sampleRgb(img, size, { x: ox, y: oy }, { x: scale, y: 0 }, { x: 0, y: scale }, layout);
  const toSource = (nx: number, ny: number): Point => ({ x: ox + nx * size * scale, y: oy + ny * size * scale });
  return { rgb, toSource, scale: size * scale };
}

async function landmarksIn(
  img: RasterImage,
  model: TensorModel,
  rect: RotatedRect,
): Promise<{ points: Point[]; depth: number[]; presence: number; handedness: number }> {
  const S = model.size;
  const c = Math.cos(rect.rotation);
  const s = Math.sin(rect.rotation);
  const step = rect.side / S;
  const origin = rectPoint(rect, -0.5, -0.5);
  const rgb = sampleRgb(img, S, origin, { x: c * step, y: s * step }, { x: -s * step, y: c * step }, model.layout);
  const [lm, presence, handedness] = await model.run(rgb);
  const points: Point[] = [];
  for (let i = 0; i < 21; i++) points.push(rectPoint(rect, lm![i * 3]! / S - 0.5, lm![i * 3 + 1]! / S - 0.5));
  const depth = Array.from({ length: 21 }, (_, i) => (lm![i * 3 + 2]! / S) * rect.side);
  return { points, depth, presence: presence![0]!, handedness: handedness![0]! };
}

/**
 * Find the most confident palm and its 21 landmarks in source pixels; null when the detector
 * finds no palm. Presence is returned as is: the caller decides.
 */
export async function detectHand(img: RasterImage, models: HandModels): Promise<LandmarkPass | null> {
  const D = models.detector.size;
  const lb = letterbox(img, D, models.detector.layout);
  const [reg, logits] = await models.detector.run(lb.rgb);
  const palms = decodePalms(reg!, logits!, anchorsFor(D), D, 1);
  const best = palms[0];
  if (!best) return null;
  const v = best.v;
  const kps: Point[] = [];
  for (let k = 4; k + 1 < v.length; k += 2) kps.push(lb.toSource(v[k]!, v[k + 1]!));
  const detection: PalmDetection = {
    score: best.score,
    centre: lb.toSource(v[0]!, v[1]!),
    width: v[2]! * lb.scale,
    height: v[3]! * lb.scale,
    keypoints: kps,
  };
  const rotation = uprightRotation(kps[0]!, kps[2]!);
  let rect = handRect(
    detection.centre,
    detection.width,
    detection.height,
    rotation,
    LANDMARKS.handRectScale,
    LANDMARKS.handRectShift,
  );
  let pass = await landmarksIn(img, models.landmarker, rect);
  if (pass.presence >= LANDMARKS.minPresence) {
    const rect2 = rectFromLandmarks(pass.points);
    const pass2 = await landmarksIn(img, models.landmarker, rect2);
    if (pass2.presence >= LANDMARKS.minPresence) {
      pass = pass2;
      rect = rect2;
    }
  }
  return { ...pass, rect, detection };
}
