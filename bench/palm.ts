/**
 * Palm engine timings on one core: extraction (ROI crop, 800x600 hand photo), the stages of a
 * 640x480 whole-hand frame (CPU time per stage: decode, palm detector, landmark model, ROI, quality
 * and crop checks, feature model), and fine comparison throughput, for the default matcher and the
 * classical CompCode reference. Uses synthetic palms (always available) and, when present,
 * ../shared/data/palm.
 *
 * One core: onnxruntime runs with intra-op threads 1 (the engine's setting, detector.ts and
 * features.ts) and libvips with concurrency 1 (decode.ts). The stage table reports CPU time
 * (process.cpuUsage, all threads of the process), which a machine shared with other work inflates
 * far less than wall time; both are printed.
 *
 *   npm run bench:palm            (or: npx tsx bench/palm.ts [--quick] [--stages-only])
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  compare,
  embeddingSimilarity,
  extractTemplate,
  prepareImage,
  prepareSample,
  templatesFromSamples,
  type CodeMethod,
  type PalmTemplate,
} from '../src/palm/index.js';
import { encodePng, synthesize } from '../src/palm/devtools/index.js';
import sharp from 'sharp';
import { REFUSED_FAULTS } from '../src/palm/cropChecks.js';
import { decodeImage } from '../src/palm/decode.js';
import { cutSquare } from '../src/palm/hand/frame.js';
import { detectHand, getHandModels, type HandModels, type TensorModel } from '../src/palm/hand/detector.js';
import { squareFromLandmarks } from '../src/palm/hand/landmark-frame.js';
import { assessQuality } from '../src/palm/quality.js';
import { locateRoi, ROI_SIZE } from '../src/palm/roi.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const realDir = path.resolve(root, '../shared/data/palm');
const quick = process.argv.includes('--quick');
const stagesOnly = process.argv.includes('--stages-only');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median extraction time (decode, ROI, quality, model, code) per method, methods interleaved image by image. */
async function extractMs(
  images: Uint8Array[],
  methods: CodeMethod[],
  kind: 'roi' | 'hand',
  landmarks = true,
): Promise<number[]> {
  const opts = { kind, landmarks };
  for (const m of methods) await templatesFromSamples([await prepareSample(images[0]!, opts)], m); // warm-up
  const times: number[][] = methods.map(() => []);
  for (let round = 0; round < 2; round++)
    for (const bytes of images)
      for (let k = 0; k < methods.length; k++) {
        const t = performance.now();
        await templatesFromSamples([await prepareSample(bytes, opts)], methods[k]!);
        times[k]!.push(performance.now() - t);
      }
  return times.map(median);
}

/**
 * All-pairs comparison throughput of several template sets, measured in alternating slices of
 * 100 ms so that a busy machine slows every method alike.
 */
function comparePerSecond(
  sets: PalmTemplate[][],
  totalMs = quick ? 600 : 3000,
): { pairsPerSecond: number; us: number }[] {
  const pairs = sets.map(() => 0);
  const ms = sets.map(() => 0);
  let sink = 0;
  const slices = Math.max(2, Math.round(totalMs / 100 / sets.length));
  for (let round = 0; round < slices; round++)
    sets.forEach((ts, k) => {
      const t0 = performance.now();
      let now = t0;
      while (now - t0 < 100) {
        for (let i = 0; i < ts.length; i++) for (let j = i + 1; j < ts.length; j++) sink += compare(ts[i]!, ts[j]!);
        pairs[k]! += (ts.length * (ts.length - 1)) / 2;
        now = performance.now();
      }
      ms[k]! += now - t0;
    });
  if (sink < 0) console.log(sink);
  return sets.map((_, k) => ({ pairsPerSecond: (pairs[k]! * 1000) / ms[k]!, us: (ms[k]! * 1000) / pairs[k]! }));
}

/** CPU milliseconds of the whole process so far (every thread: onnxruntime's, libvips'). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** A model whose runs add their CPU time to `into[key]`. */
function timedModel(m: TensorModel, into: Record<string, number>, key: string): TensorModel {
  return {
    ...m,
    async run(rgb) {
      const c = cpuMs();
      const out = await m.run(rgb);
      into[key] = (into[key] ?? 0) + cpuMs() - c;
      return out;
    },
  };
}

/**
 * Where the time of a 640x480 whole-hand frame goes: every stage of extractTemplate run on its
 * own, on the same frames, CPU-time medians; then the whole extraction (CPU and wall). Frames:
 * the COEP dev hands scaled to 640x480 (JPEG quality 85) when present, else synthetic hands.
 */
async function stageTable(): Promise<Record<string, string | number>[]> {
  const coep = path.join(realDir, 'coep-hands');
  const sources = existsSync(coep)
    ? readdirSync(coep)
        .filter((f) => f.endsWith('.jpg'))
        .sort()
        .filter((_, i) => i % 7 === 0)
        .slice(0, quick ? 4 : 12)
        .map((f) => readFileSync(path.join(coep, f)))
    : Array.from({ length: quick ? 3 : 8 }, (_, i) => encodePng(synthesize('hand', 1 + i, 1, { seed: 42, size: 800 })));
  const frames = await Promise.all(
    sources.map((b) => sharp(b).resize(640, 480, { fit: 'fill' }).jpeg({ quality: 85 }).toBuffer()),
  );
  const models = await getHandModels();
  const T: Record<string, number[]> = {};
  const push = (k: string, v: number) => {
    T[k] = [...(T[k] ?? []), v];
  };
  const time = async <R>(k: string, f: () => R | Promise<R>): Promise<R> => {
    const c = cpuMs();
    const r = await f();
    push(k, cpuMs() - c);
    return r;
  };
  for (const f of frames) await extractTemplate(f, { kind: 'hand' }).catch(() => null); // warm-up (JIT, models)
  for (let round = 0; round < (quick ? 2 : 3); round++)
    for (const bytes of frames) {
      const img = await time('decode (JPEG -> RGB)', () => decodeImage(bytes));
      if (models) {
        const m: Record<string, number> = {};
        const timed: HandModels = {
          detector: timedModel(models.detector, m, 'det'),
          landmarker: timedModel(models.landmarker, m, 'lm'),
        };
        const pass = await time('hand: detectHand (all below)', () => detectHand(img, timed));
        const total = T['hand: detectHand (all below)']!.at(-1)!;
        push('  palm detector model', m.det ?? 0);
        push('  landmark model (every pass)', m.lm ?? 0);
        push('  crops, letterbox, box decoding', total - (m.det ?? 0) - (m.lm ?? 0));
        if (pass) {
          const q = await time('ROI frame + warp to 128x128', () =>
            cutSquare(img, squareFromLandmarks(pass.points).square, ROI_SIZE),
          );
          if (q) {
            const faults = new Set([...REFUSED_FAULTS].filter((f) => f !== 'fingers_in_view'));
            await time('quality + crop checks', () => {
              try {
                assessQuality(q, 1, 200, { faults });
              } catch {
                /* timed all the same */
              }
            });
          }
        }
      }
      const roi = await time('locateRoi (detectHand + ROI)', () => locateRoi(img, 'hand').catch(() => null));
      if (roi)
        await time('feature model + code', () =>
          templatesFromSamples([{ roi, quality: { score: 1, reasons: [], acceptable: true } }]),
        );
      const w = performance.now();
      await time('whole extraction (extractTemplate)', () =>
        extractTemplate(bytes, { kind: 'hand' }).catch(() => null),
      );
      push('whole extraction, wall', performance.now() - w);
    }
  return Object.entries(T).map(([stage, v]) => ({
    stage,
    'median ms': +median(v).toFixed(2),
    clock: stage.endsWith('wall') ? 'wall' : 'CPU',
    target: stage.startsWith('whole extraction (') ? '<= 30' : '',
  }));
}

async function main(): Promise<void> {
  console.log(
    `640x480 whole-hand frame, one core (onnxruntime intra-op threads 1, libvips concurrency 1); ` +
      `hand models ${(await getHandModels()) ? 'installed' : 'NOT installed (valley path)'}`,
  );
  console.table(await stageTable());
  if (stagesOnly) return;
  const n = quick ? 8 : 30;
  const roiImgs = Array.from({ length: n }, (_, i) =>
    encodePng(synthesize('roi', 1 + (i % 10), 1 + Math.floor(i / 10), { seed: 42 })),
  );
  const handImgs = Array.from({ length: quick ? 3 : 8 }, (_, i) =>
    encodePng(synthesize('hand', 1 + i, 1, { seed: 42, size: 800 })),
  );
  const rows: Record<string, string | number>[] = [];
  const methods: CodeMethod[] = ['palm', 'compcode'];
  const sources: { what: string; images: Uint8Array[]; kind: 'roi' | 'hand'; target: string; landmarks?: boolean }[] = [
    { what: 'extract ROI crop 128x128 (synthetic PNG)', images: roiImgs, kind: 'roi', target: '<= 10' },
    // the palm detector finds few synthetic hands (drawn, not photographed): the valley path they are made for
    {
      what: 'extract hand photo 800x600 (synthetic PNG, valley path)',
      images: handImgs,
      kind: 'hand',
      target: '<= 80',
      landmarks: false,
    },
  ];
  if (existsSync(path.join(realDir, 'tongji-roi'))) {
    const files = readdirSync(path.join(realDir, 'tongji-roi'))
      .filter((f) => f.endsWith('.bmp'))
      .slice(0, n);
    sources.push({
      what: 'extract ROI crop 128x128 (tongji BMP)',
      images: files.map((f) => readFileSync(path.join(realDir, 'tongji-roi', f))),
      kind: 'roi',
      target: '<= 10',
    });
  }
  if (existsSync(path.join(realDir, 'coep-hands'))) {
    const files = readdirSync(path.join(realDir, 'coep-hands'))
      .filter((f) => f.endsWith('.jpg'))
      .slice(0, quick ? 3 : 12);
    sources.push({
      what: 'extract hand photo 800x600 (coep JPEG)',
      images: files.map((f) => readFileSync(path.join(realDir, 'coep-hands', f))),
      kind: 'hand',
      target: '<= 80',
    });
  }
  for (const src of sources) {
    const ms = await extractMs(src.images, methods, src.kind, src.landmarks);
    methods.forEach((m, k) => {
      rows.push({ what: `${src.what}, ${m}`, value: +ms[k]!.toFixed(2), unit: 'ms', target: src.target });
    });
  }
  const prepared = await Promise.all(roiImgs.map((b) => prepareSample(b, { kind: 'roi' })));
  const sets = await Promise.all(methods.map((m) => templatesFromSamples(prepared, m)));
  if (existsSync(path.join(realDir, 'tongji-roi'))) {
    const files = readdirSync(path.join(realDir, 'tongji-roi'))
      .filter((f) => f.endsWith('.bmp'))
      .slice(0, 40);
    const real = await Promise.all(
      files.map((f) => prepareSample(readFileSync(path.join(realDir, 'tongji-roi', f)), { kind: 'roi' })),
    );
    for (const m of methods) sets.push(await templatesFromSamples(real, m));
  }
  const labels = sets.map((_, k) => `${methods[k % 2]} (${k < 2 ? 'synthetic' : 'tongji-roi'} templates)`);
  comparePerSecond(sets).forEach((c, k) => {
    rows.push({
      what: `fine comparison, ${labels[k]}`,
      value: Math.round(c.pairsPerSecond),
      unit: 'pairs/s',
      target: '>= 200000',
    });
    rows.push({ what: `fine comparison, ${labels[k]}`, value: +c.us.toFixed(2), unit: 'us/pair', target: '<= 5' });
  });
  // embedding (stage one) cosine, for reference
  const ts = await templatesFromSamples(
    await Promise.all(roiImgs.map((b) => prepareSample(b, { kind: 'roi' }))),
    'palm',
  );
  let k = 0;
  let sink = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 300) {
    for (let i = 0; i < ts.length; i++) for (let j = 0; j < ts.length; j++) sink += embeddingSimilarity(ts[i]!, ts[j]!);
    k += ts.length * ts.length;
  }
  if (sink === 42) console.log('');
  rows.push({
    what: 'embedding cosine (128-d), JS',
    value: Math.round(k / ((performance.now() - t0) / 1000)),
    unit: 'pairs/s',
    target: '',
  });
  console.table(rows);
  if (!quick) console.table(await stageOne(500));
}

/**
 * Two-stage search on a synthetic gallery larger than any real set here: one reference per
 * palm, one probe per palm; how often is the mate among the embedding's top K (pgvector), and
 * how often does the fine matcher over those K candidates name the mate?
 */
async function stageOne(ids: number): Promise<Record<string, string | number>[]> {
  const seed = 777;
  const gallery = await templatesFromSamples(
    await Promise.all(
      Array.from({ length: ids }, (_, i) => prepareImage(synthesize('roi', i + 1, 1, { seed }), { kind: 'roi' })),
    ),
  );
  const probes = await templatesFromSamples(
    await Promise.all(
      Array.from({ length: ids }, (_, i) => prepareImage(synthesize('roi', i + 1, 2, { seed }), { kind: 'roi' })),
    ),
  );
  const rows: Record<string, string | number>[] = [];
  for (const k of [1, 10, 50, ids]) {
    let inTop = 0;
    let fineHit = 0;
    for (let p = 0; p < ids; p++) {
      const order = gallery.map((g, i) => [embeddingSimilarity(probes[p]!, g), i] as const).sort((a, b) => b[0] - a[0]);
      const cand = order.slice(0, k).map(([, i]) => i);
      if (cand.includes(p)) inTop++;
      let best = -1;
      let bs = -1;
      for (const i of cand) {
        const s = compare(probes[p]!, gallery[i]!);
        if (s > bs) {
          bs = s;
          best = i;
        }
      }
      if (best === p) fineHit++;
    }
    rows.push({
      gallery: ids,
      topK: k,
      'mate in embedding top K': +(inTop / ids).toFixed(3),
      'rank-1 after fine matching of the K': +(fineHit / ids).toFixed(3),
    });
  }
  return rows;
}

await main();
