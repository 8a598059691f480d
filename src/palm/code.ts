/**
 * Binary orientation codes on the model's 32x32 grid, bit-packed one 32-bit word per row
 * (bit x = column x), plane after plane.
 *
 * - `bocv`: one sign bit per orientation and cell (Binary Orientation Co-occurrence Vector,
 *   Guo et al. 2009): 6 planes.
 * - `compcode`: the classical Competitive Code (Kong & Zhang 2004): winner-takes-all index of
 *   the most negative response (palm lines are dark), 0..5, stored as 3 bit planes in the code
 *   000,001,011,111,110,100 so that the Hamming distance equals the angular distance.
 * - `palm` (default): both, BOCV planes then CompCode planes (9): sign and winner carry
 *   different information.
 */

/** Which code a template carries. */
export type CodeMethod = 'palm' | 'bocv' | 'compcode';

/** Bit planes of a code. */
export function codePlanes(method: CodeMethod, orientations: number): number {
  const cc = Math.ceil(orientations / 2);
  return method === 'bocv' ? orientations : method === 'compcode' ? cc : orientations + cc;
}

/** resp: one ROI's responses, [orientations][grid][grid]. */
export function encode(method: CodeMethod, resp: Float32Array, orientations: number, grid: number): Int32Array {
  if (grid !== 32) throw new Error('codes need a 32-column grid');
  if (method === 'palm') {
    const a = encode('bocv', resp, orientations, grid);
    const b = encode('compcode', resp, orientations, grid);
    const out = new Int32Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  }
  const cells = grid * grid;
  if (method === 'bocv') {
    const code = new Int32Array(orientations * grid);
    for (let p = 0; p < orientations; p++) {
      for (let y = 0; y < grid; y++) {
        let w = 0;
        const base = p * cells + y * grid;
        for (let x = 0; x < grid; x++) if (resp[base + x]! > 0) w |= 1 << x;
        code[p * grid + y] = w;
      }
    }
    return code;
  }
  const planes = Math.ceil(orientations / 2);
  const code = new Int32Array(planes * grid);
  for (let y = 0; y < grid; y++) {
    for (let x = 0; x < grid; x++) {
      const c = y * grid + x;
      let best = 0;
      let bv = resp[c]!;
      for (let o = 1; o < orientations; o++) {
        const v = resp[o * cells + c]!;
        if (v < bv) {
          bv = v;
          best = o;
        }
      }
      // thermometer-like code: bit p set when best in [p+1, p+planes]  (6 orientations -> 3 bits)
      for (let p = 0; p < planes; p++) if (best > p && best <= p + planes) code[p * grid + y]! |= 1 << x;
    }
  }
  return code;
}
