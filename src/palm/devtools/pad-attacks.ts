/**
 * Presentation attack and bona fide sequences for evaluating PAD, made in memory from whole-hand
 * photos (the COEP dev set: several photos of the same hand with different finger spreads).
 * Seeded and reproducible; nothing is written anywhere.
 *
 * - bona fide proxy: different photos of the same hand in one sequence, each moved a little as a
 *   hand moves in front of a camera. The photos differ by real, non-rigid pose changes between
 *   captures, but they are NOT video of a live hand: no motion blur between frames, no continuous
 *   motion, larger pose changes than a hand makes in a second, no skin or 3D cues of a live hand.
 * - rigid: one still moved in the image plane (similarity transforms: turned, scaled, shifted);
 * - perspective: one still as a flat print tilted in 3D (homographies);
 * - screen still: one still shown on a screen (pixel grid, moiré, gamma, glare) and moved;
 * - screen video: the bona fide proxy sequence replayed on a screen (the hardest: real pose
 *   changes; only the replay cues can catch it);
 * - print: one still printed (halftone dots, reduced dynamic range) and tilted.
 * Every frame then goes through a camera's JPEG, as a reader's frames do.
 */
import sharp from 'sharp';
import { fitHomography } from '../pad/geometry.js';
import type { Point } from '../hand/types.js';
import type { RasterImage } from '../image.js';
import { prngFor } from './random.js';
import { sampleBilinear } from './raster.js';

export const ATTACKS = ['rigid', 'perspective', 'screen-still', 'screen-video', 'print'] as const;
export type AttackType = (typeof ATTACKS)[number];

const between = (rng: () => number, lo: number, hi: number) => lo + (hi - lo) * rng();

/** Warp an image by the map taking its corners to `to` (output the same size, outside reads `fill`). */
export function warpTo(img: RasterImage, to: [Point, Point, Point, Point], fill = 8): RasterImage {
  const { width: W, height: H, channels: C } = img;
  const from: Point[] = [
    { x: 0, y: 0 },
    { x: W, y: 0 },
    { x: W, y: H },
    { x: 0, y: H },
  ];
  const back = fitHomography(to, from);
  if (!back) throw new Error('degenerate warp');
  const out = new Uint8Array(W * H * C);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const s = back({ x: x + 0.5, y: y + 0.5 });
      const sx = s.x - 0.5;
      const sy = s.y - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const o = (y * W + x) * C;
      if (x0 < 0 || y0 < 0 || x0 + 1 >= W || y0 + 1 >= H) {
        out.fill(fill, o, o + C);
        continue;
      }
      sampleBilinear(img, s.x, s.y, out, o);
    }
  return { width: W, height: H, channels: C, data: out };
}

/** Corners after a similarity about the centre: turned (degrees), scaled, shifted (share of width). */
function similarityCorners(W: number, H: number, deg: number, scale: number, dx: number, dy: number) {
  const c = Math.cos((deg * Math.PI) / 180) * scale;
  const s = Math.sin((deg * Math.PI) / 180) * scale;
  const corner = (x: number, y: number): Point => ({
    x: W / 2 + c * (x - W / 2) - s * (y - H / 2) + dx * W,
    y: H / 2 + s * (x - W / 2) + c * (y - H / 2) + dy * W,
  });
  return [corner(0, 0), corner(W, 0), corner(W, H), corner(0, H)] as [Point, Point, Point, Point];
}

/** A random similarity: the hand or the artefact moved in the image plane. */
export function randomSimilarity(rng: () => number, W: number, H: number, strength = 1) {
  return similarityCorners(
    W,
    H,
    between(rng, -15, 15) * strength,
    1 + between(rng, -0.15, 0.15) * strength,
    between(rng, -0.06, 0.06) * strength,
    between(rng, -0.06, 0.06) * strength,
  );
}

/** A flat picture tilted in 3D (15 to 40 degrees about a random axis in its plane), seen by a pinhole camera. */
export function randomTilt(rng: () => number, W: number, H: number) {
  const tilt = (between(rng, 15, 40) * Math.PI) / 180;
  const axis = between(rng, 0, Math.PI);
  const [ax, ay] = [Math.cos(axis), Math.sin(axis)];
  const f = 1.2 * W;
  const turn = between(rng, -10, 10);
  const sim = similarityCorners(W, H, turn, between(rng, 0.9, 1.1), between(rng, -0.04, 0.04), 0);
  return sim.map((p) => {
    // Rodrigues rotation of (X, Y, 0) about the in-plane axis (ax, ay, 0)
    const X = p.x - W / 2;
    const Y = p.y - H / 2;
    const dot = X * ax + Y * ay;
    const cos = Math.cos(tilt);
    const sin = Math.sin(tilt);
    const rx = X * cos + ax * dot * (1 - cos);
    const ry = Y * cos + ay * dot * (1 - cos);
    const rz = (ax * Y - ay * X) * sin;
    return { x: W / 2 + (f * rx) / (f + rz), y: H / 2 + (f * ry) / (f + rz) };
  }) as [Point, Point, Point, Point];
}

/**
 * A picture shown on a screen and filmed: gamma, the pixel grid (dark lines at the pixel pitch the
 * camera sees), a moiré beat (a slow wave at an angle) and a lamp's glare.
 */
export function screenArtefacts(img: RasterImage, rng: () => number): RasterImage {
  const { width: W, height: H, channels: C, data: d } = img;
  const gamma = rng() < 0.5 ? between(rng, 0.65, 0.85) : between(rng, 1.2, 1.5);
  const pitch = between(rng, 2.5, 5);
  const grid = between(rng, 0.12, 0.3);
  const moireF = between(rng, 0.02, 0.08);
  const moireA = between(rng, 0.05, 0.15);
  const moireAngle = between(rng, 0, Math.PI);
  const glare = rng() < 0.7;
  const gx = between(rng, 0.25, 0.75) * W;
  const gy = between(rng, 0.25, 0.75) * H;
  const gs = between(rng, 0.06, 0.16) * W;
  const ga = between(rng, 90, 200);
  const out = new Uint8Array(d.length);
  const [mc, ms] = [Math.cos(moireAngle), Math.sin(moireAngle)];
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const line = (x % pitch < 1 ? 1 : 0) + (y % pitch < 1 ? 1 : 0);
      const m = (1 - grid * Math.min(1, line)) * (1 + moireA * Math.cos(2 * Math.PI * moireF * (x * mc + y * ms)));
      const g = glare ? ga * Math.exp(-((x - gx) ** 2 + (y - gy) ** 2) / (2 * gs * gs)) : 0;
      for (let c = 0; c < C; c++) {
        const p = (y * W + x) * C + c;
        const v = 255 * (d[p]! / 255) ** gamma;
        out[p] = Math.max(0, Math.min(255, Math.round(v * m + g)));
      }
    }
  return { width: W, height: H, channels: C, data: out };
}

/** A picture printed: halftone dots on a screen at 45 degrees, paper white and ink black (reduced range). */
export function printArtefacts(img: RasterImage, rng: () => number): RasterImage {
  const { width: W, height: H, channels: C, data: d } = img;
  const period = between(rng, 3, 6);
  const mix = between(rng, 0.35, 0.7);
  const black = between(rng, 25, 50);
  const white = between(rng, 200, 235);
  const out = new Uint8Array(d.length);
  const k = Math.SQRT1_2;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      // distance to the nearest dot centre of the turned screen, 0 at the centre, 1 at the cell corner
      const u = ((x + y) * k) / period;
      const v = ((x - y) * k) / period;
      const du = u - Math.round(u);
      const dv = v - Math.round(v);
      const r = Math.hypot(du, dv) / Math.SQRT1_2;
      for (let c = 0; c < C; c++) {
        const p = (y * W + x) * C + c;
        const ink = 1 - d[p]! / 255; // dot area grows with darkness
        const dot = r < Math.sqrt(ink) ? 0 : 255;
        const v8 = (1 - mix) * d[p]! + mix * dot;
        out[p] = Math.round(black + ((white - black) * v8) / 255);
      }
    }
  return { width: W, height: H, channels: C, data: out };
}

/** Through a camera's JPEG (quality 80 to 92), back to pixels. */
export async function cameraJpeg(img: RasterImage, rng: () => number): Promise<RasterImage> {
  const { data, info } = await sharp(Buffer.from(img.data), {
    raw: { width: img.width, height: img.height, channels: img.channels },
  })
    .jpeg({ quality: Math.round(between(rng, 80, 92)) })
    .toBuffer({ resolveWithObject: true })
    .then((jpeg) => sharp(jpeg.data).raw().toBuffer({ resolveWithObject: true }));
  return { width: info.width, height: info.height, channels: info.channels as 1 | 3, data: new Uint8Array(data) };
}

/** A bona fide proxy sequence: the photos in order, each moved a little (a hand moving), through the camera. */
export async function bonaFideSequence(photos: RasterImage[], key: string): Promise<RasterImage[]> {
  const rng = prngFor(`bona-fide:${key}`);
  const out: RasterImage[] = [];
  for (const p of photos) out.push(await cameraJpeg(warpTo(p, randomSimilarity(rng, p.width, p.height, 0.3)), rng));
  return out;
}

/**
 * An attack sequence of `frames` frames: `stills` holds one photo (every type but screen-video)
 * or the bona fide photos (screen-video).
 */
export async function attackSequence(
  type: AttackType,
  stills: RasterImage[],
  frames: number,
  key: string,
): Promise<RasterImage[]> {
  const rng = prngFor(`attack:${type}:${key}`);
  const still = stills[0]!;
  const { width: W, height: H } = still;
  const out: RasterImage[] = [];
  switch (type) {
    case 'rigid':
      for (let i = 0; i < frames; i++) out.push(await cameraJpeg(warpTo(still, randomSimilarity(rng, W, H)), rng));
      break;
    case 'perspective':
      for (let i = 0; i < frames; i++) out.push(await cameraJpeg(warpTo(still, randomTilt(rng, W, H)), rng));
      break;
    case 'screen-still': {
      const shown = screenArtefacts(still, rng);
      for (let i = 0; i < frames; i++) {
        const move = rng() < 0.5 ? randomSimilarity(rng, W, H) : randomTilt(rng, W, H);
        out.push(await cameraJpeg(warpTo(shown, move), rng));
      }
      break;
    }
    case 'screen-video': {
      // one screen, one set of artefacts, the recorded frames played on it
      const screenKey = rng();
      for (const p of stills.slice(0, frames)) {
        const shown = screenArtefacts(p, prngFor(`screen:${screenKey}`));
        out.push(await cameraJpeg(warpTo(shown, randomSimilarity(rng, W, H, 0.3)), rng));
      }
      break;
    }
    case 'print': {
      const printed = printArtefacts(still, rng);
      for (let i = 0; i < frames; i++) out.push(await cameraJpeg(warpTo(printed, randomTilt(rng, W, H)), rng));
      break;
    }
  }
  return out;
}
