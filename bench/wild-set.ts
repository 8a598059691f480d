/**
 * Building blocks of the in-the-wild robustness set (bench/wild.ts): the COEP dev hands cut from
 * their black cloth (coloured pegs removed by hue), laid on real photographs and textures that
 * Debian packages ship, and degraded as a webcam would see them (640x480, slight blur, JPEG 75,
 * light +-30 %). Everything random comes from a seeded generator keyed by (seed, condition, file),
 * so one seed always gives the same bytes, whatever else is made in the same run.
 *
 * Images are RGB, 8 bits, row-major, 3 bytes a pixel. A mask or alpha is one value a pixel.
 * Nothing here is product code: it lives in bench/ and writes only where its caller says.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';

export interface Rgb {
  width: number;
  height: number;
  /** 3 bytes a pixel, row-major */
  data: Uint8Array;
}

/** A background file and the Debian package that ships it (for the manifest and install hint). */
export interface BackgroundSource {
  file: string;
  pkg: string;
  /** what it looks like, for people reading the manifest */
  looks: string;
}

const MATE = '/usr/share/backgrounds/mate';
const GNOME = '/usr/share/backgrounds/gnome';

/** Real surfaces, all from Debian 12 packages (`apt-get install -y mate-backgrounds gnome-backgrounds`). */
export const BACKGROUNDS = {
  paleBoard: {
    file: `${MATE}/nature/Wood.jpg`,
    pkg: 'mate-backgrounds',
    looks: 'pale whitewashed boards (light wall)',
  },
  woodSlats: { file: `${GNOME}/wood-l.webp`, pkg: 'gnome-backgrounds', looks: 'light brown wood slats (desk)' },
  darkWood: { file: `${GNOME}/wood-d.webp`, pkg: 'gnome-backgrounds', looks: 'dark wood slats' },
  dots: { file: `${GNOME}/grid-l.webp`, pkg: 'gnome-backgrounds', looks: 'yellow and orange dots, skin-like hues' },
  truchet: { file: `${GNOME}/truchet-l.webp`, pkg: 'gnome-backgrounds', looks: 'orange and beige curved tiles' },
  symbols: { file: `${GNOME}/symbolic-l.webp`, pkg: 'gnome-backgrounds', looks: 'green with small symbols' },
  pixels: { file: `${GNOME}/pixels-l.webp`, pkg: 'gnome-backgrounds', looks: 'beige with coloured icons' },
  grass: { file: `${MATE}/nature/Aqua.jpg`, pkg: 'mate-backgrounds', looks: 'green leaf close-up' },
  dune: { file: `${MATE}/nature/Dune.jpg`, pkg: 'mate-backgrounds', looks: 'dry grass, sea and sky' },
  leaves: { file: `${MATE}/nature/Blinds.jpg`, pkg: 'mate-backgrounds', looks: 'green leaves with drops' },
  drop: { file: `${MATE}/nature/RainDrops.jpg`, pkg: 'mate-backgrounds', looks: 'grey-blue water splash' },
  storm: { file: `${MATE}/nature/Storm.jpg`, pkg: 'mate-backgrounds', looks: 'road under a storm sky' },
  silk: { file: `${MATE}/abstract/Silk.png`, pkg: 'mate-backgrounds', looks: 'grey silk folds' },
  stripes: { file: `${MATE}/desktop/Stripes.png`, pkg: 'mate-backgrounds', looks: 'dark grey stripes' },
  white: { file: `${MATE}/desktop/GreenTraditional.jpg`, pkg: 'mate-backgrounds', looks: 'white with a green logo' },
} satisfies Record<string, BackgroundSource>;

export type BackgroundName = keyof typeof BACKGROUNDS;

export interface Condition {
  name: string;
  description: string;
  /** 'cloth': the original photo (cloth and pegs); 'black': uniform black; else real surfaces */
  surface: 'cloth' | 'black' | BackgroundName[];
}

/** The conditions, each a folder of ID_SAMPLE.jpg. All get the webcam degradations. */
export const CONDITIONS: Condition[] = [
  { name: 'webcam', description: 'the original photo (black cloth, pegs), webcam quality only', surface: 'cloth' },
  { name: 'black', description: 'hand cut out, pegs removed, on uniform black (no rig)', surface: 'black' },
  { name: 'light-wall', description: 'on a pale whitewashed wall', surface: ['paleBoard'] },
  { name: 'wood-desk', description: 'on a light wood desk', surface: ['woodSlats'] },
  { name: 'bright-pattern', description: 'on bright orange/yellow patterns', surface: ['dots', 'truchet'] },
  {
    name: 'mixed',
    description: 'on one of 15 real surfaces, drawn per image',
    surface: Object.keys(BACKGROUNDS) as BackgroundName[],
  },
];

// ---------------------------------------------------------------- seeded randomness

/** sfc32 seeded from sha256 of the key: independent streams per (seed, condition, file). */
export function rngFor(key: string): () => number {
  const h = createHash('sha256').update(key).digest();
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  return () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

const uniform = (rng: () => number, lo: number, hi: number) => lo + (hi - lo) * rng();

// ---------------------------------------------------------------- hand mask

/** Max (dilate) or min (erode) over a (2r+1)^2 square, separable. */
function morph(m: Uint8Array, w: number, h: number, r: number, dilate: boolean): Uint8Array {
  if (r <= 0) return m.slice();
  const tmp = new Uint8Array(m.length);
  const out = new Uint8Array(m.length);
  const pick = dilate ? Math.max : Math.min;
  const edge = dilate ? 0 : 1; // outside the image: nothing to grow from, nothing that erodes
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let v = m[y * w + x]!;
      for (let k = 1; k <= r; k++) {
        v = pick(v, x - k >= 0 ? m[y * w + x - k]! : edge, x + k < w ? m[y * w + x + k]! : edge);
      }
      tmp[y * w + x] = v;
    }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let v = tmp[y * w + x]!;
      for (let k = 1; k <= r; k++) {
        v = pick(v, y - k >= 0 ? tmp[(y - k) * w + x]! : edge, y + k < h ? tmp[(y + k) * w + x]! : edge);
      }
      out[y * w + x] = v;
    }
  return out;
}

/** Labels 8-connected components of m (1 = set); returns the mask of the largest one. */
function largestComponent(m: Uint8Array, w: number, h: number): Uint8Array {
  const label = new Int32Array(m.length);
  const queue = new Int32Array(m.length);
  let best = 0;
  let bestSize = 0;
  let next = 0;
  for (let s = 0; s < m.length; s++) {
    if (!m[s] || label[s]) continue;
    next++;
    let head = 0;
    let tail = 0;
    queue[tail++] = s;
    label[s] = next;
    while (head < tail) {
      const p = queue[head++]!;
      const px = p % w;
      const py = (p - px) / w;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const x = px + dx;
          const y = py + dy;
          if (x < 0 || y < 0 || x >= w || y >= h) continue;
          const q = y * w + x;
          if (m[q] && !label[q]) {
            label[q] = next;
            queue[tail++] = q;
          }
        }
    }
    if (tail > bestSize) {
      bestSize = tail;
      best = next;
    }
  }
  const out = new Uint8Array(m.length);
  for (let i = 0; i < m.length; i++) out[i] = label[i] === best && best > 0 ? 1 : 0;
  return out;
}

/**
 * Fills regions of 0 smaller than maxArea that do not reach the image border: dark creases and
 * shadows inside the palm. A larger enclosed region is cloth seen between touching fingers.
 */
function fillHoles(m: Uint8Array, w: number, h: number, maxArea: number): Uint8Array {
  const out = m.slice();
  const seen = new Uint8Array(m.length);
  const queue = new Int32Array(m.length);
  for (let s = 0; s < m.length; s++) {
    if (m[s] || seen[s]) continue;
    let tail = 0;
    let border = false;
    queue[tail++] = s;
    seen[s] = 1;
    for (let head = 0; head < tail; head++) {
      const p = queue[head]!;
      const x = p % w;
      const y = (p - x) / w;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) border = true;
      for (const q of [x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, y > 0 ? p - w : -1, y < h - 1 ? p + w : -1])
        if (q >= 0 && !m[q] && !seen[q]) {
          seen[q] = 1;
          queue[tail++] = q;
        }
    }
    if (!border && tail <= maxArea) for (let k = 0; k < tail; k++) out[queue[k]!] = 1;
  }
  return out;
}

/**
 * Pixels of the rig's coloured pegs (blue, green, yellow): saturated and of a hue that skin
 * never has (skin and a red bracelet sit between magenta and orange).
 */
export function pegMask(img: Rgb): Uint8Array {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const r = data[3 * i]!;
    const g = data[3 * i + 1]!;
    const b = data[3 * i + 2]!;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    if (max < 40 || max - min < 0.3 * max) continue;
    let hue: number;
    const d = max - min;
    if (max === r) hue = (60 * ((g - b) / d) + 360) % 360;
    else if (max === g) hue = 60 * ((b - r) / d) + 120;
    else hue = 60 * ((r - g) / d) + 240;
    if (hue > 42 && hue < 300) out[i] = 1;
  }
  return out;
}

export interface HandCut {
  /** the photo with the pegs that lay over the hand painted over in skin (the rest as taken) */
  image: Rgb;
  /** the hand's binary mask, pegs excluded */
  mask: Uint8Array;
  /** the feathered alpha (0..1) used for compositing */
  alpha: Float32Array;
  /** pixels the pegs covered (dilated), for tests and debugging */
  pegs: Uint8Array;
}

/**
 * Cuts the hand from the dark cloth: bright, reddish pixels (skin, not the grey cloth) that are not pegs,
 * cleaned by morphology, the largest component with its holes filled, then eroded by a pixel (the
 * dark fringe of the cloth) and feathered. Pegs that bite into a finger's outline are given back
 * to the hand (see restoreUnderPegs), so the finger valleys are not notched where the rig was.
 */
export function cutHand(img: Rgb): HandCut {
  const { width: w, height: h, data } = img;
  const n = w * h;
  // the peg's own highlight and shading are unsaturated: grow the peg mask over them
  const pegs = morph(pegMask(img), w, h, 4, true);
  const bright = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = data[3 * i]!;
    const y = 0.299 * r + 0.587 * data[3 * i + 1]! + 0.114 * data[3 * i + 2]!;
    // Skin is brighter than the cloth and red over blue even in shade; the cloth is neutral grey
    // where a brighter exposure or a fold's highlight lifts it over the brightness floor.
    bright[i] = y > 55 && r - data[3 * i + 2]! > 0.15 * y && !pegs[i] ? 1 : 0;
  }
  let m = morph(morph(bright, w, h, 2, false), w, h, 2, true); // open: specks of lint, cloth highlights
  m = largestComponent(m, w, h);
  m = morph(morph(m, w, h, 2, true), w, h, 2, false); // close: small notches along the outline
  m = fillHoles(m, w, h, Math.round(0.002 * n));
  for (let i = 0; i < n; i++) if (pegs[i]) m[i] = 0;
  const image = { width: w, height: h, data: data.slice() };
  restoreUnderPegs(image, m, pegs);
  const mask = m;
  const inner = morph(mask, w, h, 1, false);
  const alpha = new Float32Array(n);
  for (let i = 0; i < n; i++) alpha[i] = inner[i]!;
  boxBlur(alpha, w, h, 1);
  boxBlur(alpha, w, h, 1);
  return { image, mask, alpha, pegs };
}

/**
 * The COEP fingers point left, so a peg beside a finger interrupts it along the row: where a row's
 * run of peg pixels has hand on both sides (within PEG_SPAN) it was lying over the finger's edge;
 * that run becomes hand, its colour interpolated between the two sides. A peg in the gap between
 * fingers has the cloth on its left and stays out. Changes mask and image in place.
 */
function restoreUnderPegs(image: Rgb, mask: Uint8Array, pegs: Uint8Array): void {
  const PEG_SPAN = 48;
  const { width: w, height: h, data } = image;
  for (let y = 0; y < h; y++) {
    let x = 0;
    while (x < w) {
      if (!pegs[y * w + x]) {
        x++;
        continue;
      }
      const x0 = x;
      while (x < w && pegs[y * w + x]) x++;
      const l = x0 - 1;
      const r = x;
      if (l < 0 || r >= w || r - l > PEG_SPAN || !mask[y * w + l] || !mask[y * w + r]) continue;
      for (let k = x0; k < r; k++) {
        const t = (k - l) / (r - l);
        const i = y * w + k;
        mask[i] = 1;
        for (let c = 0; c < 3; c++)
          data[3 * i + c] = Math.round((1 - t) * data[3 * (y * w + l) + c]! + t * data[3 * (y * w + r) + c]!);
      }
    }
  }
}

/** In-place box blur of radius r (separable, clamped edges). */
function boxBlur(a: Float32Array, w: number, h: number, r: number): void {
  const tmp = new Float32Array(a.length);
  const k = 2 * r + 1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += a[y * w + Math.min(w - 1, Math.max(0, x + d))]!;
      tmp[y * w + x] = s / k;
    }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += tmp[Math.min(h - 1, Math.max(0, y + d)) * w + x]!;
      a[y * w + x] = s / k;
    }
}

// ---------------------------------------------------------------- placement and compositing

export interface Placement {
  scale: number;
  angleDeg: number;
  /** shift in pixels of the source image, after scaling and turning about the hand's centre */
  dx: number;
  dy: number;
}

/**
 * A small random placement: the hand turned and scaled about its centre, shifted a little. The
 * COEP hands enter from the right edge (the wrist); composite() continues the forearm to that
 * edge, and the hand only moves right so that the arm never ends inside the frame.
 */
export function randomPlacement(rng: () => number, w: number, h: number): Placement {
  return {
    scale: uniform(rng, 0.88, 1.05),
    angleDeg: uniform(rng, -8, 8),
    dx: uniform(rng, 0, 0.04 * w),
    dy: uniform(rng, -0.05 * h, 0.05 * h),
  };
}

/** The hand's centre: the mean of its mask's pixels. */
function maskCentre(mask: Uint8Array, w: number, h: number): { x: number; y: number } {
  let sx = 0;
  let sy = 0;
  let c = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (mask[y * w + x]) {
        sx += x;
        sy += y;
        c++;
      }
  return c ? { x: sx / c, y: sy / c } : { x: w / 2, y: h / 2 };
}

/**
 * Lays the cut hand (image, alpha) on the background (same size) after the placement. Sampling past
 * the right edge repeats the last column, so the forearm continues when the hand is turned or
 * shrunk; elsewhere outside the source the hand is absent.
 */
export function composite(cut: HandCut, bg: Rgb, p: Placement): Rgb {
  const { width: w, height: h } = cut.image;
  if (bg.width !== w || bg.height !== h) throw new Error('background size differs');
  const pivot = maskCentre(cut.mask, w, h);
  const th = (p.angleDeg * Math.PI) / 180;
  const cos = Math.cos(th) / p.scale;
  const sin = Math.sin(th) / p.scale;
  const out = new Uint8Array(w * h * 3);
  const src = cut.image.data;
  const alpha = cut.alpha;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      // inverse map: out = pivot + d + s R(th) (in - pivot)  =>  in = pivot + R(-th)/s (out - pivot - d)
      const ux = x - pivot.x - p.dx;
      const uy = y - pivot.y - p.dy;
      let sx = pivot.x + cos * ux + sin * uy;
      const sy = pivot.y - sin * ux + cos * uy;
      const o = 3 * (y * w + x);
      let a = 0;
      let r = 0;
      let g = 0;
      let b = 0;
      if (sx > w - 1) sx = w - 1;
      if (sx >= 0 && sy >= 0 && sy <= h - 1) {
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const x1 = Math.min(w - 1, x0 + 1);
        const y1 = Math.min(h - 1, y0 + 1);
        const fx = sx - x0;
        const fy = sy - y0;
        const w00 = (1 - fx) * (1 - fy);
        const w10 = fx * (1 - fy);
        const w01 = (1 - fx) * fy;
        const w11 = fx * fy;
        const i00 = y0 * w + x0;
        const i10 = y0 * w + x1;
        const i01 = y1 * w + x0;
        const i11 = y1 * w + x1;
        // premultiplied: the cloth's colour under a partly transparent edge pixel does not bleed in
        const a00 = alpha[i00]! * w00;
        const a10 = alpha[i10]! * w10;
        const a01 = alpha[i01]! * w01;
        const a11 = alpha[i11]! * w11;
        a = a00 + a10 + a01 + a11;
        if (a > 0) {
          r = (src[3 * i00]! * a00 + src[3 * i10]! * a10 + src[3 * i01]! * a01 + src[3 * i11]! * a11) / a;
          g =
            (src[3 * i00 + 1]! * a00 + src[3 * i10 + 1]! * a10 + src[3 * i01 + 1]! * a01 + src[3 * i11 + 1]! * a11) / a;
          b =
            (src[3 * i00 + 2]! * a00 + src[3 * i10 + 2]! * a10 + src[3 * i01 + 2]! * a01 + src[3 * i11 + 2]! * a11) / a;
        }
      }
      out[o] = Math.round(a * r + (1 - a) * bg.data[o]!);
      out[o + 1] = Math.round(a * g + (1 - a) * bg.data[o + 1]!);
      out[o + 2] = Math.round(a * b + (1 - a) * bg.data[o + 2]!);
    }
  return { width: w, height: h, data: out };
}

// ---------------------------------------------------------------- backgrounds

export interface BackgroundCrop {
  left: number;
  top: number;
  width: number;
  height: number;
  flip: boolean;
}

/** A decoded background, reduced so that a 4096-pixel texture is not decoded per image. */
export interface LoadedBackground {
  name: BackgroundName;
  image: Rgb;
}

export async function loadBackground(name: BackgroundName, maxSide = 2048): Promise<LoadedBackground> {
  const { data, info } = await sharp(BACKGROUNDS[name].file)
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { name, image: { width: info.width, height: info.height, data: new Uint8Array(data) } };
}

/** A random crop of the target's aspect, 45-80 % of the background's width, maybe mirrored. */
export function randomCrop(rng: () => number, bg: Rgb, w: number, h: number): BackgroundCrop {
  const aspect = w / h;
  const maxW = Math.min(bg.width, Math.floor(bg.height * aspect));
  const cw = Math.max(8, Math.round(maxW * uniform(rng, 0.45, 0.8)));
  const ch = Math.max(6, Math.round(cw / aspect));
  return {
    left: Math.floor(rng() * (bg.width - cw + 1)),
    top: Math.floor(rng() * (bg.height - ch + 1)),
    width: cw,
    height: ch,
    flip: rng() < 0.5,
  };
}

export async function backgroundImage(bg: Rgb, crop: BackgroundCrop, w: number, h: number): Promise<Rgb> {
  let s = sharp(Buffer.from(bg.data.buffer, bg.data.byteOffset, bg.data.length), {
    raw: { width: bg.width, height: bg.height, channels: 3 },
  }).extract({ left: crop.left, top: crop.top, width: crop.width, height: crop.height });
  if (crop.flip) s = s.flop();
  const data = await s.resize(w, h, { fit: 'fill' }).raw().toBuffer();
  return { width: w, height: h, data: new Uint8Array(data) };
}

export function uniformImage(w: number, h: number, v: number): Rgb {
  return { width: w, height: h, data: new Uint8Array(w * h * 3).fill(v) };
}

// ---------------------------------------------------------------- webcam

export interface Webcam {
  /** light: every pixel times this (0.7..1.3) */
  gain: number;
  /** Gaussian blur sigma after the resize to 640x480 */
  blurSigma: number;
}

export function randomWebcam(rng: () => number): Webcam {
  return { gain: uniform(rng, 0.7, 1.3), blurSigma: uniform(rng, 0.6, 1.2) };
}

/** The scene as a webcam sends it: light changed, 640x480, slightly blurred, JPEG quality 75. */
export async function webcamJpeg(scene: Rgb, cam: Webcam): Promise<Buffer> {
  const lit = new Uint8Array(scene.data.length);
  for (let i = 0; i < lit.length; i++) lit[i] = Math.min(255, Math.round(scene.data[i]! * cam.gain));
  return sharp(Buffer.from(lit.buffer), { raw: { width: scene.width, height: scene.height, channels: 3 } })
    .resize(640, 480, { fit: 'fill' })
    .blur(cam.blurSigma)
    .jpeg({ quality: 75 })
    .toBuffer();
}

export async function decodeRgb(bytes: Uint8Array | string): Promise<Rgb> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

// ---------------------------------------------------------------- one image

export interface MadeImage {
  jpeg: Buffer;
  /** what the manifest records about this image */
  record: {
    background: string | null;
    package: string | null;
    crop?: BackgroundCrop;
    placement?: Placement;
    webcam: Webcam;
  };
}

/**
 * One image of one condition. `backgrounds` holds the decoded surfaces the condition draws from
 * (empty for 'cloth' and 'black'); the random stream is keyed by seed, condition and file name.
 */
export async function makeImage(
  source: Rgb,
  cut: HandCut | null,
  condition: Condition,
  backgrounds: Map<BackgroundName, LoadedBackground>,
  seed: number,
  fileName: string,
): Promise<MadeImage> {
  const rng = rngFor(`${seed}/${condition.name}/${fileName}`);
  const { width: w, height: h } = source;
  if (condition.surface === 'cloth') {
    const webcam = randomWebcam(rng);
    return { jpeg: await webcamJpeg(source, webcam), record: { background: null, package: null, webcam } };
  }
  if (!cut) throw new Error('a cut hand is needed');
  let bg: Rgb;
  let background: string | null = null;
  let pkg: string | null = null;
  let crop: BackgroundCrop | undefined;
  if (condition.surface === 'black') bg = uniformImage(w, h, 0);
  else {
    const names = condition.surface;
    const name = names[Math.floor(rng() * names.length)]!;
    const loaded = backgrounds.get(name);
    if (!loaded) throw new Error(`background ${name} not loaded`);
    crop = randomCrop(rng, loaded.image, w, h);
    bg = await backgroundImage(loaded.image, crop, w, h);
    background = BACKGROUNDS[name].file;
    pkg = BACKGROUNDS[name].pkg;
  }
  const placement = randomPlacement(rng, w, h);
  const webcam = randomWebcam(rng);
  const scene = composite(cut, bg, placement);
  return { jpeg: await webcamJpeg(scene, webcam), record: { background, package: pkg, crop, placement, webcam } };
}
