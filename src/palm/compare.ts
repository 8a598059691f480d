/** Template comparison and fusion. */
import { PalmTemplateError } from './errors.js';
import { distanceToSimilarity, matchCodes, shiftCode, type SearchMode } from './matcher.js';
import type { PalmTemplate } from './template.js';

export interface CompareOptions {
  /** shift search; default 'climb', and 'exhaustive' for the classical compcode reference */
  search?: SearchMode;
}

function check(a: PalmTemplate, b: PalmTemplate): void {
  if (a.method !== b.method || a.model !== b.model || a.planes !== b.planes || a.grid !== b.grid)
    throw new PalmTemplateError('incompatible', `templates differ (${a.model}/${a.method} vs ${b.model}/${b.method})`);
}

/** Fine similarity in [0, 1] (1 = identical codes, 0 = chance level or worse). Symmetric. */
export function compare(a: PalmTemplate, b: PalmTemplate, opts: CompareOptions = {}): number {
  check(a, b);
  const mode = opts.search ?? (a.method === 'compcode' ? 'exhaustive' : 'climb');
  // 'palm' codes (BOCV planes then CompCode planes): the shift search runs on the CompCode
  // planes, the score at the optimum uses all of them
  const guide: [number, number] | undefined = a.method === 'palm' ? [a.planes - 3, 3] : undefined;
  return distanceToSimilarity(matchCodes(a.code, b.code, a.planes, mode, guide).distance);
}

/** Cosine similarity of the embeddings (the first, coarse stage of 1:N search). */
export function embeddingSimilarity(a: PalmTemplate, b: PalmTemplate): number {
  if (a.embedding.length !== b.embedding.length) throw new PalmTemplateError('incompatible', 'embedding sizes differ');
  let s = 0;
  for (let i = 0; i < a.embedding.length; i++) s += a.embedding[i]! * b.embedding[i]!;
  return s;
}

/**
 * Fuse several samples of one palm into one reference: the medoid sample is the anchor, the
 * others are aligned to it (best shift) and each code bit is the majority vote (ties keep the
 * anchor's bit); the embedding is the renormalised mean.
 */
export function fuse(templates: PalmTemplate[]): PalmTemplate {
  if (templates.length === 0) throw new Error('fuse needs at least one template');
  const first = templates[0]!;
  for (const t of templates) check(first, t);
  if (templates.length === 1) return { ...first, embedding: first.embedding.slice(), code: first.code.slice() };
  const n = templates.length;
  let anchor = 0;
  let bestSum = -1;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) if (i !== j) s += compare(templates[i]!, templates[j]!, { search: 'exhaustive' });
    if (s > bestSum) {
      bestSum = s;
      anchor = i;
    }
  }
  const a = templates[anchor]!;
  const votes = new Uint16Array(a.code.length * 32);
  for (let k = 0; k < n; k++) {
    const t = templates[k]!;
    let code = t.code;
    if (k !== anchor) {
      const m = matchCodes(a.code, t.code, a.planes, 'exhaustive');
      code = shiftCode(t.code, t.planes, -m.dx, -m.dy);
    }
    for (let w = 0; w < code.length; w++) {
      const word = code[w]!;
      for (let b = 0; b < 32; b++) if ((word >>> b) & 1) votes[w * 32 + b]!++;
    }
  }
  const code = new Int32Array(a.code.length);
  for (let w = 0; w < code.length; w++) {
    let word = 0;
    for (let b = 0; b < 32; b++) {
      const v = votes[w * 32 + b]!;
      const bit = 2 * v > n ? 1 : 2 * v < n ? 0 : (a.code[w]! >>> b) & 1;
      if (bit) word |= 1 << b;
    }
    code[w] = word;
  }
  const emb = new Float32Array(a.embedding.length);
  for (const t of templates) for (let i = 0; i < emb.length; i++) emb[i]! += t.embedding[i]!;
  let norm = 0;
  for (let i = 0; i < emb.length; i++) norm += emb[i]! * emb[i]!;
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < emb.length; i++) emb[i]! /= norm;
  return {
    ...a,
    embedding: emb,
    code,
    quality: templates.reduce((s, t) => s + t.quality, 0) / n,
    samples: templates.reduce((s, t) => s + t.samples, 0),
  };
}
