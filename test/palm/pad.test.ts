/**
 * Presentation attack detection: the geometry on synthetic landmark tracks (a flat hand moved by
 * similarities or homographies is rejected; fingers that spread or close are accepted; the
 * challenge's direction is checked), the replay cue on a synthetic screen, and, when the COEP dev
 * hands and the hand models are present, warped stills of real photos rejected end to end.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { attackSequence, bonaFideSequence, screenArtefacts } from '../../src/palm/devtools/pad-attacks.js';
import { prngFor } from '../../src/palm/devtools/index.js';
import type { RasterImage } from '../../src/palm/image.js';
import type { HandModels, LandmarkPass } from '../../src/palm/hand/detector.js';
import {
  checkLiveness,
  continuityBreak,
  fitHomography,
  judge,
  type LandmarkFrame,
  measureTrack,
  PAD,
  planarResidual,
  spectralPeak,
} from '../../src/palm/pad/index.js';
import { handModelEntries } from '../../src/palm/hand/detector.js';
import { realDataDir } from './helpers.js';

type P3 = [number, number, number];

/**
 * A right hand in 3D (pixels, palm in the z = 0 plane, fingers up): each finger a chain from its
 * knuckle, turned sideways by `spread` (degrees, away from the middle finger) and bent towards the
 * camera by `flex` (degrees per joint).
 */
function hand3d(spread: number, flex = 10): P3[] {
  const pts: P3[] = new Array(21);
  pts[0] = [0, 0, 0];
  const knuckles: P3[] = [
    [-60, -40, 0],
    [-35, -150, 0],
    [0, -160, 0],
    [32, -152, 0],
    [60, -135, 0],
  ];
  const lengths = [
    [40, 35, 30],
    [45, 28, 22],
    [50, 32, 24],
    [47, 30, 23],
    [36, 23, 20],
  ];
  const side = [-2, -1, 0, 1, 2];
  const base = [-50, 0, 0, 0, 0];
  for (let f = 0; f < 5; f++) {
    const mcp = f === 0 ? 1 : 1 + 4 * f;
    let p = knuckles[f]!;
    pts[mcp] = p;
    const yaw = ((base[f]! + side[f]! * spread) * Math.PI) / 180;
    for (let j = 0; j < 3; j++) {
      const pitch = ((j + 1) * flex * Math.PI) / 180;
      const len = lengths[f]![j]!;
      p = [
        p[0] + len * Math.sin(yaw) * Math.cos(pitch),
        p[1] - len * Math.cos(yaw) * Math.cos(pitch),
        p[2] - len * Math.sin(pitch),
      ];
      pts[mcp + 1 + j] = p;
    }
  }
  return pts;
}

/** A pinhole view of 3D points after a turn about the vertical axis (degrees) and a shift. */
function view(pts: P3[], opts: { yaw?: number; scale?: number; dx?: number; roll?: number } = {}): LandmarkFrame {
  const f = 1000;
  const yaw = ((opts.yaw ?? 0) * Math.PI) / 180;
  const roll = ((opts.roll ?? 0) * Math.PI) / 180;
  const s = opts.scale ?? 1;
  const out: LandmarkFrame = { points: [], depth: [] };
  for (const [x0, y0, z0] of pts) {
    const x = x0 * Math.cos(yaw) + z0 * Math.sin(yaw);
    const z = -x0 * Math.sin(yaw) + z0 * Math.cos(yaw);
    const xr = x * Math.cos(roll) - y0 * Math.sin(roll);
    const yr = x * Math.sin(roll) + y0 * Math.cos(roll);
    const k = (f / (f + z + 600)) * s;
    out.points.push({ x: 320 + (opts.dx ?? 0) + xr * k * 2, y: 400 + yr * k * 2 });
    out.depth.push(z * k * 2);
  }
  return out;
}

/** A frame as a flat photo of `frame` would show it after the homography `to` of its plane. */
function flatMove(frame: LandmarkFrame, corners: { x: number; y: number }[]): LandmarkFrame {
  const from = [
    { x: 0, y: 0 },
    { x: 640, y: 0 },
    { x: 640, y: 480 },
    { x: 0, y: 480 },
  ];
  const H = fitHomography(from, corners)!;
  return { points: frame.points.map(H), depth: frame.depth };
}

const jitter = (f: LandmarkFrame, seed: string, px = 1): LandmarkFrame => {
  const rng = prngFor(seed);
  return {
    points: f.points.map((p) => ({ x: p.x + (rng() - 0.5) * 2 * px, y: p.y + (rng() - 0.5) * 2 * px })),
    depth: f.depth.map((d) => d + (rng() - 0.5) * 2 * px),
  };
};

describe('PAD geometry on synthetic landmark tracks', () => {
  const still = view(hand3d(8));

  it('fits an exact homography with no residual', () => {
    const moved = flatMove(still, [
      { x: 30, y: 10 },
      { x: 600, y: 40 },
      { x: 640, y: 470 },
      { x: -10, y: 420 },
    ]);
    expect(planarResidual(still.points, moved.points)).toBeLessThan(1e-6);
  });

  it('rejects a flat hand moved rigidly or tilted (one homography), even with landmark noise', () => {
    const track = [
      jitter(still, 'a'),
      jitter(
        flatMove(still, [
          { x: 40, y: -20 },
          { x: 650, y: 30 },
          { x: 610, y: 500 },
          { x: 5, y: 450 },
        ]),
        'b',
      ),
      jitter(
        flatMove(still, [
          { x: 100, y: 30 },
          { x: 540, y: 0 },
          { x: 600, y: 480 },
          { x: 60, y: 440 },
        ]),
        'c',
      ),
    ];
    const m = measureTrack(track);
    expect(m.planarResidual).toBeLessThan(PAD.minPlanarResidual);
    const verdict = judge(m, []);
    expect(verdict.verdict).toBe('not_live');
    expect(verdict.reasons).toContain('planar_motion');
  });

  it('accepts fingers that spread and close, seen from a moving camera', () => {
    const track = [
      jitter(view(hand3d(2, 25)), 'd'),
      jitter(view(hand3d(10, 12), { yaw: 8, dx: 15 }), 'e'),
      jitter(view(hand3d(18, 5), { yaw: -6, scale: 1.1, roll: 5 }), 'f'),
    ];
    const m = measureTrack(track);
    expect(m.planarResidual).toBeGreaterThanOrEqual(PAD.minPlanarResidual);
    expect(m.articulation).toBeGreaterThanOrEqual(PAD.minArticulation);
    expect(judge(m, []).verdict).toBe('live');
  });

  it('checks that the challenge was followed in its direction', () => {
    const opening = [view(hand3d(2)), view(hand3d(8)), view(hand3d(16))];
    const closing = [...opening].reverse();
    expect(measureTrack(opening, 'spread').challenge?.complied).toBe(true);
    expect(measureTrack(opening, 'close').challenge?.complied).toBe(false);
    expect(measureTrack(closing, 'close').challenge?.complied).toBe(true);
    expect(measureTrack(closing, 'spread').challenge?.complied).toBe(false);
    expect(judge(measureTrack(closing, 'spread'), []).reasons).toContain('challenge_not_followed');
    // tilt: the palm plane must turn; a hand that only spreads its fingers did not tilt
    expect(measureTrack(opening, 'tilt').challenge?.complied).toBe(false);
    const tilting = [view(hand3d(8)), view(hand3d(8), { yaw: 25 })];
    expect(measureTrack(tilting, 'tilt').challenge?.complied).toBe(true);
  });

  it('does not judge a single frame', async () => {
    expect(judge(measureTrack([still]), []).verdict).toBe('not_checked');
    const one: RasterImage = { width: 8, height: 8, channels: 1, data: new Uint8Array(64) };
    expect(await checkLiveness([one], { models: null })).toMatchObject({
      verdict: 'not_checked',
      reasons: ['single_frame'],
    });
  });
});

describe('PAD: the identified frame belongs to one continuous track (splice attacks)', () => {
  // The accepted live track above: fingers spreading while the camera moves a little.
  const live = [
    jitter(view(hand3d(2, 25)), 'd'),
    jitter(view(hand3d(10, 12), { yaw: 8, dx: 15 }), 'e'),
    jitter(view(hand3d(18, 5), { yaw: -6, scale: 1.1, roll: 5 }), 'f'),
  ];
  const right = (f: LandmarkFrame, handedness = 0.95): LandmarkFrame => ({ ...f, handedness });

  it('finds a live hand continuous: no jump, no gap; a hand that leaves at the end breaks nothing', () => {
    expect(continuityBreak(live.map((f) => right(f)))).toBeNull();
    expect(continuityBreak([...live, null])).toBeNull();
    // unsure handedness scores (near 0.5) are not judged on
    expect(continuityBreak([right(live[0]!, 0.55), right(live[1]!, 0.3), live[2]!])).toBeNull();
  });

  it('breaks on another hand spliced in: elsewhere, another size, the other side, or behind a frame with no hand', () => {
    const victim = view(hand3d(8), { dx: 900 }); // a still held far to the side of the live hand
    expect(continuityBreak([victim, ...live])).toBe('jump');
    expect(continuityBreak([view(hand3d(8), { scale: 2.5 }), ...live])).toBe('jump');
    expect(continuityBreak([right(view(hand3d(8)), 0.05), ...live.map((f) => right(f))])).toBe('jump');
    expect(continuityBreak([live[0]!, null, live[1]!, live[2]!])).toBe('gap');
  });

  it('judge: a discontinuous track is not live even when its motion passes', () => {
    const m = measureTrack(live);
    expect(judge(m, []).verdict).toBe('live');
    const spliced = judge({ ...m, continuous: false }, []);
    expect(spliced.verdict).toBe('not_live');
    expect(spliced.reasons).toEqual(['discontinuous']);
  });

  it("judge: the identified frame's own replay cues count, not only the median", () => {
    const m = measureTrack(live);
    const skin = { spectralPeak: 1, glare: 0 };
    const screen = { spectralPeak: PAD.maxSpectralPeak + 1, glare: PAD.maxGlareShare + 0.1 };
    // one screen frame among live ones hides in the median...
    expect(judge(m, [screen, skin, skin]).verdict).toBe('live');
    // ...unless it is the frame that was identified
    const r = judge(m, [screen, skin, skin], PAD, { identifiedFirst: true });
    expect(r.verdict).toBe('not_live');
    expect(r.reasons).toEqual(expect.arrayContaining(['replay_pattern', 'glare']));
    expect(judge(m, [skin, screen, skin], PAD, { identifiedFirst: true }).verdict).toBe('live');
  });

  describe('checkLiveness with the landmark passes given', () => {
    const models = {} as HandModels; // never run: every frame's pass is given
    const image = (): RasterImage => ({ width: 640, height: 640, channels: 3, data: new Uint8Array(640 * 640 * 3) });
    const pass = (f: LandmarkFrame, presence = 0.99): LandmarkPass =>
      ({ points: f.points, depth: f.depth, presence, handedness: 0.95 }) as LandmarkPass;

    it('refuses when the identified first frame has no trusted hand (a palm crop or a photo in front of a live hand)', async () => {
      const frames = [image(), image(), image(), image()];
      for (const first of [null, pass(live[0]!, PAD.minPresence / 2)]) {
        const r = await checkLiveness(frames, {
          models,
          identifiedFirst: true,
          passes: [first, ...live.map((f) => pass(f))],
        });
        expect(r).toMatchObject({ verdict: 'not_live', reasons: ['identified_frame_not_in_track'] });
      }
      // without the option, the same frames are judged on the live hand's track alone
      const loose = await checkLiveness(frames, { models, passes: [null, ...live.map((f) => pass(f))] });
      expect(loose.reasons).not.toContain('identified_frame_not_in_track');
      expect(loose.framesWithHand).toBe(3);
    });

    it('refuses a still spliced in front of a live hand, and a live hand with a gap', async () => {
      const frames = [image(), image(), image(), image()];
      const victim = pass(view(hand3d(8), { dx: 900 }));
      const spliced = await checkLiveness(frames, {
        models,
        identifiedFirst: true,
        passes: [victim, ...live.map((f) => pass(f))],
      });
      expect(spliced.verdict).toBe('not_live');
      expect(spliced.reasons).toContain('discontinuous');
      const gap = await checkLiveness(frames, {
        models,
        identifiedFirst: true,
        passes: [pass(live[0]!), null, pass(live[1]!), pass(live[2]!)],
      });
      expect(gap.verdict).toBe('not_live');
      expect(gap.reasons).toEqual(['discontinuous']);
      const whole = await checkLiveness(frames.slice(1), {
        models,
        identifiedFirst: true,
        passes: live.map((f) => pass(f)),
      });
      expect(whole.reasons).not.toContain('discontinuous');
      expect(whole.reasons).not.toContain('identified_frame_not_in_track');
    });
  });
});

describe('PAD replay cues', () => {
  /** Smooth random texture (box-blurred noise), like skin at a distance. */
  function texture(seed: string): RasterImage {
    const rng = prngFor(seed);
    const W = 256;
    const noise = Float32Array.from({ length: W * W }, () => rng());
    const data = new Uint8Array(W * W * 3);
    for (let y = 0; y < W; y++)
      for (let x = 0; x < W; x++) {
        let s = 0;
        let n = 0;
        for (let dy = -2; dy <= 2; dy++)
          for (let dx = -2; dx <= 2; dx++) {
            const xx = Math.min(W - 1, Math.max(0, x + dx));
            const yy = Math.min(W - 1, Math.max(0, y + dy));
            s += noise[yy * W + xx]!;
            n++;
          }
        const v = 90 + 80 * (s / n);
        data.set([v, v * 0.8, v * 0.7], (y * W + x) * 3);
      }
    return { width: W, height: W, channels: 3, data };
  }

  it('finds the pixel grid of a screen and not in a plain texture', () => {
    const skin = texture('skin');
    const screen = screenArtefacts(skin, prngFor('screen'));
    const centre = { x: 128, y: 128 };
    expect(spectralPeak(skin, centre)).toBeLessThan(PAD.maxSpectralPeak);
    expect(spectralPeak(screen, centre)).toBeGreaterThan(PAD.maxSpectralPeak);
  });
});

const coep = path.join(realDataDir, 'coep-hands');
const ready = fs.existsSync(coep) && handModelEntries() !== null;

describe.skipIf(!ready)('PAD on COEP dev hands', () => {
  const decode = async (file: string): Promise<RasterImage> => {
    const { data, info } = await sharp(path.join(coep, file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data) };
  };

  it('rejects a still moved rigidly or tilted, and a pose-change sequence moves more than they do', async () => {
    const photos = await Promise.all([1, 2, 3].map((s) => decode(`030_0${s}.jpg`)));
    const rigid = await checkLiveness(await attackSequence('rigid', [photos[0]!], 3, 'test'));
    const tilted = await checkLiveness(await attackSequence('perspective', [photos[0]!], 3, 'test'));
    for (const r of [rigid, tilted]) {
      expect(r.framesWithHand).toBe(3);
      expect(r.verdict).toBe('not_live');
      expect(r.reasons).toContain('planar_motion');
    }
    const bonaFide = await checkLiveness(await bonaFideSequence(photos, 'test'));
    expect(bonaFide.framesWithHand).toBe(3);
    // the proxy's pose changes are small (the capture rig's pegs hold the fingers), yet above a rigid move's
    expect(bonaFide.track!.planarResidual).toBeGreaterThan(rigid.track!.planarResidual);
  }, 60_000);
});
