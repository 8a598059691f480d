/** Debug drawing for people: landmarks and the ROI square over the source image. */
import { PNG } from 'pngjs';
import type { GreyImage, RasterImage } from '../image.js';
import type { HandLandmarks, Point } from '../roi.js';

type RGB = [number, number, number];

function toRgb(img: RasterImage): RasterImage {
  if (img.channels === 3) return { ...img, data: new Uint8Array(img.data) };
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = img.data[i]!;
  return { width: img.width, height: img.height, channels: 3, data: out };
}

function dot(img: RasterImage, p: Point, r: number, c: RGB): void {
  for (let y = Math.round(p.y - r); y <= Math.round(p.y + r); y++)
    for (let x = Math.round(p.x - r); x <= Math.round(p.x + r); x++) {
      if (x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
      if ((x - p.x) ** 2 + (y - p.y) ** 2 > r * r) continue;
      const i = (y * img.width + x) * 3;
      img.data[i] = c[0];
      img.data[i + 1] = c[1];
      img.data[i + 2] = c[2];
    }
}

function line(img: RasterImage, a: Point, b: Point, c: RGB, r = 1): void {
  const n = Math.ceil(Math.hypot(b.x - a.x, b.y - a.y)) + 1;
  for (let k = 0; k <= n; k++) dot(img, { x: a.x + ((b.x - a.x) * k) / n, y: a.y + ((b.y - a.y) * k) / n }, r, c);
}

/** The hand landmark model's skeleton: wrist, thumb, each finger, and the knuckle line. */
const BONES: [number, number][] = [
  [0, 1],
  [1, 2],
  [2, 3],
  [3, 4],
  [0, 5],
  [5, 6],
  [6, 7],
  [7, 8],
  [9, 10],
  [10, 11],
  [11, 12],
  [13, 14],
  [14, 15],
  [15, 16],
  [0, 17],
  [17, 18],
  [18, 19],
  [19, 20],
  [5, 9],
  [9, 13],
  [13, 17],
];

/**
 * Draw both paths over the source image. Valley path: contour (green), fingertips (blue),
 * valleys (red). Landmark path: the 21 landmarks and their skeleton (orange, knuckles MCP 5, 9,
 * 13, 17 and the wrist larger), the landmark frame (orange line between its two points). The
 * frame that cut the ROI (yellow), the ROI square (cyan, its top edge magenta) and the palm centre
 * (white).
 */
export function drawLandmarks(src: RasterImage, lm: HandLandmarks): RasterImage {
  const img = toRgb(src);
  const r = Math.max(1, Math.round(Math.max(img.width, img.height) / 400));
  for (let i = 0; i < lm.contour.length; i += 2) dot(img, lm.contour[i]!, r * 0.7, [0, 200, 0]);
  const kp = lm.keypoints?.points;
  if (kp) {
    for (const [a, b] of BONES) line(img, kp[a]!, kp[b]!, [255, 150, 0], r);
    for (const [i, p] of kp.entries()) dot(img, p, ([0, 5, 9, 13, 17].includes(i) ? 4 : 2.5) * r, [255, 120, 0]);
  }
  if (lm.landmarkFrame) {
    line(img, lm.landmarkFrame[0], lm.landmarkFrame[1], [255, 120, 0], r);
    for (const p of lm.landmarkFrame) dot(img, p, 3 * r, [255, 120, 0]);
  }
  const sq = lm.square;
  for (let k = 0; k < 4; k++) line(img, sq[k]!, sq[(k + 1) % 4]!, [0, 230, 230], r);
  line(img, sq[0], sq[1], [255, 0, 255], r); // top edge (ROI row 0) in magenta
  if (lm.frame) line(img, lm.frame[0], lm.frame[1], [255, 230, 0], r);
  for (const p of lm.fingertips) dot(img, p, 4 * r, [40, 90, 255]);
  for (const p of lm.valleys) dot(img, p, 4 * r, [255, 30, 30]);
  dot(img, lm.centre, 4 * r, [255, 255, 255]);
  return img;
}

/** Encode a raster (or a 0..255 float grey image) as PNG bytes. */
export function encodePng(img: RasterImage | GreyImage): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  const n = img.width * img.height;
  const isRaster = 'channels' in img;
  for (let i = 0; i < n; i++) {
    let r: number;
    let g: number;
    let b: number;
    if (isRaster && img.channels === 3) {
      r = img.data[i * 3]!;
      g = img.data[i * 3 + 1]!;
      b = img.data[i * 3 + 2]!;
    } else {
      const v = Math.max(0, Math.min(255, Math.round(img.data[i]!)));
      r = g = b = v;
    }
    png.data[i * 4] = r;
    png.data[i * 4 + 1] = g;
    png.data[i * 4 + 2] = b;
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: isRaster && img.channels === 3 ? 2 : 0 });
}
