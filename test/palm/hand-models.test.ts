/**
 * The converted MediaPipe hand models (models/hands.json, made by training/convert_mediapipe.py) in
 * onnxruntime-node, independently of the engine's detector code: the files match their manifest, the
 * graphs have the names and shapes it states, and its pre/post-processing facts (letterbox, anchors,
 * box decoding, ROI from the palm keypoints) turn a real hand photo into a crop the landmark model
 * recognises, while a black frame gives neither a palm nor a hand.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { realDataDir, repoRoot } from './helpers.js';

interface Entry {
  name: string;
  file: string;
  sha256: string;
  bytes: number;
  input: { name: string; shape: number[] };
  outputs: { name: string; shape: number[] }[];
  anchors?: {
    numLayers: number;
    strides: number[];
    aspectRatios: number[];
    interpolatedScaleAspectRatio: number;
    inputSizeWidth: number;
    inputSizeHeight: number;
    anchorOffsetX: number;
    anchorOffsetY: number;
  };
  decoding?: { numBoxes: number; xScale: number; yScale: number; wScale: number; hScale: number };
  detectionToRoi?: { scale: number; shiftY: number; targetAngleDegrees: number };
}

const modelsDir = path.join(repoRoot, 'models');
const manifest = JSON.parse(readFileSync(path.join(modelsDir, 'hands.json'), 'utf8')) as { models: Entry[] };
const entry = (name: string) => manifest.models.find((m) => m.name === name)!;
const coep = path.join(realDataDir, 'coep-hands');

const sessions: Record<string, ort.InferenceSession> = {};

beforeAll(async () => {
  for (const m of manifest.models) {
    sessions[m.name] = await ort.InferenceSession.create(readFileSync(path.join(modelsDir, m.file)), {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
  }
});

/** Anchor centres (normalised), laid out as MediaPipe's SsdAnchorsCalculator does. */
function anchors(a: NonNullable<Entry['anchors']>): [number, number][] {
  const out: [number, number][] = [];
  let layer = 0;
  while (layer < a.numLayers) {
    let last = layer;
    let perCell = 0;
    while (last < a.numLayers && a.strides[last] === a.strides[layer]) {
      perCell += a.aspectRatios.length + (a.interpolatedScaleAspectRatio > 0 ? 1 : 0);
      last++;
    }
    const gh = Math.ceil(a.inputSizeHeight / a.strides[layer]!);
    const gw = Math.ceil(a.inputSizeWidth / a.strides[layer]!);
    for (let y = 0; y < gh; y++)
      for (let x = 0; x < gw; x++)
        for (let k = 0; k < perCell; k++) out.push([(x + a.anchorOffsetX) / gw, (y + a.anchorOffsetY) / gh]);
    layer = last;
  }
  return out;
}

interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Decoded RGB, optionally turned by `angle` degrees (clockwise, black corners): the crop's rotation
 * is only tested by a hand that is not horizontal, where a wrong sign would tilt it. */
async function decodeRgb(file: string, angle = 0): Promise<Rgb> {
  const { data, info } = await sharp(readFileSync(file))
    .rotate(angle, { background: { r: 0, g: 0, b: 0 } })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/** The frame letterboxed (centred, zero border) to size x size, NHWC RGB in [0, 1]. */
function letterbox(img: Rgb, size: number): { tensor: Float32Array; scale: [number, number] } {
  const s = size / Math.max(img.width, img.height);
  const nw = Math.round(img.width * s);
  const nh = Math.round(img.height * s);
  const x0 = Math.floor((size - nw) / 2);
  const y0 = Math.floor((size - nh) / 2);
  const t = new Float32Array(size * size * 3);
  for (let y = 0; y < nh; y++)
    for (let x = 0; x < nw; x++) {
      const sx = Math.min(img.width - 1, Math.floor((x + 0.5) / s));
      const sy = Math.min(img.height - 1, Math.floor((y + 0.5) / s));
      for (let c = 0; c < 3; c++)
        t[((y0 + y) * size + x0 + x) * 3 + c] = img.data[(sy * img.width + sx) * 3 + c]! / 255;
    }
  return { tensor: t, scale: [nw / size, nh / size] };
}

/** The rotated square ROI (centre, side in pixels, rotation r) resampled bilinearly to size x size. */
function crop(img: Rgb, cx: number, cy: number, side: number, r: number, size: number): Float32Array {
  const t = new Float32Array(size * size * 3);
  const [ax, ay, bx, by] = [Math.cos(r), Math.sin(r), -Math.sin(r), Math.cos(r)];
  for (let v = 0; v < size; v++)
    for (let u = 0; u < size; u++) {
      const du = ((u + 0.5) / size - 0.5) * side;
      const dv = ((v + 0.5) / size - 0.5) * side;
      const x = cx + du * ax + dv * bx - 0.5;
      const y = cy + du * ay + dv * by - 0.5;
      const xi = Math.floor(x);
      const yi = Math.floor(y);
      const fx = x - xi;
      const fy = y - yi;
      for (let c = 0; c < 3; c++) {
        const px = (xx: number, yy: number) =>
          xx < 0 || yy < 0 || xx >= img.width || yy >= img.height ? 0 : img.data[(yy * img.width + xx) * 3 + c]!;
        const top = px(xi, yi) * (1 - fx) + px(xi + 1, yi) * fx;
        const bottom = px(xi, yi + 1) * (1 - fx) + px(xi + 1, yi + 1) * fx;
        t[(v * size + u) * 3 + c] = (top * (1 - fy) + bottom * fy) / 255;
      }
    }
  return t;
}

/** Palm detector, best anchor, ROI from the manifest's facts, landmark model: scores along the way. */
async function detectAndLandmark(
  img: Rgb,
  landmarker = 'hand-landmark-full',
): Promise<{ palmScore: number; handFlag: number; landmarks: number[] }> {
  const det = entry('palm-detection-full');
  const size = det.input.shape[1]!;
  const { tensor, scale } = letterbox(img, size);
  const out = await sessions[det.name]!.run({ image: new ort.Tensor('float32', tensor, [1, size, size, 3]) });
  const reg = out.regressors!.data as Float32Array;
  const logits = out.classificators!.data as Float32Array;
  const anc = anchors(det.anchors!);
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  const palmScore = 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, logits[best]!))));
  const r = reg.subarray(best * 18, best * 18 + 18);
  const d = det.decoding!;
  // normalised to the letterboxed input, then the letterbox removed, then pixels of the frame
  const toFrame = (nx: number, ny: number): [number, number] => [
    ((nx - (1 - scale[0]) / 2) / scale[0]) * img.width,
    ((ny - (1 - scale[1]) / 2) / scale[1]) * img.height,
  ];
  const [cx, cy] = toFrame(r[0]! / d.xScale + anc[best]![0], r[1]! / d.yScale + anc[best]![1]);
  const w = ((r[2]! / d.wScale) * img.width) / scale[0];
  const h = ((r[3]! / d.hScale) * img.height) / scale[1];
  const [x0, y0] = toFrame(r[4]! / d.xScale + anc[best]![0], r[5]! / d.yScale + anc[best]![1]);
  const [x2, y2] = toFrame(r[8]! / d.xScale + anc[best]![0], r[9]! / d.yScale + anc[best]![1]);
  const roi = det.detectionToRoi!;
  const rot = (roi.targetAngleDegrees * Math.PI) / 180 - Math.atan2(-(y2 - y0), x2 - x0);
  const side = Math.max(w, h) * roi.scale;
  const rcx = cx - roi.shiftY * h * Math.sin(rot);
  const rcy = cy + roi.shiftY * h * Math.cos(rot);
  const lm = entry(landmarker);
  const lsize = lm.input.shape[1]!;
  const input = crop(img, rcx, rcy, side, rot, lsize);
  const o = await sessions[lm.name]!.run({ image: new ort.Tensor('float32', input, [1, lsize, lsize, 3]) });
  return {
    palmScore,
    handFlag: (o.hand_flag!.data as Float32Array)[0]!,
    landmarks: Array.from(o.landmarks!.data as Float32Array),
  };
}

describe('MediaPipe hand models (ONNX)', () => {
  it('match their manifest: sha256, size, input and output names and shapes', async () => {
    expect(manifest.models.map((m) => m.name).sort()).toEqual([
      'hand-landmark-full',
      'hand-landmark-lite',
      'palm-detection-full',
    ]);
    for (const m of manifest.models) {
      const bytes = readFileSync(path.join(modelsDir, m.file));
      expect(bytes.length).toBe(m.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(m.sha256);
      const s = sessions[m.name]!;
      expect(s.inputNames).toEqual([m.input.name]);
      expect([...s.outputNames].sort()).toEqual(m.outputs.map((o) => o.name).sort());
      const [, hh, ww] = m.input.shape;
      const res = await s.run({ image: new ort.Tensor('float32', new Float32Array(hh! * ww! * 3), m.input.shape) });
      for (const o of m.outputs) expect(res[o.name]!.dims).toEqual(o.shape);
    }
    expect(anchors(entry('palm-detection-full').anchors!)).toHaveLength(
      entry('palm-detection-full').decoding!.numBoxes,
    );
  });

  it.each(['hand-landmark-full', 'hand-landmark-lite'])('see no palm and no hand in a black frame (%s)', async (lm) => {
    const r = await detectAndLandmark({ data: new Uint8Array(640 * 480 * 3), width: 640, height: 480 }, lm);
    expect(r.palmScore).toBeLessThan(0.5);
    expect(r.handFlag).toBeLessThan(0.5);
  });

  describe.skipIf(!existsSync(coep))('on dev hand photos (coep-hands)', () => {
    it.each(['hand-landmark-full', 'hand-landmark-lite'])(
      'find the palm and, on the crop the manifest describes, a hand with its landmarks (%s)',
      async (lm) => {
        for (const [n, angle] of [
          ['001_01', 0],
          ['012_03', 35],
          ['027_02', -50],
          ['040_04', 120],
        ] as const) {
          const img = await decodeRgb(path.join(coep, `${n}.jpg`), angle);
          const r = await detectAndLandmark(img, lm);
          expect(r.palmScore, n).toBeGreaterThan(0.5);
          expect(r.handFlag, n).toBeGreaterThan(0.9);
          // the crop puts the fingers up: wrist (0) to middle finger MCP (9) points up in the crop,
          // and every fingertip lies above the wrist
          const x = (i: number) => r.landmarks[i * 3]!;
          const y = (i: number) => r.landmarks[i * 3 + 1]!;
          const tilt = (Math.atan2(x(9) - x(0), y(0) - y(9)) * 180) / Math.PI;
          expect(Math.abs(tilt), `${n} tilt`).toBeLessThan(25);
          for (const tip of [8, 12, 16, 20]) expect(y(tip), `${n} tip ${tip}`).toBeLessThan(y(0));
        }
      },
    );
  });
});
