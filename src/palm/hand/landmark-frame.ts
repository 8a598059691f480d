/**
 * Stage 3 of the landmark path: the ROI frame from the hand landmarks. The knuckles (MCP) of the
 * index to the little finger (landmarks 5, 9, 13, 17) and the wrist (0) give the palm's axis,
 * centre and scale; the frame imitates the valley frame (two points where the index/middle and
 * ring/little finger valleys lie) so that both paths cut the same palm area. Also: which side of
 * the hand faces the camera, and whether the valley frame agrees with the landmark frame.
 */
import { type Square, squareFromValleys } from './frame.js';
import { LANDMARKS } from './tunables.js';
import type { HandKeypoints, Point } from './types.js';

const mid = (a: Point, b: Point): Point => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });

/**
 * The two frame points from the knuckles: the midpoints of index/middle and ring/little MCPs,
 * moved towards the fingers (perpendicular to the knuckle line, away from the wrist) by a share
 * of the knuckle span, where the finger valleys lie.
 */
export function valleysFromKnuckles(pts: Point[]): { frame: [Point, Point]; span: number } {
  const i5 = pts[5]!;
  const i17 = pts[17]!;
  const span = Math.hypot(i5.x - i17.x, i5.y - i17.y);
  let nx = -(i5.y - i17.y) / (span || 1);
  let ny = (i5.x - i17.x) / (span || 1);
  const knuckles = mid(mid(i5, i17), mid(pts[9]!, pts[13]!));
  // point the normal away from the wrist
  if ((knuckles.x - pts[0]!.x) * nx + (knuckles.y - pts[0]!.y) * ny < 0) {
    nx = -nx;
    ny = -ny;
  }
  const k = LANDMARKS.valleyFromKnuckles * span;
  const a = mid(i5, pts[9]!);
  const b = mid(pts[13]!, i17);
  return {
    frame: [
      { x: a.x + nx * k, y: a.y + ny * k },
      { x: b.x + nx * k, y: b.y + ny * k },
    ],
    span,
  };
}

/** The ROI square of the landmark frame (towards the wrist from the valley line). */
export function squareFromLandmarks(pts: Point[]): { square: Square; frame: [Point, Point]; span: number } {
  const { frame, span } = valleysFromKnuckles(pts);
  return { square: squareFromValleys(frame[0], frame[1], pts[0]!), frame, span };
}

/**
 * Which side of the hand faces the camera. Turning wrist→middle knuckle onto little→index
 * knuckle is clockwise on screen for a right palm and a left back, anticlockwise for a left palm
 * and a right back; the handedness score says which hand it is. 'unknown' when the hand is
 * edge-on (the turn is too small) or the handedness is unsure.
 */
export function handSide(pts: Point[], handedness: number): HandKeypoints['side'] {
  const ax = pts[9]!.x - pts[0]!.x;
  const ay = pts[9]!.y - pts[0]!.y;
  const tx = pts[5]!.x - pts[17]!.x;
  const ty = pts[5]!.y - pts[17]!.y;
  const norm = Math.hypot(ax, ay) * Math.hypot(tx, ty);
  if (norm === 0) return 'unknown';
  const cross = (ax * ty - ay * tx) / norm;
  if (Math.abs(cross) < LANDMARKS.minSideCross) return 'unknown';
  if (Math.abs(handedness - 0.5) < LANDMARKS.minHandednessMargin) return 'unknown';
  const right = handedness > 0.5;
  return cross > 0 === right ? 'palm' : 'back';
}

/** Do two ROI squares cut about the same palm area (centre, size and turn within the tunables)? */
export function framesAgree(a: Square, b: Square): boolean {
  const side = (a.side + b.side) / 2;
  const centre = Math.hypot(a.ctr.x - b.ctr.x, a.ctr.y - b.ctr.y) / side;
  const size = Math.abs(a.side - b.side) / side;
  const cos = a.ex.x * b.ex.x + a.ex.y * b.ex.y;
  const angle = (Math.acos(Math.max(-1, Math.min(1, cos))) * 180) / Math.PI;
  return centre <= LANDMARKS.agreeCentre && size <= LANDMARKS.agreeSide && angle <= LANDMARKS.agreeAngleDeg;
}

/** The finger joints beyond the knuckles (PIP, DIP, tip of index to little finger). */
const FINGER_JOINTS = [6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20];

/**
 * Whether a finger lies over the ROI square: a joint beyond the knuckles inside it, by more than
 * `margin` of its side (a curled or bent finger). On a crop located from the landmarks, where the
 * fingers are is known, which says more than the crop's texture can (cropChecks.ts).
 */
export function fingersOverSquare(
  joints: Point[],
  square: [Point, Point, Point, Point],
  margin = LANDMARKS.fingerMargin,
): boolean {
  const [tl, tr, , bl] = square;
  const ux = tr.x - tl.x;
  const uy = tr.y - tl.y;
  const vx = bl.x - tl.x;
  const vy = bl.y - tl.y;
  const uu = ux * ux + uy * uy;
  const vv = vx * vx + vy * vy;
  return FINGER_JOINTS.some((i) => {
    const p = joints[i];
    if (!p) return false;
    const u = ((p.x - tl.x) * ux + (p.y - tl.y) * uy) / uu;
    const v = ((p.x - tl.x) * vx + (p.y - tl.y) * vy) / vv;
    return u > margin && u < 1 - margin && v > margin && v < 1 - margin;
  });
}
