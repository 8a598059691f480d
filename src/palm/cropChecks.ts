/**
 * Failed-crop checks on the normalised ROI: the faults that leave a crop sharp, well exposed and
 * contrasted, so that the quality factors pass it, while it cannot match the same palm taken well.
 *
 * - turned: the palm lies turned away from the normalised orientation. The lines of normalised
 *   palms follow a common layout (heart line across the top, head line falling to the far side,
 *   life line round the thumb); the crop's orientation field, cell by cell, is matched against
 *   that layout turned through a half turn and mirrored (left and right hands), and a crop that
 *   fits it clearly better turned than as it is was turned.
 * - foreign region: a sleeve or cuff, or the background beyond the palm's edge (a partial palm),
 *   covers part of the crop behind a straight edge. Skin changes brightness gradually; a cover
 *   makes a step along a straight chord, with a flat region (little line-scale texture) on one side.
 * - fingers: the crop reaches past the finger roots, or fingers lie over the palm. Fingers make
 *   parallel bands that start at one side, with dark gaps or shadowed edges between them: along
 *   that side the grey profile swings hard, and the swings run straight in from the side.
 * - motion blur: a blur along one direction removes the fine detail in that direction only. Focus
 *   (quality.ts) measures how much detail is left overall; this measures how lopsided it is.
 *
 * Each measure is a number with a documented direction; the limits are in CROP_LIMITS, chosen as
 * README (palm engine, quality gate) describes, never on the evaluation images.
 */
import { PalmImageError } from './errors.js';
import type { GreyImage } from './image.js';

export type CropFault = 'rotated' | 'partial_palm' | 'fingers_in_view' | 'motion_blur';

export interface CropMeasures {
  /** the turn (degrees, -90..90) that fits the crop best to the normalised palm layout */
  turnDeg: number;
  /** how much better the crop fits turned by turnDeg than as it is (0 = no better) */
  turnEvidence: number;
  /** fit of the crop to the layout at the best turn (0..1) */
  turnFit: number;
  /** the strongest straight-edged foreign region: its share of the crop and its scores */
  cover: { fraction: number; step: number; flatness: number };
  /** finger bands at one side: strength (profile swing over the palm's texture) and straightness */
  fingers: { side: 'top' | 'right' | 'bottom' | 'left'; swing: number; straight: number };
  /** fine detail in its weakest direction over its strongest (1 = even; motion blur drives it to 0) */
  blurBalance: number;
  /** direction (degrees) of the weakest detail, i.e. of the motion */
  blurAngleDeg: number;
}

/**
 * Limits. The turn, cover and finger limits were chosen on synthetic palms (devtools/synth.ts, a
 * seed other than PALM_LAYOUT's) and their failed crops (devtools/cropFaults.ts), with a margin
 * over the good synthetic crops' largest values; the motion-blur limit on tongji-roi alone
 * (synthetic palms have too little skin texture for it). The other dev sets only check them.
 */
export const CROP_LIMITS = {
  /** a turn of this many degrees or more, fitted clearly better than no turn, is refused */
  minTurnDeg: 20,
  /**
   * Turns beyond this are let pass: a quarter turn cannot be told from a reader whose crops are a
   * quarter turn from ours (the PolyU crops are), and such a reader enrols and signs in alike.
   */
  maxTurnDeg: 70,
  minTurnEvidence: 0.25,
  minTurnFit: 0.6,
  /** a straight-edged cover: flat beyond the chord (flatness) with a step across it (step, in palm texture RMS) */
  minCoverFlatness: 0.55,
  minCoverStep: 4,
  /**
   * A cover smaller than this share of the crop leaves most of the palm to compare, so refusing it
   * would cost the person a capture for little; the failed crops the limits were chosen on are
   * covered 25–50 %.
   */
  minCoverFraction: 0.2,
  /** finger bands: swing (in line-band RMS) and straightness over these */
  minFingerSwing: 2,
  minFingerStraight: 0.6,
  /** fine detail this lopsided (weakest over strongest direction) or more is motion blur */
  maxBlurBalance: 0.35,
} as const;

/** The side of the normalised ROI the checks read (ROI_SIZE in roi.ts). */
export const CROP_SIDE = 128;
const N = CROP_SIDE;

/** Separable box mean of radius r (edges clamped by shrinking the box). */
function boxMean(src: Float64Array, w: number, h: number, r: number): Float64Array {
  const t = new Float64Array(w * h);
  const o = new Float64Array(w * h);
  for (let y = 0; y < h; y++) {
    let s = 0;
    let n = 0;
    for (let x = 0; x <= Math.min(r, w - 1); x++) {
      s += src[y * w + x]!;
      n++;
    }
    for (let x = 0; x < w; x++) {
      t[y * w + x] = s / n;
      const add = x + r + 1;
      const drop = x - r;
      if (add < w) {
        s += src[y * w + add]!;
        n++;
      }
      if (drop >= 0) {
        s -= src[y * w + drop]!;
        n--;
      }
    }
  }
  for (let x = 0; x < w; x++) {
    let s = 0;
    let n = 0;
    for (let y = 0; y <= Math.min(r, h - 1); y++) {
      s += t[y * w + x]!;
      n++;
    }
    for (let y = 0; y < h; y++) {
      o[y * w + x] = s / n;
      const add = y + r + 1;
      const drop = y - r;
      if (add < h) {
        s += t[add * w + x]!;
        n++;
      }
      if (drop >= 0) {
        s -= t[drop * w + x]!;
        n--;
      }
    }
  }
  return o;
}

function toSquare(roi: GreyImage): Float64Array {
  if (roi.width !== N || roi.height !== N) throw new Error(`crop checks need a ${N}x${N} ROI`);
  return Float64Array.from(roi.data);
}

// ------------------------------------------------------------------------------ turn

const GRID = 4;
const RAD = 60;
const TURN_STEP = 5;

/** The line-scale orientation field as doubled-angle vectors (gx^2 - gy^2, 2 gx gy), smoothed. */
function orientationField(img: Float64Array): { a: Float64Array; b: Float64Array } {
  const f = boxMean(boxMean(img, N, N, 2), N, N, 2);
  const a = new Float64Array(N * N);
  const b = new Float64Array(N * N);
  for (let y = 1; y < N - 1; y++)
    for (let x = 1; x < N - 1; x++) {
      const gx = (f[y * N + x + 1]! - f[y * N + x - 1]!) / 2;
      const gy = (f[(y + 1) * N + x]! - f[(y - 1) * N + x]!) / 2;
      a[y * N + x] = gx * gx - gy * gy;
      b[y * N + x] = 2 * gx * gy;
    }
  return { a: boxMean(a, N, N, 3), b: boxMean(b, N, N, 3) };
}

/**
 * The field in GRID x GRID cells of the disc of radius RAD, after turning the crop by `deg`
 * (and mirroring it first when `mirror`), as one unit vector.
 */
function fieldCells(F: { a: Float64Array; b: Float64Array }, deg: number, mirror: boolean): Float64Array {
  const out = new Float64Array(GRID * GRID * 2);
  const p = (deg * Math.PI) / 180;
  const cs = Math.cos(p);
  const sn = Math.sin(p);
  const c2 = Math.cos(2 * p);
  const s2 = Math.sin(2 * p);
  const c = (N - 1) / 2;
  for (let y = 2; y < N - 2; y += 2)
    for (let x = 2; x < N - 2; x += 2) {
      let dx = x - c;
      const dy = y - c;
      if (dx * dx + dy * dy > RAD * RAD) continue;
      const va = F.a[y * N + x]!;
      let vb = F.b[y * N + x]!;
      if (mirror) {
        dx = -dx;
        vb = -vb;
      }
      const rx = cs * dx - sn * dy;
      const ry = sn * dx + cs * dy;
      const cx = Math.min(GRID - 1, Math.floor(((rx + RAD) / (2 * RAD)) * GRID));
      const cy = Math.min(GRID - 1, Math.floor(((ry + RAD) / (2 * RAD)) * GRID));
      if (cx < 0 || cy < 0) continue;
      out[(cy * GRID + cx) * 2] = out[(cy * GRID + cx) * 2]! + c2 * va - s2 * vb;
      out[(cy * GRID + cx) * 2 + 1] = out[(cy * GRID + cx) * 2 + 1]! + s2 * va + c2 * vb;
    }
  return unit(out);
}

function unit(v: Float64Array): Float64Array {
  let s = 0;
  for (const x of v) s += x * x;
  const k = s > 0 ? 1 / Math.sqrt(s) : 0;
  return v.map((x) => x * k);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * The normalised palm layout: the mean cell field of synthetic palms (src/palm/devtools/synth.ts,
 * seed 11, 40 palms x 4 captures), which follow the ROI frame that the hand locator cuts. Made by
 * `measureLayout` in test/palm/cropChecks.test.ts, which checks that these numbers still match.
 */
export const PALM_LAYOUT: readonly number[] = [
  -0.0517, -0.0328, -0.142, -0.062, -0.1801, -0.0592, -0.0253, -0.006, -0.1928, -0.4058, -0.3621, -0.2971, -0.2216,
  -0.1838, -0.0712, -0.0701, 0.2023, -0.3372, 0.0642, -0.2052, -0.1758, -0.1795, -0.1324, -0.1304, 0.0821, -0.0372,
  0.2914, -0.1727, -0.0015, -0.0116, 0.0002, -0.0081,
];

/** The turn that fits the crop's field best to PALM_LAYOUT, and by how much it beats no turn. */
function measureTurn(img: Float64Array, layout: readonly number[]): { deg: number; evidence: number; fit: number } {
  const F = orientationField(img);
  let best = { deg: 0, fit: -2 };
  let asIs = -2;
  for (const mirror of [false, true])
    for (let deg = -90; deg < 90; deg += TURN_STEP) {
      const fit = dot(layout, fieldCells(F, deg, mirror));
      if (deg === 0) asIs = Math.max(asIs, fit);
      if (fit > best.fit) best = { deg, fit };
    }
  return { deg: best.deg, evidence: best.fit - asIs, fit: best.fit };
}

/** The layout cells of one crop (as it is, unmirrored): what PALM_LAYOUT averages. */
export function layoutCells(roi: GreyImage): Float64Array {
  return fieldCells(orientationField(toSquare(roi)), 0, false);
}

// ------------------------------------------------------------------------------ cover

const CELL = 4;
const M = N / CELL;

/**
 * The strongest straight-edged foreign region. On a 32x32 grid of 4x4-pixel cells (mean grey and
 * line-scale texture energy), every chord (angles 5 degrees apart, offsets 2 cells apart) that
 * leaves 15-65 % of the crop on one side is scored:
 * - step: the grey step across the chord (cells 1-2 away on either side), over the difference of
 *   the two sides' means, and only where that difference is large against the palm's texture. A
 *   cover's step is as large as the whole difference; skin lit unevenly changes gradually.
 * - flatness: 1 - (texture energy on the smaller side / on the larger side): a sleeve or the
 *   background beyond the palm has no lines.
 * The chord with the best product step x flatness (with the side's mean difference large) wins.
 */
function measureCover(img: Float64Array): CropMeasures['cover'] {
  const mean = new Float64Array(M * M);
  const tex = new Float64Array(M * M);
  const b2 = boxMean(img, N, N, 2);
  const b6 = boxMean(img, N, N, 6);
  for (let y = 0; y < N; y++)
    for (let x = 0; x < N; x++) {
      const i = ((y / CELL) | 0) * M + ((x / CELL) | 0);
      mean[i] = mean[i]! + img[y * N + x]! / (CELL * CELL);
      tex[i] = tex[i]! + (b2[y * N + x]! - b6[y * N + x]!) ** 2 / (CELL * CELL);
    }
  // the palm's texture scale: the median cell texture (RMS), so a step is judged against the lines
  const sortedTex = Array.from(tex).sort((p, q) => p - q);
  let best: CropMeasures['cover'] = { fraction: 0, step: 0, flatness: 0 };
  let bestScore = 0;
  const c = (M - 1) / 2;
  const palmTex = Math.sqrt(sortedTex[Math.floor(sortedTex.length / 2)]!) + 1e-9;
  const proj = new Float64Array(M * M);
  for (let ang = 0; ang < 360; ang += 5) {
    const nx = Math.cos((ang * Math.PI) / 180);
    const ny = Math.sin((ang * Math.PI) / 180);
    for (let y = 0; y < M; y++) for (let x = 0; x < M; x++) proj[y * M + x] = nx * (x - c) + ny * (y - c);
    for (let off = 0; off < M / 2; off += 2) {
      // region A: n . (p - c) > off, i.e. the side away from the centre; and the step across the
      // chord: cells within 1-2.5 cells of it on either side (one pass over the cells for both)
      let na = 0;
      let ta = 0;
      let tb = 0;
      let sNear = 0;
      let nNear = 0;
      let sFar = 0;
      let nFar = 0;
      for (let i = 0; i < M * M; i++) {
        const d = proj[i]! - off;
        if (d > 0) {
          na++;
          ta += tex[i]!;
        } else {
          tb += tex[i]!;
        }
        if (d > 1 && d <= 2.5) {
          sNear += mean[i]!;
          nNear++;
        } else if (d < -1 && d >= -2.5) {
          sFar += mean[i]!;
          nFar++;
        }
      }
      const frac = na / (M * M);
      if (frac < 0.15 || frac > 0.65) continue;
      if (nNear < 4 || nFar < 4) continue;
      // the step across the chord (grey) and the difference of the two sides, over the palm's texture
      const step = Math.abs(sNear / nNear - sFar / nFar) / palmTex;
      const texA = ta / na;
      const texB = tb / (M * M - na);
      const flatness = 1 - Math.sqrt(texA / Math.max(texB, 1e-9));
      const score = Math.max(0, flatness) * Math.min(1, step / 8);
      if (score > bestScore) {
        bestScore = score;
        best = { fraction: frac, step, flatness };
      }
    }
  }
  return best;
}

// ------------------------------------------------------------------------------ fingers

/**
 * Finger bands at the strongest side. For each side, the grey profile along it, averaged over a
 * strip 4-36 px deep, is high-passed (a 25 px running mean removed): swing = its RMS over the
 * RMS of the line-scale band of the whole crop. straight = correlation of the profiles of the
 * strip's near and far halves: bands running straight in from the side agree; palm lines that
 * cross the strip at a slant do not.
 */
function measureFingers(img: Float64Array): CropMeasures['fingers'] {
  const b2 = boxMean(img, N, N, 2);
  const b6 = boxMean(img, N, N, 6);
  let band = 0;
  for (let i = 0; i < N * N; i++) band += (b2[i]! - b6[i]!) ** 2;
  const bandRms = Math.sqrt(band / (N * N)) + 1e-9;
  const at = (s: number, t: number, d: number) =>
    s === 0
      ? img[d * N + t]!
      : s === 1
        ? img[t * N + (N - 1 - d)]!
        : s === 2
          ? img[(N - 1 - d) * N + t]!
          : img[t * N + d]!;
  const names = ['top', 'right', 'bottom', 'left'] as const;
  let best: CropMeasures['fingers'] = { side: 'top', swing: 0, straight: 0 };
  for (let s = 0; s < 4; s++) {
    const near = new Float64Array(N);
    const far = new Float64Array(N);
    for (let t = 0; t < N; t++) {
      let a = 0;
      let b = 0;
      for (let d = 4; d < 20; d++) a += at(s, t, d);
      for (let d = 20; d < 36; d++) b += at(s, t, d);
      near[t] = a / 16;
      far[t] = b / 16;
    }
    const hp = (p: Float64Array) => {
      const out = new Float64Array(N);
      for (let t = 0; t < N; t++) {
        let m = 0;
        let n = 0;
        for (let k = Math.max(0, t - 12); k <= Math.min(N - 1, t + 12); k++) {
          m += p[k]!;
          n++;
        }
        out[t] = p[t]! - m / n;
      }
      return out;
    };
    const hn = hp(near);
    const hf = hp(far);
    let snn = 0;
    let sff = 0;
    let snf = 0;
    for (let t = 12; t < N - 12; t++) {
      snn += hn[t]! ** 2;
      sff += hf[t]! ** 2;
      snf += hn[t]! * hf[t]!;
    }
    const count = N - 24;
    const swing = Math.sqrt((snn + sff) / (2 * count)) / bandRms;
    const straight = snn > 0 && sff > 0 ? snf / Math.sqrt(snn * sff) : 0;
    if (swing * Math.max(0, straight) > best.swing * Math.max(0, best.straight))
      best = { side: names[s]!, swing, straight };
  }
  return best;
}

// ------------------------------------------------------------------------------ motion blur

/**
 * Fine detail by direction, relative to coarser detail in the same direction. For each band (fine:
 * between a 3x3 and a 5x5 box mean, as focus in quality.ts; coarse: between the 5x5 and a 13x13)
 * a gradient tensor gives its energy along any direction; their ratio, taken every 15 degrees,
 * does not depend on how directional the palm's own lines are (they are in both bands alike),
 * while a motion blur removes the fine band along the motion much more than the coarse one.
 * balance = weakest ratio over strongest.
 */
function measureBlur(img: Float64Array): { balance: number; angleDeg: number } {
  const b1 = boxMean(img, N, N, 1);
  const b2 = boxMean(img, N, N, 2);
  const b6 = boxMean(img, N, N, 6);
  const tensor = (p: Float64Array, q: Float64Array) => {
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    for (let y = 8; y < N - 8; y++)
      for (let x = 8; x < N - 8; x++) {
        const i = y * N + x;
        const gx = (p[i + 1]! - q[i + 1]! - p[i - 1]! + q[i - 1]!) / 2;
        const gy = (p[i + N]! - q[i + N]! - p[i - N]! + q[i - N]!) / 2;
        sxx += gx * gx;
        syy += gy * gy;
        sxy += gx * gy;
      }
    return [sxx, syy, sxy] as const;
  };
  const fine = tensor(b1, b2);
  const coarse = tensor(b2, b6);
  let lo = Infinity;
  let hi = 0;
  let angleDeg = 0;
  for (let deg = 0; deg < 180; deg += 15) {
    const c = Math.cos((deg * Math.PI) / 180);
    const s = Math.sin((deg * Math.PI) / 180);
    const along = (t: readonly [number, number, number]) => c * c * t[0] + s * s * t[1] + 2 * c * s * t[2];
    const r = along(fine) / Math.max(along(coarse), 1e-9);
    if (r < lo) {
      lo = r;
      angleDeg = deg;
    }
    hi = Math.max(hi, r);
  }
  return { balance: hi > 0 ? lo / hi : 1, angleDeg };
}

/**
 * The measures of one normalised ROI: every one by default, or only those the faults in `only`
 * read (the others keep neutral values that no limit refuses): the turn and the motion-blur
 * measures cost most of the time and sign-in does not refuse on them.
 */
export function measureCrop(
  roi: GreyImage,
  layout: readonly number[] = PALM_LAYOUT,
  only: ReadonlySet<CropFault> = ALL_FAULTS,
): CropMeasures {
  const img = toSquare(roi);
  const turn = layout.length && only.has('rotated') ? measureTurn(img, layout) : { deg: 0, evidence: 0, fit: 0 };
  const blur = only.has('motion_blur') ? measureBlur(img) : { balance: 1, angleDeg: 0 };
  return {
    turnDeg: turn.deg,
    turnEvidence: turn.evidence,
    turnFit: turn.fit,
    cover: only.has('partial_palm') ? measureCover(img) : { fraction: 0, step: 0, flatness: 0 },
    fingers: only.has('fingers_in_view') ? measureFingers(img) : { side: 'top', swing: 0, straight: 0 },
    blurBalance: blur.balance,
    blurAngleDeg: blur.angleDeg,
  };
}

/**
 * The faults enrolment and sign-in refuse. Turned palms and motion blur are measured (the bench
 * reports them) but not refused: on the dev sets their checks catch under half of such crops while
 * refusing good crops from readers whose crops are turned (PolyU) or carry little skin texture.
 */
export const REFUSED_FAULTS: ReadonlySet<CropFault> = new Set(['fingers_in_view', 'partial_palm']);

/** Every fault the checks know, for the bench and tests that measure all of them. */
export const ALL_FAULTS: ReadonlySet<CropFault> = new Set([
  'fingers_in_view',
  'partial_palm',
  'motion_blur',
  'rotated',
]);

/** The first fault found among `faults`, with the message a person reads; null when the crop passes. */
export function cropFault(
  m: CropMeasures,
  faults: ReadonlySet<CropFault> = REFUSED_FAULTS,
): { fault: CropFault; message: string } | null {
  const L = CROP_LIMITS;
  if (faults.has('fingers_in_view') && m.fingers.swing >= L.minFingerSwing && m.fingers.straight >= L.minFingerStraight)
    return {
      fault: 'fingers_in_view',
      message: `fingers cover the palm (${m.fingers.side} of the image): open the hand flat, palm to the camera`,
    };
  if (
    faults.has('partial_palm') &&
    m.cover.flatness >= L.minCoverFlatness &&
    m.cover.step >= L.minCoverStep &&
    m.cover.fraction >= L.minCoverFraction
  )
    return {
      fault: 'partial_palm',
      message:
        `about ${Math.round(m.cover.fraction * 100)} % of the image is not palm (a sleeve, cuff or the background): ` +
        'show the whole palm, sleeve pulled back',
    };
  // after the covers: a flat cover's edge leaves the fine detail lopsided too
  if (faults.has('motion_blur') && m.blurBalance <= L.maxBlurBalance)
    return { fault: 'motion_blur', message: 'the palm moved during the capture: hold the hand still' };
  const turn = Math.abs(m.turnDeg);
  if (
    faults.has('rotated') &&
    turn >= L.minTurnDeg &&
    turn <= L.maxTurnDeg &&
    m.turnEvidence >= L.minTurnEvidence &&
    m.turnFit >= L.minTurnFit
  )
    return {
      fault: 'rotated',
      message: `the palm is turned (about ${turn} degrees): hold the hand upright, fingers up`,
    };
  return null;
}

/** Throws PalmImageError (the fault as its reason) when the normalised ROI is a failed crop. */
export function checkCrop(roi: GreyImage, faults: ReadonlySet<CropFault> = REFUSED_FAULTS): void {
  const found = cropFault(measureCrop(roi, PALM_LAYOUT, faults), faults);
  if (found) throw new PalmImageError(found.fault, found.message);
}
