/**
 * Training data for the embedding projection: the feature model's Gabor responses for synthetic
 * palms (never the evaluation images). Writes PREFIX.resp.f32 (float32 [n, 6, 32, 32], row-major)
 * and PREFIX.labels.json (identity per row) for training/train_embedding.py.
 *
 *   npx tsx training/synthetic_responses.ts --seed 424242 --ids 2000 --samples 5 --out /tmp/palm-train
 *
 * Deterministic: identity `id` of `seed` is the same palm on every machine; the samples of one
 * identity differ by the generator's capture variation (shift, rotation, scale, light, blur,
 * noise, deformation), which is what the projection learns to ignore.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { prepareImage } from '../src/palm/index.js';
import { getFeatureModel, synthRoi } from '../src/palm/devtools/index.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '424242' },
    ids: { type: 'string', default: '2000' },
    samples: { type: 'string', default: '5' },
    out: { type: 'string' },
  },
});
if (!values.out) throw new Error('--out PREFIX is required');
const seed = Number(values.seed);
const ids = Number(values.ids);
const samples = Number(values.samples);
const model = await getFeatureModel();
const chunks: Buffer[] = [];
const labels: number[] = [];
const started = Date.now();
for (let id = 0; id < ids; id++) {
  const rois = [];
  for (let s = 0; s < samples; s++) {
    const roi = (await prepareImage(synthRoi(id, s, { seed }), { kind: 'roi' })).roi.roi.data;
    rois.push(Float32Array.from(roi, (v) => v / 255));
    labels.push(id);
  }
  const { resp } = await model.run(rois);
  chunks.push(Buffer.from(resp.buffer, resp.byteOffset, resp.byteLength));
  if ((id + 1) % 200 === 0)
    process.stderr.write(`  ${id + 1} / ${ids} identities (${Math.round((Date.now() - started) / 1000)} s)\n`);
}
writeFileSync(`${values.out}.resp.f32`, Buffer.concat(chunks));
writeFileSync(
  `${values.out}.labels.json`,
  JSON.stringify({ seed, ids, samples, shape: [labels.length, model.orientations, model.grid, model.grid], labels }),
);
process.stderr.write(`wrote ${labels.length} samples to ${values.out}.resp.f32\n`);
