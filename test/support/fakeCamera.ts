/**
 * Chromium with a fake camera for the browser tests: a Y4M video (written at test time under a
 * temporary folder, deleted by the tests) that films a still, and the launch flags that make
 * Chromium read it instead of a device, without a permission prompt.
 */
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import sharp from 'sharp';

export const CHROMIUM = process.env.PALMID_CHROMIUM ?? '/usr/bin/chromium';

/** An RGB picture (3 bytes a pixel, rows top to bottom), as the helpers below pass it around. */
export interface Picture {
  rgb: Buffer;
  width: number;
  height: number;
}

/** One picture in I420 (BT.601, studio range), as Chromium's fake camera reads a Y4M frame. */
function i420(picture: Picture): Buffer {
  const { rgb, width } = picture;
  const w = picture.width & ~1;
  const h = picture.height & ~1;
  const at = (x: number, y: number) => (y * width + x) * 3;
  const out = Buffer.alloc(w * h + 2 * (w / 2) * (h / 2));
  const U = w * h;
  const V = U + (w / 2) * (h / 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = at(x, y);
      out[y * w + x] = Math.round(16 + 0.257 * rgb[i]! + 0.504 * rgb[i + 1]! + 0.098 * rgb[i + 2]!);
    }
  }
  for (let y = 0; y < h / 2; y++) {
    for (let x = 0; x < w / 2; x++) {
      let [r, g, b] = [0, 0, 0];
      for (const [dx, dy] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ] as const) {
        const i = at(2 * x + dx, 2 * y + dy);
        r += rgb[i]! / 4;
        g += rgb[i + 1]! / 4;
        b += rgb[i + 2]! / 4;
      }
      out[U + y * (w / 2) + x] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
      out[V + y * (w / 2) + x] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
    }
  }
  return out;
}

/**
 * A Y4M video whose frames are `frames` in order, each shown `repeat` times, at `fps` frames per
 * second (Chromium plays the file at that rate and starts over at its end). All pictures must
 * have the same size. Frames are converted and written one at a time (a long video stays small
 * in memory).
 */
export function writeY4mSequence(
  frames: readonly Picture[],
  file: string,
  { repeat = 1, fps = 10 }: { repeat?: number; fps?: number } = {},
): void {
  if (frames.length === 0) throw new Error('writeY4mSequence: no frames');
  const { width, height } = frames[0]!;
  if (frames.some((f) => f.width !== width || f.height !== height))
    throw new Error('writeY4mSequence: every frame must have the same size');
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, `YUV4MPEG2 W${width & ~1} H${height & ~1} F${fps}:1 Ip A1:1 C420jpeg\n`);
    for (const frame of frames) {
      const data = i420(frame);
      for (let n = 0; n < repeat; n++) {
        fs.writeSync(fd, 'FRAME\n');
        fs.writeSync(fd, data);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A few identical I420 frames of an RGB picture (BT.601), as Chromium's fake camera reads them. */
export function writeY4m(rgb: Buffer, width: number, height: number, file: string): void {
  writeY4mSequence([{ rgb, width, height }], file, { repeat: 3 });
}

/** A photo as an RGB picture (alpha dropped), at its own size. */
export async function loadPicture(image: string): Promise<Picture> {
  const { data, info } = await sharp(image)
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { rgb: data, width: info.width, height: info.height };
}

const rawInput = (p: Picture) => ({ raw: { width: p.width, height: p.height, channels: 3 as const } });

/** The colour to fill with where a moved or shrunk picture leaves the frame empty: the mean of its top-left 8×8 corner. */
export function backgroundOf(picture: Picture): [number, number, number] {
  const sum = [0, 0, 0];
  for (let y = 0; y < 8; y++)
    for (let x = 0; x < 8; x++) for (let c = 0; c < 3; c++) sum[c]! += picture.rgb[(y * picture.width + x) * 3 + c]!;
  return sum.map((s) => Math.round(s / 64)) as [number, number, number];
}

/**
 * The picture seen from nearer or further, in a frame of the same size: `scale` < 1 shrinks it
 * into the middle of a frame filled with its background (further), `scale` > 1 enlarges it and
 * keeps the middle (nearer; what leaves the frame is cut off, as on a camera).
 */
export async function scaledPicture(picture: Picture, scale: number): Promise<Picture> {
  const { width, height } = picture;
  const w = Math.max(2, Math.round(width * scale));
  const h = Math.max(2, Math.round(height * scale));
  const resized = sharp(picture.rgb, rawInput(picture)).resize(w, h, { fit: 'fill' });
  let out: Buffer;
  if (scale >= 1) {
    out = await resized
      .extract({ left: Math.floor((w - width) / 2), top: Math.floor((h - height) / 2), width, height })
      .raw()
      .toBuffer();
  } else {
    const [r, g, b] = backgroundOf(picture);
    out = await sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
      .composite([
        {
          input: await resized.raw().toBuffer(),
          raw: { width: w, height: h, channels: 3 },
          left: Math.round((width - w) / 2),
          top: Math.round((height - h) / 2),
        },
      ])
      .removeAlpha()
      .raw()
      .toBuffer();
  }
  return { rgb: out, width, height };
}

/** The same scene in less light: every channel times `factor` (0-1), as a camera that cannot expose for it. */
export function dimmedPicture(picture: Picture, factor: number): Picture {
  const rgb = Buffer.alloc(picture.rgb.length);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.round(picture.rgb[i]! * factor);
  return { ...picture, rgb };
}

/**
 * The picture mirrored left to right (`mirror`: a right hand becomes a left one) and/or turned
 * in its plane by `rotate` degrees (clockwise; corners filled with the background), same size.
 */
export async function turnedPicture(
  picture: Picture,
  { mirror = false, rotate = 0 }: { mirror?: boolean; rotate?: number },
): Promise<Picture> {
  const [r, g, b] = backgroundOf(picture);
  let image = sharp(picture.rgb, rawInput(picture));
  if (mirror) image = image.flop();
  if (rotate) {
    const turned = await image.rotate(rotate, { background: { r, g, b } }).raw().toBuffer({ resolveWithObject: true });
    const { width, height } = picture;
    const out = await sharp(
      turned.data,
      rawInput({ rgb: turned.data, width: turned.info.width, height: turned.info.height }),
    )
      .extract({
        left: Math.floor((turned.info.width - width) / 2),
        top: Math.floor((turned.info.height - height) / 2),
        width,
        height,
      })
      .raw()
      .toBuffer();
    return { rgb: out, width, height };
  }
  return { ...picture, rgb: await image.raw().toBuffer() };
}

/** The picture moved rigidly by (dx, dy) pixels in a frame of the same size, the uncovered part filled with its background. */
export function shiftedPicture(picture: Picture, dx: number, dy: number): Picture {
  const { width, height } = picture;
  const [r, g, b] = backgroundOf(picture);
  const rgb = Buffer.alloc(picture.rgb.length);
  const ox = Math.round(dx);
  const oy = Math.round(dy);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = x - ox;
      const sy = y - oy;
      const o = (y * width + x) * 3;
      if (sx < 0 || sy < 0 || sx >= width || sy >= height) {
        rgb[o] = r;
        rgb[o + 1] = g;
        rgb[o + 2] = b;
      } else picture.rgb.copy(rgb, o, (sy * width + sx) * 3, (sy * width + sx) * 3 + 3);
    }
  }
  return { rgb, width, height };
}

/**
 * A still held in a shaking hand: `count` copies of the picture moved rigidly to points spread
 * round a circle of `radius` pixels, in an order that jumps across it (consecutive frames are
 * never close, and no two frames share a place), so any two distinct frames differ by a clear
 * move. Nothing but the position changes: the same still, replayed while moved.
 */
export function shakenPictures(picture: Picture, radius: number, count = 8): Picture[] {
  // A step round the circle of about 3/8 of a turn, prime to `count`: every place, far jumps.
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  let step = Math.max(1, Math.round((3 * count) / 8));
  while (gcd(step, count) !== 1) step++;
  const out: Picture[] = [];
  for (let k = 0; k < count; k++) {
    const angle = (2 * Math.PI * ((k * step) % count)) / count;
    out.push(shiftedPicture(picture, radius * Math.cos(angle), radius * Math.sin(angle)));
  }
  return out;
}

/**
 * The still moved round a circle of `radius` pixels, one step a frame, `count` frames a turn:
 * a hand carried round steadily (every frame moved the same distance from the last, and the
 * move between two frames grows with the time between them up to half a turn, whatever the
 * phase: there is no turning point where it stands still).
 */
export function circlingPictures(picture: Picture, radius: number, count = 32): Picture[] {
  const out: Picture[] = [];
  for (let k = 0; k < count; k++) {
    const angle = (2 * Math.PI * k) / count;
    out.push(shiftedPicture(picture, radius * Math.cos(angle), radius * Math.sin(angle)));
  }
  return out;
}

/**
 * The picture moved so that the hand's pixels (brighter than the background, as on the COEP
 * photos' dark cloth) are centred in the frame, leaving room to move it around.
 */
export function centredPicture(picture: Picture): Picture {
  const { width, height } = picture;
  const [br, bg, bb] = backgroundOf(picture);
  const threshold = 0.299 * br + 0.587 * bg + 0.114 * bb + 40;
  let [sx, sy, n] = [0, 0, 0];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      if (0.299 * picture.rgb[i]! + 0.587 * picture.rgb[i + 1]! + 0.114 * picture.rgb[i + 2]! > threshold) {
        sx += x;
        sy += y;
        n++;
      }
    }
  return n ? shiftedPicture(picture, width / 2 - sx / n, height / 2 - sy / n) : picture;
}

/**
 * The picture as a flat card turned away from the camera by `degrees` about its vertical axis
 * (`axis: 'vertical'`, the right side going away) or its horizontal axis (the top going away),
 * through the frame's centre, seen by a pinhole camera of focal length `focal` pixels (default:
 * the frame's width, a usual webcam's field of view): a true perspective warp, bilinear, the rest
 * of the frame filled with the background. A photo of a palm turned this way is a palm tilted
 * this way, up to the fingers' relief.
 */
export function tiltedPicture(
  picture: Picture,
  degrees: number,
  { axis = 'vertical', focal }: { axis?: 'vertical' | 'horizontal'; focal?: number } = {},
): Picture {
  const { width, height } = picture;
  const f = focal ?? width;
  const theta = (degrees * Math.PI) / 180;
  const [cos, sin] = [Math.cos(theta), Math.sin(theta)];
  const [br, bg, bb] = backgroundOf(picture);
  const rgb = Buffer.alloc(picture.rgb.length);
  const cx = width / 2;
  const cy = height / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // The ray through this pixel meets the turned card at (s, t) in the card's own pixels:
      // card points (s cos, t, f + s sin) project to u = f s cos / (f + s sin), v = f t / (f + s sin).
      const u = axis === 'vertical' ? x - cx : y - cy;
      const v = axis === 'vertical' ? y - cy : x - cx;
      const denominator = f * cos - u * sin;
      const o = (y * width + x) * 3;
      let painted = false;
      if (denominator > 0) {
        const s = (u * f) / denominator;
        const t = (v * (f + s * sin)) / f;
        const sx = (axis === 'vertical' ? s : t) + cx;
        const sy = (axis === 'vertical' ? t : s) + cy;
        if (sx >= 0 && sy >= 0 && sx < width - 1 && sy < height - 1) {
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const fx = sx - x0;
          const fy = sy - y0;
          for (let c = 0; c < 3; c++) {
            const p = (yy: number, xx: number) => picture.rgb[(yy * width + xx) * 3 + c]!;
            rgb[o + c] = Math.round(
              (1 - fy) * ((1 - fx) * p(y0, x0) + fx * p(y0, x0 + 1)) +
                fy * ((1 - fx) * p(y0 + 1, x0) + fx * p(y0 + 1, x0 + 1)),
            );
          }
          painted = true;
        }
      }
      if (!painted) {
        rgb[o] = br;
        rgb[o + 1] = bg;
        rgb[o + 2] = bb;
      }
    }
  }
  return { rgb, width, height };
}

/**
 * The fingers drawn together: a warp for the COEP photos (a hand lying with its fingers towards
 * the frame's left, wrist to the right). Left of `from` (fraction of the width), rows are pulled
 * towards the hand's axis, the more the further left, down to `squeeze` of their distance at
 * `to` (fraction of the width) and beyond; the rest is untouched. The axis is the mean row of the hand's pixels
 * (brighter than the background) right of `from`. The fingers end up side by side, thinner
 * than they were, the palm as it was: a synthetic "fingers closed", not a photo of one.
 */
export function fingersTogetherPicture(
  picture: Picture,
  { squeeze = 0.5, from = 0.55, to = 0.2 }: { squeeze?: number; from?: number; to?: number } = {},
): Picture {
  const { width, height } = picture;
  const [br, bg, bb] = backgroundOf(picture);
  const luma = (i: number) => 0.299 * picture.rgb[i]! + 0.587 * picture.rgb[i + 1]! + 0.114 * picture.rgb[i + 2]!;
  const backgroundLuma = 0.299 * br + 0.587 * bg + 0.114 * bb;
  const fromX = Math.round(from * width);
  const toX = Math.round(to * width);
  let rows = 0;
  let count = 0;
  for (let y = 0; y < height; y++)
    for (let x = fromX; x < width; x++)
      if (luma((y * width + x) * 3) > backgroundLuma + 40) {
        rows += y;
        count++;
      }
  const axis = count ? rows / count : height / 2;
  const rgb = Buffer.alloc(picture.rgb.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const k = x >= fromX ? 1 : 1 - (1 - squeeze) * Math.min(1, (fromX - x) / (fromX - toX));
      const sy = Math.round(axis + (y - axis) / k);
      if (sy < 0 || sy >= height) {
        rgb[o] = br;
        rgb[o + 1] = bg;
        rgb[o + 2] = bb;
      } else picture.rgb.copy(rgb, o, (sy * width + x) * 3, (sy * width + x) * 3 + 3);
    }
  }
  return { rgb, width, height };
}

/** A video of a photo, as it is. */
export async function photoVideo(image: string, file: string): Promise<void> {
  const picture = await loadPicture(image);
  writeY4m(picture.rgb, picture.width, picture.height, file);
}

/**
 * A video of a photo shrunk to `scale` of its size, in the middle of a frame of the photo's size
 * filled with its darkest corner's colour: the same hand, further from the camera.
 */
export async function distantPhotoVideo(image: string, file: string, scale: number): Promise<void> {
  const picture = await scaledPicture(await loadPicture(image), scale);
  writeY4m(picture.rgb, picture.width, picture.height, file);
}

/** A video of an empty scene: a plain, slightly textured surface, no hand. */
export function emptySceneVideo(file: string, width = 800, height = 600): void {
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // A soft gradient with a faint weave: a wall or a desk, nothing hand-like.
      const v = 150 + Math.round(40 * (x / width)) + ((x ^ y) & 4 ? 6 : 0);
      const i = (y * width + x) * 3;
      rgb[i] = v;
      rgb[i + 1] = v - 10;
      rgb[i + 2] = v - 25;
    }
  }
  writeY4m(rgb, width, height, file);
}

/** Headless Chromium whose camera films `video`. */
export function launchWithCamera(video: string, extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      // The camera: a video file instead of a device, and no permission prompt.
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-video-capture=${video}`,
      ...extraArgs,
    ],
  });
}
