/** Evaluation of the engine on a folder of images named ID_SAMPLE.ext. Reads only. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CodeMethod } from '../code.js';
import { PalmImageError } from '../errors.js';
import { prepareSample } from '../extract.js';
import { detCurve, equalErrorRate, fnmrAtFmr, rank1, type DetPoint } from './metrics.js';
import type { ImageKind } from '../roi.js';
import { compareProbe, probesFromSamples, PROBE_VARIANTS, type Probe, type ProbeVariant } from '../probe.js';
import type { PalmTemplate } from '../template.js';

const SAMPLE_NAME = /^([^_]+)_([^.]+)\.(png|jpe?g|bmp)$/i;

export interface EvalReport {
  images: number;
  identities: number;
  failedToAcquire: number;
  genuinePairs: number;
  impostorPairs: number;
  eer: number;
  fnmrAtFmr1e3: number;
  fnmrAtFmr1e4: number;
  rank1: number;
  extractMs: number;
  compareUs: number;
}

export interface EvalDetails {
  report: EvalReport;
  /**
   * stage one (embedding cosine): rank-1, and how often the identity that the fine matcher ranks
   * first is among the embedding's top K samples
   */
  embedding: { rank1: number; recallTop: { k: number; recall: number }[] };
  det: DetPoint[];
  failures: { file: string; reason: string }[];
  genuine: Float64Array;
  impostor: Float64Array;
}

export interface EvalOptions {
  kind?: ImageKind;
  method?: CodeMethod;
  /** the probe variants compared (default PROBE_VARIANTS; [] compares the captures as taken) */
  variants?: readonly ProbeVariant[];
  /** refuse failed crops (the default, as enrolment and sign-in do); false to measure without the gate */
  cropChecks?: boolean;
  /** whole hands: the hand landmark models when installed (default true); false: the valley path alone */
  landmarks?: boolean;
  onProgress?: (done: number, total: number) => void;
}

function listSamples(dir: string): { file: string; id: string }[] {
  return readdirSync(dir)
    .filter((f) => SAMPLE_NAME.test(f))
    .sort()
    .map((f) => ({ file: path.join(dir, f), id: SAMPLE_NAME.exec(f)![1]! }));
}

export async function evaluateDirectory(dir: string, opts: EvalOptions = {}): Promise<EvalDetails> {
  const method = opts.method ?? 'palm';
  const variants = opts.variants ?? PROBE_VARIANTS;
  const files = listSamples(dir);
  const probes: Probe[] = [];
  const templates: PalmTemplate[] = [];
  const ids: string[] = [];
  const failures: { file: string; reason: string }[] = [];
  // warm-up (model load, JIT) outside the timings
  if (files.length) {
    try {
      await probesFromSamples(
        [
          await prepareSample(readFileSync(files[0]!.file), {
            kind: opts.kind,
            cropChecks: opts.cropChecks,
            landmarks: opts.landmarks,
          }),
        ],
        variants,
        method,
      );
    } catch {
      /* counted below */
    }
  }
  let extractTotal = 0;
  for (let i = 0; i < files.length; i++) {
    const { file, id } = files[i]!;
    const bytes = readFileSync(file);
    const t0 = performance.now();
    try {
      const sample = await prepareSample(bytes, {
        kind: opts.kind,
        cropChecks: opts.cropChecks,
        landmarks: opts.landmarks,
      });
      const [p] = await probesFromSamples([sample], variants, method);
      extractTotal += performance.now() - t0;
      probes.push(p!);
      templates.push(p!.template);
      ids.push(id);
    } catch (e) {
      if (!(e instanceof PalmImageError)) throw e;
      failures.push({ file: path.basename(file), reason: e.reason });
    }
    opts.onProgress?.(i + 1, files.length);
  }
  const n = templates.length;
  const sim = new Float64Array(n * n);
  const genuine: number[] = [];
  const impostor: number[] = [];
  const t1 = performance.now();
  // Each pair scored once, as identification scores it: one sample's probe (with its variants)
  // against the other's template.
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const s = compareProbe(probes[i]!, templates[j]!);
      sim[i * n + j] = sim[j * n + i] = s;
    }
  let pairs = (n * (n - 1)) / 2;
  let compareMs = performance.now() - t1;
  // small sets: repeat the all-pairs pass (same work) until half a second is measured
  const allPairs = pairs;
  let sink = 0;
  while (allPairs > 0 && compareMs < 500) {
    const t2 = performance.now();
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) sink += compareProbe(probes[i]!, templates[j]!);
    compareMs += performance.now() - t2;
    pairs += allPairs;
  }
  if (sink < 0) throw new Error('unreachable');
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) (ids[i] === ids[j] ? genuine : impostor).push(sim[i * n + j]!);
  const { eer } = equalErrorRate(genuine, impostor);
  const report: EvalReport = {
    images: files.length,
    identities: new Set(files.map((f) => f.id)).size,
    failedToAcquire: failures.length,
    genuinePairs: genuine.length,
    impostorPairs: impostor.length,
    eer,
    fnmrAtFmr1e3: fnmrAtFmr(genuine, impostor, 1e-3).fnmr,
    fnmrAtFmr1e4: fnmrAtFmr(genuine, impostor, 1e-4).fnmr,
    rank1: rank1(ids, (i, j) => sim[i * n + j]!),
    extractMs: n ? extractTotal / n : NaN,
    compareUs: pairs ? (compareMs * 1000) / pairs : NaN,
  };
  const emb = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      let d = 0;
      const ea = templates[i]!.embedding;
      const eb = templates[j]!.embedding;
      for (let k = 0; k < ea.length; k++) d += ea[k]! * eb[k]!;
      emb[i * n + j] = emb[j * n + i] = d;
    }
  // two-stage search: does the embedding's top K contain a sample of the identity that the fine
  // matcher (compareProbe, over all samples) ranks first?
  const recallTop = [1, 5, 10].map((k) => {
    let hit = 0;
    let probes = 0;
    for (let i = 0; i < n; i++) {
      let bestJ = -1;
      for (let j = 0; j < n; j++) if (j !== i && (bestJ < 0 || sim[i * n + j]! > sim[i * n + bestJ]!)) bestJ = j;
      if (bestJ < 0) continue;
      probes++;
      const order = [...Array(n).keys()].filter((j) => j !== i).sort((x, y) => emb[i * n + y]! - emb[i * n + x]!);
      if (order.slice(0, k).some((j) => ids[j] === ids[bestJ])) hit++;
    }
    return { k, recall: probes ? hit / probes : NaN };
  });
  return {
    report,
    embedding: { rank1: rank1(ids, (i, j) => emb[i * n + j]!), recallTop },
    det: detCurve(genuine, impostor),
    failures,
    genuine: Float64Array.from(genuine),
    impostor: Float64Array.from(impostor),
  };
}
