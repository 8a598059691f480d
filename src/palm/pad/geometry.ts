/**
 * Liveness from the geometry of landmark tracks: the 21 hand landmarks of each frame of one
 * sign-in (x, y in source pixels, the model's relative depth on the x scale).
 *
 * - Planar residual: a photo or a screen moved in front of a camera, tilted in 3D or not, is a
 *   flat object, so its landmarks move from one frame to another by one homography. What is left
 *   after the best homography fit (RMS, as a share of the hand's size) is landmark noise for a
 *   flat artefact, and more for a real hand that flexes, spreads or turns its curved 3D shape.
 * - Articulation: the hand's joint angles (finger flexion, spread between fingers) in 3D; moving
 *   a photo does not change them, moving fingers does.
 * - Challenge compliance: the requested change (fingers spread, closed, hand tilted) happened, in
 *   the requested direction, between the first frame and the one where it is largest.
 *
 * Pure functions: no models, no images (the tests drive them with synthetic tracks).
 */
import type { Point } from '../hand/types.js';
import { type Challenge, PAD } from './tunables.js';

/** One frame's landmarks: 21 points (source pixels) and their depths (same scale). */
export interface LandmarkFrame {
  points: Point[];
  depth: number[];
  /** the landmark model's handedness score (1: right, 0: left), when known */
  handedness?: number;
}

type Vec3 = [number, number, number];

const FINGERS: number[][] = [
  [0, 1, 2, 3, 4],
  [0, 5, 6, 7, 8],
  [0, 9, 10, 11, 12],
  [0, 13, 14, 15, 16],
  [0, 17, 18, 19, 20],
];
/** Adjacent fingers' first bones, for the spread angles (thumb CMC→MCP against index MCP→PIP, ...). */
const SPREAD_PAIRS: [number, number, number, number][] = [
  [1, 2, 5, 6],
  [5, 6, 9, 10],
  [9, 10, 13, 14],
  [13, 14, 17, 18],
];

// ------------------------------------------------------------------ homography

/** Solve A x = b (n x n, row-major) by Gaussian elimination with partial pivoting; null when singular. */
function solve(A: number[][], b: number[]): number[] | null {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    if (Math.abs(M[p]![c]!) < 1e-12) return null;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

/** Hartley normalisation: centroid at 0, mean distance √2; returns the points and the scale used. */
function normalise(pts: Point[]): { pts: Point[]; cx: number; cy: number; s: number } {
  const cx = pts.reduce((a, p) => a + p.x, 0) / pts.length;
  const cy = pts.reduce((a, p) => a + p.y, 0) / pts.length;
  const mean = pts.reduce((a, p) => a + Math.hypot(p.x - cx, p.y - cy), 0) / pts.length || 1;
  const s = Math.SQRT2 / mean;
  return { pts: pts.map((p) => ({ x: (p.x - cx) * s, y: (p.y - cy) * s })), cx, cy, s };
}

/**
 * The least-squares homography taking `from` onto `to` (normalised DLT with h33 = 1), as a
 * function of source points; null when the points are degenerate.
 */
export function fitHomography(from: Point[], to: Point[]): ((p: Point) => Point) | null {
  const a = normalise(from);
  const b = normalise(to);
  const AtA = Array.from({ length: 8 }, () => new Array<number>(8).fill(0));
  const Atb = new Array<number>(8).fill(0);
  const add = (row: number[], rhs: number) => {
    for (let i = 0; i < 8; i++) {
      Atb[i]! += row[i]! * rhs;
      for (let j = 0; j < 8; j++) AtA[i]![j]! += row[i]! * row[j]!;
    }
  };
  for (let i = 0; i < a.pts.length; i++) {
    const { x, y } = a.pts[i]!;
    const { x: u, y: v } = b.pts[i]!;
    add([x, y, 1, 0, 0, 0, -u * x, -u * y], u);
    add([0, 0, 0, x, y, 1, -v * x, -v * y], v);
  }
  const h = solve(AtA, Atb);
  if (!h) return null;
  return (p) => {
    const x = (p.x - a.cx) * a.s;
    const y = (p.y - a.cy) * a.s;
    const w = h[6]! * x + h[7]! * y + 1;
    const u = (h[0]! * x + h[1]! * y + h[2]!) / w;
    const v = (h[3]! * x + h[4]! * y + h[5]!) / w;
    return { x: u / b.s + b.cx, y: v / b.s + b.cy };
  };
}

/** The hand's size in a frame: RMS distance of its landmarks from their centroid (pixels). */
export function handSize(pts: Point[]): number {
  const cx = pts.reduce((a, p) => a + p.x, 0) / pts.length;
  const cy = pts.reduce((a, p) => a + p.y, 0) / pts.length;
  return Math.sqrt(pts.reduce((a, p) => a + (p.x - cx) ** 2 + (p.y - cy) ** 2, 0) / pts.length);
}

/**
 * What no homography explains between two frames: RMS transfer error of the best fit, as a share
 * of the hand's size in the target frame. Infinity when the fit is degenerate (not a flat move).
 */
export function planarResidual(a: Point[], b: Point[]): number {
  const H = fitHomography(a, b);
  if (!H) return Number.POSITIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const p = H(a[i]!);
    sum += (p.x - b[i]!.x) ** 2 + (p.y - b[i]!.y) ** 2;
  }
  return Math.sqrt(sum / a.length) / (handSize(b) || 1);
}

// ------------------------------------------------------------------ angles

const v3 = (f: LandmarkFrame, i: number): Vec3 => [f.points[i]!.x, f.points[i]!.y, f.depth[i]!];
const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const cross = (a: Vec3, b: Vec3): Vec3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
function angleDeg(a: Vec3, b: Vec3): number {
  const n = Math.hypot(...a) * Math.hypot(...b);
  if (n === 0) return 0;
  const c = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) / n;
  return (Math.acos(Math.max(-1, Math.min(1, c))) * 180) / Math.PI;
}

/** The 4 spread angles between adjacent fingers' first bones (degrees, 3D). */
export function spreadAngles(f: LandmarkFrame): number[] {
  return SPREAD_PAIRS.map(([a0, a1, b0, b1]) => angleDeg(sub(v3(f, a1), v3(f, a0)), sub(v3(f, b1), v3(f, b0))));
}

/** The hand's 19 joint angles (degrees, 3D): 15 flexions (3 per finger) and 4 spreads. */
export function jointAngles(f: LandmarkFrame): number[] {
  const out: number[] = [];
  for (const chain of FINGERS)
    for (let j = 1; j + 1 < chain.length; j++)
      out.push(angleDeg(sub(v3(f, chain[j]!), v3(f, chain[j - 1]!)), sub(v3(f, chain[j + 1]!), v3(f, chain[j]!))));
  return out.concat(spreadAngles(f));
}

/** How much the hand's shape changed between two frames: the robust maximum of the joint angle changes. */
export function articulation(a: LandmarkFrame, b: LandmarkFrame): number {
  const ja = jointAngles(a);
  const jb = jointAngles(b);
  const d = ja.map((x, i) => Math.abs(x - jb[i]!)).sort((x, y) => y - x);
  return d[Math.min(PAD.articulationRank, d.length) - 1] ?? 0;
}

/** The palm plane's normal (wrist, index and little knuckles, with depth), unit length. */
export function palmNormal(f: LandmarkFrame): Vec3 {
  const n = cross(sub(v3(f, 5), v3(f, 0)), sub(v3(f, 17), v3(f, 0)));
  const len = Math.hypot(...n) || 1;
  return [n[0] / len, n[1] / len, n[2] / len];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// ------------------------------------------------------------------ the track

export interface ChallengeResult {
  challenge: Challenge;
  /** the measured change in the requested direction (degrees; negative: the opposite way) */
  change: number;
  complied: boolean;
}

export interface TrackMeasures {
  frames: number;
  /** largest planar residual over the frame pairs (share of hand size) */
  planarResidual: number;
  /** largest articulation over the frame pairs (degrees) */
  articulation: number;
  challenge?: ChallengeResult;
  /** false when consecutive frames do not show the same hand (continuityBreak); absent: not checked */
  continuous?: boolean;
}

/**
 * The measures of a track (frames in capture order). Motion is compared over every pair of frames
 * (at most a few dozen pairs: frames are bounded by PAD.maxFrames), so where in the sequence the
 * hand moved does not matter.
 */
export function measureTrack(track: LandmarkFrame[], challenge?: Challenge): TrackMeasures {
  const frames = track.slice(0, PAD.maxFrames);
  let residual = 0;
  let artic = 0;
  for (let i = 0; i < frames.length; i++)
    for (let j = i + 1; j < frames.length; j++) {
      residual = Math.max(residual, planarResidual(frames[i]!.points, frames[j]!.points));
      artic = Math.max(artic, articulation(frames[i]!, frames[j]!));
    }
  const out: TrackMeasures = { frames: frames.length, planarResidual: residual, articulation: artic };
  if (challenge && frames.length >= 2) out.challenge = challengeResult(frames, challenge);
  return out;
}

/**
 * Did the hand follow the challenge? The change from the first frame (before the request took
 * effect) to the frame where it is largest in the requested direction: spread → the mean spread
 * angle grows, close → it shrinks, tilt → the palm plane turns.
 */
export function challengeResult(frames: LandmarkFrame[], challenge: Challenge): ChallengeResult {
  const first = frames[0]!;
  let change = Number.NEGATIVE_INFINITY;
  if (challenge === 'tilt') {
    const n0 = palmNormal(first);
    for (const f of frames.slice(1)) change = Math.max(change, angleDeg(n0, palmNormal(f)));
    return { challenge, change, complied: change >= PAD.minTiltChange };
  }
  const s0 = mean(spreadAngles(first));
  const sign = challenge === 'spread' ? 1 : -1;
  for (const f of frames.slice(1)) change = Math.max(change, sign * (mean(spreadAngles(f)) - s0));
  return { challenge, change, complied: change >= PAD.minSpreadChange };
}

// ------------------------------------------------------------------ continuity

/** The palm's centre: mean of the wrist and the four finger knuckles (they move least when fingers flex). */
function palmCentre(f: LandmarkFrame): Point {
  const ids = [0, 5, 9, 13, 17];
  return {
    x: ids.reduce((a, i) => a + f.points[i]!.x, 0) / ids.length,
    y: ids.reduce((a, i) => a + f.points[i]!.y, 0) / ids.length,
  };
}

/** Which hand the model says it is, when it is sure enough (PAD.sureHandedness); null when unsure. */
function side(f: LandmarkFrame): 'right' | 'left' | null {
  if (f.handedness === undefined) return null;
  if (f.handedness >= PAD.sureHandedness) return 'right';
  if (f.handedness <= 1 - PAD.sureHandedness) return 'left';
  return null;
}

/**
 * Where a track (every frame in capture order; null: no hand in that frame) stops showing one
 * hand: 'gap' when a frame without a hand lies between frames with one (a hand swapped behind it
 * would go unseen), 'jump' when consecutive frames with a hand differ more than one hand moves in
 * a frame interval (palm centre, scale) or the model is sure they are different sides. null when
 * the track is continuous. Frames without a hand at the end (the hand left) break nothing.
 */
export function continuityBreak(frames: (LandmarkFrame | null)[]): 'gap' | 'jump' | null {
  const first = frames.findIndex((f) => f !== null);
  if (first < 0) return null;
  let last = frames.length - 1;
  while (frames[last] === null) last--;
  for (let i = first + 1; i <= last; i++) {
    const a = frames[i - 1];
    const b = frames[i];
    if (!a || !b) return 'gap';
    const sa = handSize(a.points);
    const sb = handSize(b.points);
    const size = Math.max(sa, sb) || 1;
    const ca = palmCentre(a);
    const cb = palmCentre(b);
    if (Math.hypot(ca.x - cb.x, ca.y - cb.y) / size > PAD.maxCentreJump) return 'jump';
    if (Math.max(sa, sb) / (Math.min(sa, sb) || 1) > PAD.maxScaleJump) return 'jump';
    const [ha, hb] = [side(a), side(b)];
    if (ha && hb && ha !== hb) return 'jump';
  }
  return null;
}
