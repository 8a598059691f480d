/**
 * Palm template and its versioned binary format.
 *
 * Layout (little-endian), version 1:
 *   0  "PLMT"                 magic
 *   4  u16 version = 1
 *   6  u8  method (0 = bocv, 1 = compcode, 2 = palm)
 *   7  u8  planes
 *   8  u8  grid (32)
 *   9  u8  model id length L
 *  10  u16 embedding length E
 *  12  u16 samples fused
 *  14  u16 reserved (0)
 *  16  f32 quality
 *  20  L bytes model id (utf-8, name@version as in models/manifest.json)
 *  ..  pad to a multiple of 4
 *  ..  E x f32 embedding (L2-normalised)
 *  ..  planes*grid x i32 code rows
 */
import { PalmTemplateError } from './errors.js';
import type { CodeMethod } from './code.js';

const TEMPLATE_MAGIC = 0x544d4c50; // "PLMT" read as little-endian u32
export const TEMPLATE_VERSION = 1;

export interface PalmTemplate {
  version: number;
  method: CodeMethod;
  /** feature model that produced it, name@version: templates of different models do not compare */
  model: string;
  /** fixed-length, L2-normalised embedding for vector search (cosine) */
  embedding: Float32Array;
  /** bit-packed orientation code for the fine matcher: planes x grid rows of 32 bits */
  code: Int32Array;
  planes: number;
  grid: number;
  /** quality score of the sample (for fused references: the mean) */
  quality: number;
  /** number of samples fused into this template (1 for a single capture) */
  samples: number;
}

const METHODS: CodeMethod[] = ['bocv', 'compcode', 'palm'];

export function serializeTemplate(t: PalmTemplate): Uint8Array {
  const model = new TextEncoder().encode(t.model);
  if (model.length > 255) throw new Error('model id too long');
  const head = 20 + model.length;
  const pad = (4 - (head % 4)) % 4;
  const size = head + pad + t.embedding.length * 4 + t.code.length * 4;
  const buf = new ArrayBuffer(size);
  const dv = new DataView(buf);
  const u8 = new Uint8Array(buf);
  dv.setUint32(0, TEMPLATE_MAGIC, true);
  dv.setUint16(4, TEMPLATE_VERSION, true);
  dv.setUint8(6, METHODS.indexOf(t.method));
  dv.setUint8(7, t.planes);
  dv.setUint8(8, t.grid);
  dv.setUint8(9, model.length);
  dv.setUint16(10, t.embedding.length, true);
  dv.setUint16(12, t.samples, true);
  dv.setUint16(14, 0, true);
  dv.setFloat32(16, t.quality, true);
  u8.set(model, 20);
  let o = head + pad;
  for (let i = 0; i < t.embedding.length; i++, o += 4) dv.setFloat32(o, t.embedding[i]!, true);
  for (let i = 0; i < t.code.length; i++, o += 4) dv.setInt32(o, t.code[i]!, true);
  return u8;
}

export function deserializeTemplate(bytes: Uint8Array): PalmTemplate {
  if (bytes.length < 20) throw new PalmTemplateError('truncated', 'template shorter than its header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== TEMPLATE_MAGIC) throw new PalmTemplateError('bad_magic', 'not a palm template');
  const version = dv.getUint16(4, true);
  if (version !== TEMPLATE_VERSION)
    throw new PalmTemplateError(
      'unsupported_version',
      `template version ${version} is not supported (expected ${TEMPLATE_VERSION})`,
    );
  const method = METHODS[dv.getUint8(6)];
  if (!method) throw new PalmTemplateError('incompatible', `unknown code method ${dv.getUint8(6)}`);
  const planes = dv.getUint8(7);
  const grid = dv.getUint8(8);
  const ml = dv.getUint8(9);
  const e = dv.getUint16(10, true);
  const samples = dv.getUint16(12, true);
  const quality = dv.getFloat32(16, true);
  const head = 20 + ml;
  const pad = (4 - (head % 4)) % 4;
  const need = head + pad + e * 4 + planes * grid * 4;
  if (bytes.length < need) throw new PalmTemplateError('truncated', `template is ${bytes.length} bytes, needs ${need}`);
  const model = new TextDecoder().decode(bytes.subarray(20, 20 + ml));
  const embedding = new Float32Array(e);
  const code = new Int32Array(planes * grid);
  let o = head + pad;
  for (let i = 0; i < e; i++, o += 4) embedding[i] = dv.getFloat32(o, true);
  for (let i = 0; i < code.length; i++, o += 4) code[i] = dv.getInt32(o, true);
  return { version, method, model, embedding, code, planes, grid, quality, samples };
}
