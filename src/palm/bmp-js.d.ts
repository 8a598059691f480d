/** Types for bmp-js, which ships none: what decode.ts uses. */
declare module 'bmp-js' {
  export interface BmpDecoded {
    width: number;
    height: number;
    /** 4 bytes per pixel in A, B, G, R order */
    data: Uint8Array;
  }
  export function decode(buffer: Buffer): BmpDecoded;
  const bmp: { decode: typeof decode };
  export default bmp;
}
