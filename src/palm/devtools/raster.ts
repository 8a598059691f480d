/** Pixel reads shared by the development generators (attacks, synthetic sequences). */
import type { RasterImage } from '../image.js';

/** Bilinear read of `img` at (x, y) (pixel centres at +0.5); outside reads the nearest edge pixel. */
export function sampleBilinear(img: RasterImage, x: number, y: number, out: Uint8Array, o: number): void {
  const { width: W, height: H, channels: C, data: d } = img;
  const sx = Math.max(0, Math.min(W - 1.001, x - 0.5));
  const sy = Math.max(0, Math.min(H - 1.001, y - 0.5));
  const x0 = Math.floor(sx);
  const y0 = Math.floor(sy);
  const fx = sx - x0;
  const fy = sy - y0;
  for (let c = 0; c < C; c++) {
    const p = (y0 * W + x0) * C + c;
    const a = d[p]! + (d[p + C]! - d[p]!) * fx;
    const b = d[p + W * C]! + (d[p + W * C + C]! - d[p + W * C]!) * fx;
    out[o + c] = Math.round(a + (b - a) * fy);
  }
}
