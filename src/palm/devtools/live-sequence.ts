/**
 * SYNTHETIC bona fide sequences for evaluating presentation attack detection with a challenge:
 * one real whole-hand photo (the COEP dev set), its 21 hand landmarks, and frames in which the
 * fingers close together as a person asked "bring your fingers together" does. Seeded and
 * reproducible; nothing is written anywhere.
 *
 * How: every finger (index, ring, little; the middle one stays) is turned about its knuckle (MCP)
 * towards the middle finger, by a share of its angle to it. The image is warped backwards, from
 * each output pixel to where it comes from: between two fingers the turn and the centre are
 * interpolated by the pixel's position between the two turned finger axes, beyond the outer
 * fingers the turn fades out, and the palm (before the knuckle line) is untouched, with a smooth
 * ramp across that line. The map is continuous, so nothing is duplicated (no ghost finger where a
 * finger was) and background between the fingers is squeezed, as it is when fingers close.
 *
 * This is a PROXY, not a live presentation: a 2D warp of one photo. No true 3D (the knuckles'
 * depth and the fingers' shading do not change), no motion blur, no skin cues, the thumb does not
 * move. It tests that a hand closing its fingers passes and that the challenge logic holds; it
 * says nothing about a real camera and a real hand. A 'tilt' (the hand turned) is NOT made:
 * a perspective warp of a photo is exactly what a tilted photo does (an attack), so it would be
 * dishonest to call it live.
 */
import { detectHand, type HandModels, getHandModels } from '../hand/detector.js';
import type { Point } from '../hand/types.js';
import type { RasterImage } from '../image.js';
import { cameraJpeg, randomSimilarity, warpTo } from './pad-attacks.js';
import { prngFor } from './random.js';
import { sampleBilinear } from './raster.js';

/** The challenges this generator can follow (only 'close': see the module comment for 'tilt'). */
export const SYNTHETIC_CHALLENGES = ['close'] as const;
export type SyntheticChallenge = (typeof SYNTHETIC_CHALLENGES)[number];

export interface LiveSequenceOptions {
  /** the challenge followed (default 'close') */
  challenge?: SyntheticChallenge;
  /** frames in all, the ready (open) frame first: 2 to 5 (default 3) */
  frames?: number;
  /** how much of each finger's angle to the middle finger is closed by the last frame, 0..0.9 (default 0.85: fingers nearly parallel, touching, as a closed hand holds them) */
  closeShare?: number;
  /**
   * how much wider than photographed the ready frame holds the fingers (share of each finger's
   * angle to the middle one, 0..1; default 0: the photo as it is). The COEP hands are photographed
   * with the fingers only slightly apart; a person asked for an open hand may spread them more.
   */
  openShare?: number;
  /** the hand models (default: the installed ones) */
  models?: HandModels | null;
}

/** Index, middle, ring, little: knuckle (MCP) and tip landmark indices. */
const FINGERS = [
  { mcp: 5, tip: 8 },
  { mcp: 9, tip: 12 },
  { mcp: 13, tip: 16 },
  { mcp: 17, tip: 20 },
] as const;
/** The largest turn given to one finger (degrees): closing never needs more. */
const MAX_TURN_DEG = 25;

const smoothstep = (x: number) => (x <= 0 ? 0 : x >= 1 ? 1 : x * x * (3 - 2 * x));

/**
 * The fingers of the hand in `img` (landmarks `points`, source pixels) closed towards the middle
 * finger by `share` of their angle to it (0: unchanged). Pure: a new image, the input untouched.
 */
export function closeFingers(img: RasterImage, points: Point[], share: number): RasterImage {
  const s = Math.max(-1, Math.min(0.9, share));
  const angle = (f: (typeof FINGERS)[number]) =>
    Math.atan2(points[f.tip]!.y - points[f.mcp]!.y, points[f.tip]!.x - points[f.mcp]!.x);
  const wrap = (a: number) => Math.atan2(Math.sin(a), Math.cos(a));
  const middle = angle(FINGERS[1]);
  const maxTurn = (MAX_TURN_DEG * Math.PI) / 180;
  const fingers = FINGERS.map((f) => {
    const turn = Math.max(-maxTurn, Math.min(maxTurn, -s * wrap(angle(f) - middle)));
    const a = angle(f) + turn; // the turned finger's direction (output space)
    return { m: points[f.mcp]!, turn, dir: { x: Math.cos(a), y: Math.sin(a) } };
  });
  // Sides: normals point from the index towards the little finger; "beyond the knuckles" points to the tips.
  const across = { x: points[17]!.x - points[5]!.x, y: points[17]!.y - points[5]!.y };
  const normals = fingers.map(({ dir }) => {
    const n = { x: -dir.y, y: dir.x };
    return n.x * across.x + n.y * across.y >= 0 ? n : { x: -n.x, y: -n.y };
  });
  const knuckleWidth = Math.hypot(across.x, across.y) || 1;
  const up0 = { x: -across.y, y: across.x };
  const tipSide = up0.x * (points[12]!.x - points[9]!.x) + up0.y * (points[12]!.y - points[9]!.y) >= 0 ? 1 : -1;
  const up = { x: (tipSide * up0.x) / knuckleWidth, y: (tipSide * up0.y) / knuckleWidth };
  const ramp = 0.15 * knuckleWidth; // palm untouched before the knuckle line, full turn this far beyond it
  const fade = 0.8 * knuckleWidth; // beyond the outer fingers the turn fades out over this distance
  const line = points[5]!;

  const { width: W, height: H, channels: C } = img;
  const out = new Uint8Array(W * H * C);
  const d = new Array<number>(4);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      const o = (y * W + x) * C;
      const beyond = (px - line.x) * up.x + (py - line.y) * up.y;
      const w = smoothstep(beyond / ramp);
      if (w === 0) {
        sampleBilinear(img, px, py, out, o);
        continue;
      }
      for (let i = 0; i < 4; i++)
        d[i] = (px - fingers[i]!.m.x) * normals[i]!.x + (py - fingers[i]!.m.y) * normals[i]!.y;
      let turn: number;
      let cx: number;
      let cy: number;
      if (d[0]! < 0) {
        const f = fingers[0]!;
        turn = f.turn * Math.max(0, 1 - -d[0]! / fade);
        cx = f.m.x;
        cy = f.m.y;
      } else if (d[3]! >= 0) {
        const f = fingers[3]!;
        turn = f.turn * Math.max(0, 1 - d[3]! / fade);
        cx = f.m.x;
        cy = f.m.y;
      } else {
        let i = 0;
        while (i < 2 && !(d[i]! >= 0 && d[i + 1]! < 0)) i++;
        const t = d[i]! / (d[i]! - d[i + 1]! || 1);
        const a = fingers[i]!;
        const b = fingers[i + 1]!;
        turn = a.turn + (b.turn - a.turn) * t;
        cx = a.m.x + (b.m.x - a.m.x) * t;
        cy = a.m.y + (b.m.y - a.m.y) * t;
      }
      // backwards: the output pixel comes from the source turned back by -turn about the centre
      const r = -turn * w;
      const cos = Math.cos(r);
      const sin = Math.sin(r);
      const dx = px - cx;
      const dy = py - cy;
      sampleBilinear(img, cx + cos * dx - sin * dy, cy + sin * dx + cos * dy, out, o);
    }
  return { width: W, height: H, channels: C, data: out };
}

/** The thumb's largest turn (degrees) and the angle beyond it over which its turn fades out. */
const MAX_THUMB_TURN_DEG = 25;
const THUMB_FADE_DEG = 45;

/**
 * The thumb of the hand in `img` turned about its base (CMC, landmark 1) towards the index finger
 * by `share` of half its angle to it (a closed hand holds the thumb along the index, not on it).
 * Backwards, by angle about the base: the sector between the line to the index knuckle (fixed:
 * the palm) and the turned thumb is squeezed, the turn fades out beyond the thumb. Pure.
 */
export function closeThumb(img: RasterImage, points: Point[], share: number): RasterImage {
  const s = Math.max(-1, Math.min(0.9, share));
  const wrap = (a: number) => Math.atan2(Math.sin(a), Math.cos(a));
  const dirOf = (a: Point, b: Point) => Math.atan2(b.y - a.y, b.x - a.x);
  const base = points[1]!;
  const thumb = dirOf(base, points[4]!);
  const index = dirOf(points[5]!, points[8]!);
  const maxTurn = (MAX_THUMB_TURN_DEG * Math.PI) / 180;
  const turn = Math.max(-maxTurn, Math.min(maxTurn, 0.5 * s * wrap(index - thumb)));
  const palmSide = dirOf(base, points[5]!);
  const side = Math.sign(wrap(thumb - palmSide)) || 1;
  const sector = side * wrap(thumb + turn - palmSide); // the turned thumb's angle from the palm line
  const fade = (THUMB_FADE_DEG * Math.PI) / 180;
  const { width: W, height: H, channels: C } = img;
  const out = new Uint8Array(W * H * C);
  if (!(sector > 0.05) || turn === 0) {
    out.set(img.data);
    return { width: W, height: H, channels: C, data: out };
  }
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      const o = (y * W + x) * C;
      const rho = side * wrap(Math.atan2(py - base.y, px - base.x) - palmSide);
      const t = rho < 0 ? 0 : rho <= sector ? rho / sector : Math.max(0, 1 - (rho - sector) / fade);
      if (t === 0) {
        sampleBilinear(img, px, py, out, o);
        continue;
      }
      const r = -turn * t;
      const cos = Math.cos(r);
      const sin = Math.sin(r);
      const dx = px - base.x;
      const dy = py - base.y;
      sampleBilinear(img, base.x + cos * dx - sin * dy, base.y + sin * dx + cos * dy, out, o);
    }
  return { width: W, height: H, channels: C, data: out };
}

/** The whole hand closed by `share`: the thumb in along the index, the fingers together (closeThumb, closeFingers). */
export function closeHand(img: RasterImage, points: Point[], share: number): RasterImage {
  return closeFingers(closeThumb(img, points, share), points, share);
}

/**
 * A SYNTHETIC bona fide sequence following a challenge (see the module comment: a proxy, not a
 * live presentation): frame 0 the photo as it is (the ready, open hand), then frames with the
 * fingers closing further each time, each moved a little as a hand moves in front of a camera,
 * every frame through a camera's JPEG. Seeded by `key`. Null when no hand is found on the photo.
 */
export async function liveSequence(
  photo: RasterImage,
  key: string,
  opts: LiveSequenceOptions = {},
): Promise<RasterImage[] | null> {
  const challenge = opts.challenge ?? 'close';
  if (challenge !== 'close') throw new Error(`liveSequence: no synthetic '${challenge}' (only close)`);
  const frames = opts.frames ?? 3;
  if (!(Number.isInteger(frames) && frames >= 2 && frames <= 5)) throw new Error('liveSequence: frames 2 to 5');
  const models = opts.models === undefined ? await getHandModels() : opts.models;
  if (!models) return null;
  const pass = await detectHand(photo, models);
  if (!pass) return null;
  const rng = prngFor(`live-sequence:${challenge}:${key}`);
  const share = opts.closeShare ?? 0.85;
  const open = -Math.max(0, Math.min(1, opts.openShare ?? 0));
  const out: RasterImage[] = [];
  for (let i = 0; i < frames; i++) {
    const at = open + ((share - open) * i) / (frames - 1);
    const posed = at === 0 ? photo : closeHand(photo, pass.points, at);
    out.push(await cameraJpeg(warpTo(posed, randomSimilarity(rng, photo.width, photo.height, 0.15)), rng));
  }
  return out;
}
