import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  circlingPictures,
  dimmedPicture,
  type Picture,
  shiftedPicture,
  tiltedPicture,
  writeY4mSequence,
} from '../support/fakeCamera.js';

/**
 * The fake camera's video writer and picture helpers, on small synthetic pictures: what the
 * browser tests film is what they say they film.
 */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-fake-camera-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A black picture with a white vertical stripe at column `x` (and the one after). */
function stripe(width: number, height: number, x: number): Picture {
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (const c of [x, x + 1]) rgb.fill(255, (y * width + c) * 3, (y * width + c) * 3 + 3);
  return { rgb, width, height };
}
const whiteColumns = (p: Picture, row: number) =>
  [...Array(p.width).keys()].filter((x) => p.rgb[(row * p.width + x) * 3]! > 128);

describe('fake camera helpers', () => {
  it('writes each frame `repeat` times after a Y4M header of the given rate, in I420', () => {
    const file = path.join(dir, 'seq.y4m');
    const white = { rgb: Buffer.alloc(8 * 6 * 3, 255), width: 8, height: 6 };
    const black = { rgb: Buffer.alloc(8 * 6 * 3, 0), width: 8, height: 6 };
    writeY4mSequence([white, black], file, { repeat: 3, fps: 12 });
    const data = fs.readFileSync(file);
    const header = 'YUV4MPEG2 W8 H6 F12:1 Ip A1:1 C420jpeg\n';
    expect(data.subarray(0, header.length).toString()).toBe(header);
    const frameBytes = 'FRAME\n'.length + 8 * 6 + 2 * 4 * 3;
    expect(data.length).toBe(header.length + 6 * frameBytes);
    const luma = (frame: number) => data[header.length + frame * frameBytes + 'FRAME\n'.length]!;
    expect([0, 1, 2].map(luma)).toEqual([235, 235, 235]);
    expect([3, 4, 5].map(luma)).toEqual([16, 16, 16]);
    expect(() => writeY4mSequence([white, { ...black, width: 4, rgb: Buffer.alloc(4 * 6 * 3) }], file)).toThrow(
      /same size/,
    );
    expect(() => writeY4mSequence([], file)).toThrow(/no frames/);
  });

  it('moves, dims and circles a picture as said', () => {
    const p = stripe(40, 10, 10);
    expect(whiteColumns(shiftedPicture(p, 5, 0), 3)).toEqual([15, 16]);
    expect(whiteColumns(shiftedPicture(p, -12, 2), 5)).toEqual([]);
    expect(dimmedPicture(p, 0.2).rgb[30]).toBe(51);
    const frames = circlingPictures(p, 4, 8);
    expect(frames).toHaveLength(8);
    expect(whiteColumns(frames[0]!, 5)).toEqual([14, 15]);
    expect(whiteColumns(frames[4]!, 5)).toEqual([6, 7]);
  });

  it('turns a picture in perspective: unchanged at 0°, the far side shrinks more than the near side', () => {
    const width = 200;
    const p = stripe(width, 20, 150);
    expect(whiteColumns(tiltedPicture(p, 0), 10)).toEqual([150, 151]);
    // Right side turned away by 60°: a stripe 50 px right of the centre comes closer to it than
    // cos 60° would bring it (it is further from the camera), one as far left stays further out.
    const right = whiteColumns(tiltedPicture(p, 60), 10);
    const left = whiteColumns(tiltedPicture(stripe(width, 20, 48), 60), 10);
    const rightOffset = Math.min(...right) - 100;
    const leftOffset = 100 - Math.max(...left);
    expect(rightOffset).toBeLessThan(50 * Math.cos(Math.PI / 3));
    expect(leftOffset).toBeGreaterThan(50 * Math.cos(Math.PI / 3));
  });
});
