/**
 * Synthetic palms, drawn deterministically from a seed (BezierPalm-style): principal lines and
 * creases as cubic Bezier curves over a textured skin field, one identity = one palm field, and
 * each sample re-photographs it with realistic variation (shift, rotation, scale, lighting
 * gradient and gain, blur, noise, small smooth deformation). `kind: 'hand'` draws a whole hand
 * (palm, four fingers, thumb, forearm) in skin colour on a dark background at any rotation,
 * with the palm field mapped onto the palm.
 */
import type { GreyImage, RasterImage } from '../image.js';
import { sample } from '../image.js';
import { prng } from './random.js';

/** Stable 32-bit hash of a few integers (FNV-1a over their bytes). */
function hashInts(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    for (let k = 0; k < 4; k++) {
      h ^= (x >>> (8 * k)) & 0xff;
      h = Math.imul(h, 0x01000193);
    }
  }
  return h >>> 0;
}

const FIELD = 192; // palm field side (palm units)

interface Curve {
  p: [number, number][]; // 4 control points
  width: number;
  depth: number;
}

interface PalmIdentity {
  field: Float32Array; // FIELD x FIELD, 1 = bare skin, lower = line
  tone: [number, number, number]; // skin RGB
  fingerSpread: number[]; // degrees, 4 fingers
  fingerLength: number[];
  fingerWidth: number[];
  palmAspect: number;
}

function gaussRand(r: () => number): number {
  const u = Math.max(1e-12, r());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

function bezier(c: [number, number][], t: number): [number, number] {
  const u = 1 - t;
  const a = u * u * u;
  const b = 3 * u * u * t;
  const d = 3 * u * t * t;
  const e = t * t * t;
  return [
    a * c[0]![0] + b * c[1]![0] + d * c[2]![0] + e * c[3]![0],
    a * c[0]![1] + b * c[1]![1] + d * c[2]![1] + e * c[3]![1],
  ];
}

function drawCurve(field: Float32Array, c: Curve): void {
  const [x0, y0] = c.p[0]!;
  const [x3, y3] = c.p[3]!;
  const len = Math.hypot(x3 - x0, y3 - y0) * 1.5 + 10;
  const steps = Math.ceil(len * 2);
  const rad = Math.ceil(c.width * 2.5);
  const inv = 1 / (2 * c.width * c.width);
  for (let s = 0; s <= steps; s++) {
    const t = s / steps;
    // lines fade in and out at their ends
    const taper = Math.min(1, 4 * t, 4 * (1 - t));
    const [px, py] = bezier(c.p, t);
    for (let y = Math.floor(py - rad); y <= Math.ceil(py + rad); y++) {
      if (y < 0 || y >= FIELD) continue;
      for (let x = Math.floor(px - rad); x <= Math.ceil(px + rad); x++) {
        if (x < 0 || x >= FIELD) continue;
        const d2 = (x - px) ** 2 + (y - py) ** 2;
        const v = 1 - c.depth * taper * Math.exp(-d2 * inv);
        const i = y * FIELD + x;
        if (v < field[i]!) field[i] = v;
      }
    }
  }
}

function smoothNoise(r: () => number, n: number, cell: number): Float32Array {
  const g = Math.ceil(n / cell) + 2;
  const grid = new Float32Array(g * g);
  for (let i = 0; i < grid.length; i++) grid[i] = r() * 2 - 1;
  const img: GreyImage = { width: g, height: g, data: grid };
  const out = new Float32Array(n * n);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) out[y * n + x] = sample(img, x / cell, y / cell);
  return out;
}

function makeIdentity(seed: number, id: number): PalmIdentity {
  const r = prng(hashInts(seed, id, 0x1d));
  const j = (s: number) => gaussRand(r) * s;
  const F = FIELD;
  // a control point (x, y), each jittered by a normal of the given spread (0: none)
  const pt = (x: number, sx: number, y: number, sy: number): [number, number] => [
    sx ? x + j(sx) : x,
    sy ? y + j(sy) : y,
  ];
  // a principal line: its control points, and its width and depth drawn around a base
  const principal = (p: Curve['p'], width: number, depth: number): Curve => ({
    p,
    width: width + r() * 1.2,
    depth: depth + r() * 0.15,
  });
  const curves: Curve[] = [
    // heart line (near the fingers, from the little-finger edge towards the index)
    principal(
      [pt(F + 5, 0, 45, 8), pt(F * 0.7, 12, 35, 10), pt(F * 0.45, 12, 30, 12), pt(F * 0.2, 12, 25, 10)],
      2.2,
      0.35,
    ),
    // head line (across the palm)
    principal(
      [pt(-5, 0, 60, 10), pt(F * 0.35, 12, 75, 12), pt(F * 0.6, 15, 95, 15), pt(F * 0.9, 12, 115, 15)],
      2.0,
      0.33,
    ),
    // life line (around the thumb base)
    principal(
      [pt(10, 6, 58, 8), pt(F * 0.35, 12, 90, 12), pt(F * 0.42, 12, 140, 12), pt(F * 0.4, 15, F + 5, 0)],
      2.0,
      0.33,
    ),
  ];
  // secondary lines and creases
  const nCreases = 25 + Math.floor(r() * 25);
  const flow = r() * Math.PI; // a preferred crease direction for this palm
  for (let k = 0; k < nCreases; k++) {
    const cx = r() * F;
    const cy = r() * F;
    const ang = (r() < 0.6 ? flow : r() * Math.PI) + j(0.4);
    const L = 15 + r() * 55;
    const dx = Math.cos(ang) * L;
    const dy = Math.sin(ang) * L;
    const bend = j(L * 0.25);
    curves.push({
      p: [
        [cx - dx / 2, cy - dy / 2],
        [cx - dx / 6 - (dy / L) * bend, cy - dy / 6 + (dx / L) * bend],
        [cx + dx / 6 - (dy / L) * bend, cy + dy / 6 + (dx / L) * bend],
        [cx + dx / 2, cy + dy / 2],
      ],
      width: 0.8 + r() * 1.0,
      depth: 0.1 + r() * 0.2,
    });
  }
  const field = new Float32Array(F * F).fill(1);
  for (const c of curves) drawCurve(field, c);
  // skin texture: a coarse mottling and a fine grain
  const coarse = smoothNoise(r, F, 24);
  const fine = smoothNoise(r, F, 3);
  for (let i = 0; i < field.length; i++) field[i] = field[i]! * (1 + 0.05 * coarse[i]! + 0.035 * fine[i]!);
  const base = 150 + r() * 80;
  const tone: [number, number, number] = [base, base * (0.7 + r() * 0.1), base * (0.55 + r() * 0.12)];
  return {
    field,
    tone,
    fingerSpread: [-14 - r() * 8, -4 - r() * 4, 4 + r() * 4, 14 + r() * 8],
    fingerLength: [145 + j(10), 165 + j(10), 155 + j(10), 120 + j(10)],
    fingerWidth: [38 + j(2), 40 + j(2), 38 + j(2), 32 + j(2)],
    palmAspect: 1 + j(0.04),
  };
}

interface Capture {
  rot: number; // radians
  scale: number;
  dx: number;
  dy: number;
  gain: number;
  gx: number;
  gy: number;
  blur: number;
  noise: number;
  warp: Float32Array; // smooth displacement field (2 x 8 x 8)
}

function makeCapture(seed: number, id: number, s: number, strength: number): Capture {
  const r = prng(hashInts(seed, id, s, 0x5a));
  const j = (v: number) => gaussRand(r) * v * strength;
  const warp = new Float32Array(2 * 64);
  for (let i = 0; i < warp.length; i++) warp[i] = gaussRand(r) * 0.8 * strength;
  return {
    rot: (j(2) * Math.PI) / 180,
    scale: 1 + j(0.03),
    dx: j(3),
    dy: j(3),
    gain: 1 + j(0.12),
    gx: j(0.15),
    gy: j(0.15),
    blur: Math.abs(j(0.5)),
    noise: 1.5 + r() * 2.5 * strength,
    warp,
  };
}

function warpAt(c: Capture, u: number, v: number): [number, number] {
  // u, v in [0,1]: bilinear over an 8x8 grid of displacements
  const gx = Math.min(6.999, Math.max(0, u * 7));
  const gy = Math.min(6.999, Math.max(0, v * 7));
  const x0 = Math.floor(gx);
  const y0 = Math.floor(gy);
  const fx = gx - x0;
  const fy = gy - y0;
  const at = (k: number, x: number, y: number) => c.warp[k * 64 + y * 8 + x]!;
  const f = (k: number) =>
    (at(k, x0, y0) * (1 - fx) + at(k, x0 + 1, y0) * fx) * (1 - fy) +
    (at(k, x0, y0 + 1) * (1 - fx) + at(k, x0 + 1, y0 + 1) * fx) * fy;
  return [f(0), f(1)];
}

function gaussianBlur(data: Float32Array, w: number, h: number, channels: number, sigma: number): void {
  if (sigma < 0.3) return;
  const r = Math.ceil(sigma * 2.5);
  const k: number[] = [];
  let ks = 0;
  for (let i = -r; i <= r; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k.push(v);
    ks += v;
  }
  const tmp = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -r; i <= r; i++)
          s += k[i + r]! * data[(y * w + Math.min(w - 1, Math.max(0, x + i))) * channels + c]!;
        tmp[(y * w + x) * channels + c] = s / ks;
      }
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -r; i <= r; i++)
          s += k[i + r]! * tmp[(Math.min(h - 1, Math.max(0, y + i)) * w + x) * channels + c]!;
        data[(y * w + x) * channels + c] = s / ks;
      }
  }
}

export interface SynthOptions {
  seed: number;
  /** 0 = no variation between samples, 1 = default realistic variation */
  variation?: number;
  /** output side for 'roi' (default 128); width for 'hand' (default 640, height 3/4 of it) */
  size?: number;
  /** hand only: fingers spread apart (default) or held together */
  fingers?: 'spread' | 'closed';
}

/** A palm ROI crop (grey) of identity `id`, sample `s`. */
export function synthRoi(id: number, s: number, opts: SynthOptions): RasterImage {
  const ident = makeIdentity(opts.seed, id);
  const cap = makeCapture(opts.seed, id, s, opts.variation ?? 1);
  const n = opts.size ?? 128;
  const field: GreyImage = { width: FIELD, height: FIELD, data: ident.field };
  const r = prng(hashInts(opts.seed, id, s, 0x77));
  const img = new Float32Array(n * n);
  const cos = Math.cos(cap.rot) * cap.scale;
  const sin = Math.sin(cap.rot) * cap.scale;
  const k = 128 / n; // field units per output pixel (the ROI spans 128 field units)
  const grey = ident.tone[0] * 0.3 + ident.tone[1] * 0.55 + ident.tone[2] * 0.15;
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const u = (x - n / 2) * k;
      const v = (y - n / 2) * k;
      const [wx, wy] = warpAt(cap, x / n, y / n);
      const fx = FIELD / 2 + cos * u - sin * v + cap.dx + wx;
      const fy = FIELD / 2 + sin * u + cos * v + cap.dy + wy;
      const light = cap.gain * (1 + cap.gx * (x / n - 0.5) + cap.gy * (y / n - 0.5));
      img[y * n + x] = grey * sample(field, fx, fy) * light;
    }
  gaussianBlur(img, n, n, 1, cap.blur);
  const out = new Uint8Array(n * n);
  for (let i = 0; i < n * n; i++) out[i] = Math.max(0, Math.min(255, Math.round(img[i]! + gaussRand(r) * cap.noise)));
  return { width: n, height: n, channels: 1, data: out };
}

function capsuleDist(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const vx = bx - ax;
  const vy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * vx + (py - ay) * vy) / (vx * vx + vy * vy)));
  return Math.hypot(px - ax - t * vx, py - ay - t * vy);
}

/** A whole hand (RGB) on a dark background, any rotation. */
export function synthHand(id: number, s: number, opts: SynthOptions): RasterImage {
  const ident = makeIdentity(opts.seed, id);
  const strength = opts.variation ?? 1;
  const cap = makeCapture(opts.seed, id, s, strength);
  const r = prng(hashInts(opts.seed, id, s, 0x99));
  const W = opts.size ?? 640;
  const H = Math.round((W * 3) / 4);
  // pose: any rotation, per sample; hand scale so the palm is ~1/3 of the height
  const theta = r() * 2 * Math.PI;
  const scale = (H / 480) * (0.72 + r() * 0.08) * cap.scale;
  const cx = W / 2 + (r() - 0.5) * W * 0.08;
  const cy = H / 2 + (r() - 0.5) * H * 0.08;
  const ct = Math.cos(theta);
  const st = Math.sin(theta);
  const pw = 96 * ident.palmAspect;
  const ph = 100;
  // fingers (hand units: palm centre at 0,0, fingers towards -y, thumb towards -x)
  const fingers = [0, 1, 2, 3].map((k) => {
    const closed = opts.fingers === 'closed';
    const bx = closed ? -pw + pw * 0.45 + k * ((2 * pw * 0.55) / 3) : -pw + pw * 0.25 + k * ((2 * pw * 0.75) / 3);
    const by = -ph + 12;
    const a = ((closed ? (k - 1.5) * 1.5 : ident.fingerSpread[k]! + gaussRand(r) * 2 * strength) * Math.PI) / 180;
    const L = ident.fingerLength[k]!;
    return { ax: bx, ay: by, bx: bx + Math.sin(a) * L, by: by - Math.cos(a) * L, rad: ident.fingerWidth[k]! / 2 };
  });
  const ta = ((-55 + gaussRand(r) * 4 * strength) * Math.PI) / 180;
  const thumb = { ax: -pw * 0.75, ay: 30, bx: -pw * 0.75 + Math.sin(ta) * 140, by: 30 - Math.cos(ta) * 140, rad: 24 };
  const field: GreyImage = { width: FIELD, height: FIELD, data: ident.field };
  const img = new Float32Array(W * H * 3);
  const bg = 12 + r() * 10;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      // image -> hand units
      const X = x - cx;
      const Y = y - cy;
      const hx = (ct * X + st * Y) / scale;
      const hy = (-st * X + ct * Y) / scale;
      const inPalm = (Math.abs(hx) / pw) ** 4 + (Math.abs(hy) / ph) ** 4 <= 1;
      const inArm = hy > 0 && Math.abs(hx) < pw * 0.78;
      let inside = inPalm || (inArm && hy > ph * 0.5);
      if (!inside) for (const f of fingers) if (capsuleDist(hx, hy, f.ax, f.ay, f.bx, f.by) <= f.rad) inside = true;
      if (!inside && capsuleDist(hx, hy, thumb.ax, thumb.ay, thumb.bx, thumb.by) <= thumb.rad) inside = true;
      const o = (y * W + x) * 3;
      if (!inside) {
        img[o] = img[o + 1] = img[o + 2] = bg;
        continue;
      }
      // palm field: hand units -> field units (palm spans the field)
      const [wx, wy] = warpAt(cap, (hx + pw) / (2 * pw), (hy + ph) / (2 * ph));
      const fv = inPalm ? sample(field, ((hx + pw) / (2 * pw)) * FIELD + wx, ((hy + ph) / (2 * ph)) * FIELD + wy) : 1;
      const light = cap.gain * (1 + cap.gx * (x / W - 0.5) + cap.gy * (y / H - 0.5));
      for (let c = 0; c < 3; c++) img[o + c] = ident.tone[c]! * fv * light;
    }
  gaussianBlur(img, W, H, 3, cap.blur);
  const out = new Uint8Array(W * H * 3);
  for (let i = 0; i < out.length; i++)
    out[i] = Math.max(0, Math.min(255, Math.round(img[i]! + gaussRand(r) * cap.noise)));
  return { width: W, height: H, channels: 3, data: out };
}

export function synthesize(kind: 'roi' | 'hand', id: number, s: number, opts: SynthOptions): RasterImage {
  return kind === 'hand' ? synthHand(id, s, opts) : synthRoi(id, s, opts);
}
