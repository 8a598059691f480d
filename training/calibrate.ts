/**
 * Calibrate decision thresholds on synthetic palms (never on the evaluation images): draws IDS
 * identities x 2 samples with `synth`, extracts each sample both as a reference template and as a
 * probe (with its small turns and zooms, src/palm/probe.ts), scores every pair as identification does
 * (compareProbe: one sample's probe against the other's template), and writes
 * training/calibration.json:
 *  - fmrCalibration: the similarity threshold measured for per-comparison FMRs 1e-2 … 1e-6
 *    (about 8 million impostor pairs, so 1e-6 rests on ~8 scores above it);
 *  - impostorTail: a normal tail fitted to the impostor quantiles of that table (the scores are
 *    sums of many nearly independent code bits, so their upper tail is close to normal; the fit
 *    is checked against every measured quantile and used below 1e-6, where 1:N against large
 *    galleries needs thresholds no feasible number of pairs can measure).
 * build_models.py copies it into models/manifest.json (thresholds).
 *
 *   npx tsx training/calibrate.ts && python3 training/build_models.py
 *
 * Deterministic: fixed seed, deterministic synthesis and matching.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareProbe, normalUpperQuantile, prepareImage, probesFromSamples, type Probe } from '../src/palm/index.js';
import { fnmrAtFmr, synthRoi } from '../src/palm/devtools/index.js';

const SEED = 20261128;
const IDS = 2000;
const FMRS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6];
const here = path.dirname(fileURLToPath(import.meta.url));

const started = Date.now();
const prepared = [];
const labels: number[] = [];
for (let id = 1; id <= IDS; id++)
  for (let s = 1; s <= 2; s++) {
    prepared.push(await prepareImage(synthRoi(id, s, { seed: SEED }), { kind: 'roi' }));
    labels.push(id);
  }
const probes: Probe[] = [];
for (let i = 0; i < prepared.length; i += 200) probes.push(...(await probesFromSamples(prepared.slice(i, i + 200))));
const ts = probes.map((p) => p.template);
process.stderr.write(
  `extracted ${ts.length} probes in ${Math.round((Date.now() - started) / 1000)} s; scoring all pairs…\n`,
);
const genuine: number[] = [];
const impostor = new Float64Array((ts.length * (ts.length - 1)) / 2 - IDS);
let k = 0;
for (let i = 0; i < ts.length; i++)
  for (let j = i + 1; j < ts.length; j++) {
    const s = compareProbe(probes[i]!, ts[j]!);
    if (labels[i] === labels[j]) genuine.push(s);
    else impostor[k++] = s;
  }
impostor.sort().reverse();
const round = (v: number) => Math.round(v * 10000) / 10000;
const table = FMRS.map((fmr) => {
  const r = fnmrAtFmr(genuine, impostor, fmr);
  return { fmr, threshold: round(r.threshold), syntheticFnmr: round(r.fnmr) };
});
// Least-squares line threshold = mean + sd * z(fmr) through the measured quantiles.
const zs = table.map((r) => normalUpperQuantile(r.fmr));
const ys = table.map((r) => r.threshold);
const zm = zs.reduce((s, z) => s + z, 0) / zs.length;
const ym = ys.reduce((s, y) => s + y, 0) / ys.length;
const sd = zs.reduce((s, z, i) => s + (z - zm) * (ys[i]! - ym), 0) / zs.reduce((s, z) => s + (z - zm) ** 2, 0);
const mean = ym - sd * zm;
const worstResidual = Math.max(...zs.map((z, i) => Math.abs(mean + sd * z - ys[i]!)));
const out = {
  note: `thresholds on synthetic palms (seed ${SEED}, ${IDS} identities x 2 samples, ${impostor.length} impostor pairs, ${genuine.length} genuine pairs); accept when similarity >= threshold`,
  impostorMax: round(impostor[0]!),
  fmrCalibration: table,
  impostorTail: {
    model: 'normal',
    mean: round(mean),
    sd: round(sd),
    fittedTo: `the ${table.length} quantiles above (FMR ${FMRS[0]} … ${FMRS[FMRS.length - 1]})`,
    worstResidual: round(worstResidual),
  },
};
writeFileSync(path.join(here, 'calibration.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify(out, null, 2));
