/**
 * A tiny WebAssembly (SIMD) kernel for the fine matcher, assembled here from its opcodes (no
 * toolchain, no binary blob): Hamming distance between two bit-packed codes at one shift,
 * four code rows per 128-bit vector, native popcount (i8x16.popcnt). Where WebAssembly SIMD is
 * unavailable, the matcher (matcher.ts) counts with its TypeScript kernel instead.
 *
 * hd(a, b, ax, bx, ay, by, planes, colMask) -> mismatched bits over `planes` planes of 26
 * rows, rows (ay.. / by..) and columns shifted right by ax / bx, masked to 26 columns.
 */

const WINDOW_ROWS = 26;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const simd = (op: number) => [0xfd, ...uleb(op)];
const OP = {
  load: 0x00,
  const: 0x0c,
  splat32: 0x11,
  extract32: 0x1b,
  and: 0x4e,
  xor: 0x51,
  popcnt8: 0x62,
  add8: 0x6e,
  extadd8u: 0x7d,
  extadd16u: 0x7f,
  add16: 0x8e,
  shru32: 0xad,
};
const lget = (i: number) => [0x20, ...uleb(i)];
const lset = (i: number) => [0x21, ...uleb(i)];
const ltee = (i: number) => [0x22, ...uleb(i)];
const i32c = (v: number) => [0x41, ...sleb(v)];
const v128c = (lanes: number[]) => {
  const b = new Uint8Array(new Int32Array(lanes).buffer);
  return [...simd(OP.const), ...b];
};
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'utf8')];

function buildKernel(): Uint8Array<ArrayBuffer> {
  // params: 0 a, 1 b, 2 ax, 3 bx, 4 ay, 5 by, 6 planes, 7 mask; locals: 8 p, 9 pa, 10 pb (i32),
  // 11 acc8, 12 acc16, 13 vmask, 14 x (v128)
  const chunks = Math.ceil(WINDOW_ROWS / 4);
  const rest = WINDOW_ROWS - 4 * (chunks - 1);
  const body: number[] = [];
  body.push(...lget(7), ...simd(OP.splat32), ...lset(13));
  body.push(...v128c([0, 0, 0, 0]), ...lset(12));
  body.push(0x03, 0x40); // loop
  for (const [base, row, dst] of [
    [0, 4, 9],
    [1, 5, 10],
  ] as const) {
    body.push(...lget(8), ...i32c(32), 0x6c, ...lget(row), 0x6a, ...i32c(2), 0x74, ...lget(base), 0x6a, ...lset(dst));
  }
  body.push(...v128c([0, 0, 0, 0]), ...lset(11));
  for (let k = 0; k < chunks; k++) {
    body.push(...lget(9), ...simd(OP.load), 0, ...uleb(16 * k), ...lget(2), ...simd(OP.shru32));
    body.push(...lget(10), ...simd(OP.load), 0, ...uleb(16 * k), ...lget(3), ...simd(OP.shru32));
    body.push(...simd(OP.xor), ...lget(13), ...simd(OP.and));
    if (k === chunks - 1 && rest < 4)
      body.push(...v128c([0, 1, 2, 3].map((l) => (l < rest ? -1 : 0))), ...simd(OP.and));
    body.push(...simd(OP.popcnt8), ...lget(11), ...simd(OP.add8), ...lset(11));
  }
  body.push(...lget(12), ...lget(11), ...simd(OP.extadd8u), ...simd(OP.add16), ...lset(12));
  body.push(...lget(8), ...i32c(1), 0x6a, ...ltee(8), ...lget(6), 0x49, 0x0d, 0x00); // p++ ; br_if p < planes
  body.push(0x0b); // end loop
  body.push(...lget(12), ...simd(OP.extadd16u), ...ltee(14), ...simd(OP.extract32), 0);
  for (let l = 1; l < 4; l++) body.push(...lget(14), ...simd(OP.extract32), l, 0x6a);
  body.push(0x0b); // end function
  const locals = vec([
    [3, 0x7f],
    [4, 0x7b],
  ]);
  const func = [...locals, ...body];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec(Array.from({ length: 8 }, () => [0x7f])), ...vec([[0x7f]])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 1]])),
    ...section(
      7,
      vec([
        [...name('hd'), 0x00, 0],
        [...name('mem'), 0x02, 0],
      ]),
    ),
    ...section(10, vec([[...uleb(func.length), ...func]])),
  ];
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

export interface SimdKernel {
  /** code words of operand a (write the code here), room for 480 words */
  a: Int32Array;
  b: Int32Array;
  /** the exported function, called with the byte addresses of a and b (or of a plane within them) */
  hd: (a: number, b: number, ax: number, bx: number, ay: number, by: number, planes: number, mask: number) => number;
  addrA: number;
  addrB: number;
}

let kernel: SimdKernel | null | undefined;

/** The SIMD kernel, or null where WebAssembly SIMD is not available. */
export function simdKernel(): SimdKernel | null {
  if (kernel !== undefined) return kernel;
  try {
    const mod = new WebAssembly.Module(buildKernel());
    const inst = new WebAssembly.Instance(mod, {});
    const ex = inst.exports as { hd: (...a: number[]) => number; mem: WebAssembly.Memory };
    const A = 0;
    const B = 2048;
    kernel = {
      hd: ex.hd,
      addrA: A,
      addrB: B,
      a: new Int32Array(ex.mem.buffer, A, 480),
      b: new Int32Array(ex.mem.buffer, B, 480),
    };
  } catch {
    kernel = null;
  }
  return kernel;
}
