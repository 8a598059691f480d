import { describe, expect, it } from 'vitest';
// The page's own module (a browser ES module whose guidance part touches no DOM).
import { assessHand, GUIDANCE, HAND_GUIDE } from '../../views/static/palm-capture.js';

/**
 * The live capture's guidance, on synthetic landmarks: a right palm facing an unmirrored camera,
 * fingers up and slightly apart, then changed one way at a time. MediaPipe names hands as if the
 * picture were mirrored, so this right hand is its "Left".
 */
type Point = { x: number; y: number; z: number };
const FRAME = { width: 640, height: 480, time: 1000, brightness: 120 };

function rightPalm(): Point[] {
  const p: Point[] = [];
  const at = (x: number, y: number) => ({ x, y, z: 0 });
  p[0] = at(0.5, 0.8);
  // Thumb: towards the image's right (the person's midline, seen from the camera).
  p[1] = at(0.56, 0.74);
  p[2] = at(0.61, 0.68);
  p[3] = at(0.65, 0.62);
  p[4] = at(0.68, 0.57);
  // Index (image right) to little finger (image left): knuckle, two joints, tip; tips fan out.
  const knuckles = [0.56, 0.51, 0.46, 0.41];
  const tips = [0.6, 0.515, 0.435, 0.35];
  for (let f = 0; f < 4; f++) {
    const base = 5 + 4 * f;
    const length = f === 3 ? 0.2 : 0.26;
    for (let j = 0; j < 4; j++) {
      const t = j / 3;
      p[base + j] = at(knuckles[f]! + t * (tips[f]! - knuckles[f]!), 0.55 - t * length);
    }
  }
  return p;
}

const hand = (landmarks: Point[], label = 'Left') => ({ landmarks, label, score: 0.95 });
const map = (points: Point[], f: (p: Point) => Point) => points.map(f);
const state = (h: Parameters<typeof assessHand>[0], frame = FRAME, previous?: unknown) =>
  assessHand(h, frame, previous).state;

describe('hand guidance from landmarks', () => {
  it('a right palm, open, flat, centred and still, is ready', () => {
    const answer = assessHand(hand(rightPalm()), FRAME);
    expect(answer.state).toBe('ready');
    expect(answer.message).toBe(GUIDANCE.ready);
  });

  it('no landmarks: no hand seen', () => {
    expect(state(undefined)).toBe('no_hand');
    expect(GUIDANCE.no_hand).toMatch(/^No hand seen/);
  });

  it('the back of the hand: the same outline named as the other hand', () => {
    expect(state(hand(rightPalm(), 'Right'))).toBe('back_of_hand');
    // A left palm (the mirror image, named "Right") faces the camera.
    expect(
      state(
        hand(
          map(rightPalm(), (p) => ({ ...p, x: 1 - p.x })),
          'Right',
        ),
      ),
    ).toBe('ready');
    expect(
      state(
        hand(
          map(rightPalm(), (p) => ({ ...p, x: 1 - p.x })),
          'Left',
        ),
      ),
    ).toBe('back_of_hand');
    // Handedness it is unsure of is not used.
    expect(state({ ...hand(rightPalm(), 'Right'), score: 0.5 })).toBe('ready');
  });

  it('too far, too close, off centre', () => {
    const scaled = (k: number) =>
      map(rightPalm(), (p) => ({ x: 0.5 + (p.x - 0.5) * k, y: 0.5 + (p.y - 0.5) * k, z: 0 }));
    expect(state(hand(scaled(0.4)))).toBe('too_far');
    expect(state(hand(scaled(1.6)))).toBe('too_close');
    expect(state(hand(map(rightPalm(), (p) => ({ ...p, x: p.x - 0.3 }))))).toBe('off_centre');
  });

  it('too dark', () => {
    expect(state(hand(rightPalm()), { ...FRAME, brightness: HAND_GUIDE.minBrightness - 10 })).toBe('too_dark');
  });

  it('fingers curled or held together', () => {
    const curled = rightPalm();
    for (const tip of [8, 12, 16, 20]) curled[tip] = { ...curled[tip - 3]!, y: curled[tip - 3]!.y + 0.02 };
    expect(state(hand(curled))).toBe('fingers_closed');
    const together = rightPalm();
    for (let f = 0; f < 4; f++) for (let j = 1; j < 4; j++) together[5 + 4 * f + j]!.x = together[5 + 4 * f]!.x;
    expect(state(hand(together))).toBe('fingers_closed');
  });

  it('tilted: the palm turned away from the camera', () => {
    // Turned 60 degrees about the vertical axis: x shrinks, depth appears.
    const angle = (60 * Math.PI) / 180;
    const turned = map(rightPalm(), (p) => ({
      x: 0.5 + (p.x - 0.5) * Math.cos(angle),
      y: p.y,
      z: (p.x - 0.5) * Math.sin(angle),
    }));
    expect(state(hand(turned))).toBe('tilted');
    const slightly = (10 * Math.PI) / 180;
    const almost = map(rightPalm(), (p) => ({
      x: 0.5 + (p.x - 0.5) * Math.cos(slightly),
      y: p.y,
      z: (p.x - 0.5) * Math.sin(slightly),
    }));
    expect(state(hand(almost))).toBe('ready');
  });

  it('moving: the palm travels between frames; a still one does not', () => {
    const before = assessHand(hand(rightPalm()), { ...FRAME, time: 900 });
    const moved = map(rightPalm(), (p) => ({ ...p, x: p.x + 0.05 }));
    expect(state(hand(moved), FRAME, before)).toBe('moving');
    expect(state(hand(rightPalm()), FRAME, before)).toBe('ready');
  });
});
