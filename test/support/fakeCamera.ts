/**
 * Chromium with a fake camera for the browser tests: a Y4M video (written at test time under a
 * temporary folder, deleted by the tests) that films a still, and the launch flags that make
 * Chromium read it instead of a device, without a permission prompt.
 */
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import sharp from 'sharp';

export const CHROMIUM = process.env.PALMID_CHROMIUM ?? '/usr/bin/chromium';

/** A few identical I420 frames of an RGB picture (BT.601), as Chromium's fake camera reads them. */
export function writeY4m(rgb: Buffer, width: number, height: number, file: string): void {
  const w = width & ~1;
  const h = height & ~1;
  const at = (x: number, y: number) => (y * width + x) * 3;
  const Y = Buffer.alloc(w * h);
  const U = Buffer.alloc((w / 2) * (h / 2));
  const V = Buffer.alloc((w / 2) * (h / 2));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = at(x, y);
      Y[y * w + x] = Math.round(16 + 0.257 * rgb[i]! + 0.504 * rgb[i + 1]! + 0.098 * rgb[i + 2]!);
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
      U[y * (w / 2) + x] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
      V[y * (w / 2) + x] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
    }
  }
  const frame = [Buffer.from('FRAME\n'), Y, U, V];
  fs.writeFileSync(
    file,
    Buffer.concat([Buffer.from(`YUV4MPEG2 W${w} H${h} F10:1 Ip A1:1 C420jpeg\n`), ...frame, ...frame, ...frame]),
  );
}

/** A video of a photo, as it is. */
export async function photoVideo(image: string, file: string): Promise<void> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  writeY4m(data, info.width, info.height, file);
}

/**
 * A video of a photo shrunk to `scale` of its size, in the middle of a frame of the photo's size
 * filled with its darkest corner's colour: the same hand, further from the camera.
 */
export async function distantPhotoVideo(image: string, file: string, scale: number): Promise<void> {
  const { width = 0, height = 0 } = await sharp(image).metadata();
  const small = await sharp(image)
    .resize(Math.round(width * scale))
    .removeAlpha()
    .toBuffer();
  const corner = await sharp(image).extract({ left: 0, top: 0, width: 8, height: 8 }).stats();
  const [r, g, b] = corner.channels.map((c) => Math.round(c.mean));
  const { data, info } = await sharp({
    create: { width, height, channels: 3, background: { r: r!, g: g!, b: b! } },
  })
    .composite([
      {
        input: small,
        left: Math.round((width * (1 - scale)) / 2),
        top: Math.round((height * (1 - scale)) / 2),
      },
    ])
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  writeY4m(data, info.width, info.height, file);
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
