/**
 * Calibrate decision thresholds on synthetic palms (never on the evaluation images):
 * draws IDS identities x 2 samples with `synth`, extracts templates with the shipped model,
 * scores every pair with the default matcher, and writes training/calibration.json with the
 * similarity threshold for a range of false match rates. build_models.py copies it into
 * models/manifest.json (thresholds.fmrCalibration, verify, identify).
 *
 *   npx tsx training/calibrate.ts && python3 training/build_models.py
 *
 * Deterministic: fixed seed, deterministic synthesis and matching.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, fnmrAtFmr, prepareImage, synthRoi, templatesFromSamples } from '../src/palm/index.js';

const SEED = 20261128;
const IDS = 250;
const here = path.dirname(fileURLToPath(import.meta.url));

const prepared = [];
const labels: number[] = [];
for (let id = 1; id <= IDS; id++)
  for (let s = 1; s <= 2; s++) {
    prepared.push(prepareImage(synthRoi(id, s, { seed: SEED }), { kind: 'roi' }));
    labels.push(id);
  }
const ts = await templatesFromSamples(prepared, 'palm');
const genuine: number[] = [];
const impostor: number[] = [];
for (let i = 0; i < ts.length; i++)
  for (let j = i + 1; j < ts.length; j++) (labels[i] === labels[j] ? genuine : impostor).push(compare(ts[i]!, ts[j]!));
impostor.sort((a, b) => b - a);
const round = (v: number) => Math.round(v * 10000) / 10000;
const table = [1e-2, 1e-3, 1e-4].map((fmr) => {
  const r = fnmrAtFmr(genuine, impostor, fmr);
  return { fmr, threshold: round(r.threshold), syntheticFnmr: round(r.fnmr) };
});
const out = {
  note: `thresholds on synthetic palms (seed ${SEED}, ${IDS} identities x 2 samples, ${impostor.length} impostor pairs, ${genuine.length} genuine pairs); accept when similarity >= threshold`,
  impostorMax: round(impostor[0]!),
  fmrCalibration: table,
};
writeFileSync(path.join(here, 'calibration.json'), JSON.stringify(out, null, 2) + '\n');
console.log(JSON.stringify(out, null, 2));
