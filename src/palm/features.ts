/**
 * Feature extraction through onnxruntime-node (CPU). The model files and their manifest live
 * in <repo>/models; the model's sha256 is checked against the manifest when it is loaded.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../paths.js';
import * as ort from 'onnxruntime-node';

export const MODELS_DIR = path.join(packageRoot, 'models');

export interface ModelManifestEntry {
  name: string;
  file: string;
  version: string;
  sha256: string;
  input: { name: string; shape: (string | number)[] };
  outputs: { name: string; shape: (string | number)[] }[];
  parameters: { orientations: number; grid: number };
  thresholds: { verify: number; identify: number };
}

export interface FeatureModel {
  manifest: ModelManifestEntry;
  roiSize: number;
  orientations: number;
  grid: number;
  embeddingDim: number;
  /** Run the model on N ROIs (each roiSize^2 floats in [0,1]). */
  run(rois: Float32Array[]): Promise<{ resp: Float32Array; embedding: Float32Array }>;
}

let cached: Promise<FeatureModel> | null = null;

export function loadManifest(dir = MODELS_DIR): { models: ModelManifestEntry[] } {
  return JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { models: ModelManifestEntry[] };
}

async function load(dir: string): Promise<FeatureModel> {
  const man = loadManifest(dir).models[0];
  if (!man) throw new Error('models/manifest.json lists no model');
  const bytes = readFileSync(path.join(dir, man.file));
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== man.sha256) throw new Error(`model ${man.file}: sha256 ${sha} does not match the manifest`);
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const roiSize = Number(man.input.shape[3]);
  const respShape = man.outputs.find((o) => o.name === 'resp')!.shape;
  const embShape = man.outputs.find((o) => o.name === 'embedding')!.shape;
  const orientations = Number(respShape[1]);
  const grid = Number(respShape[2]);
  const embeddingDim = Number(embShape[1]);
  return {
    manifest: man,
    roiSize,
    orientations,
    grid,
    embeddingDim,
    async run(rois) {
      const n = rois.length;
      const px = roiSize * roiSize;
      const input = new Float32Array(n * px);
      for (const [i, r] of rois.entries()) input.set(r, i * px);
      const out = await session.run({ roi: new ort.Tensor('float32', input, [n, 1, roiSize, roiSize]) });
      const resp = out.resp!.data as Float32Array;
      const embedding = out.embedding!.data as Float32Array;
      return { resp, embedding };
    },
  };
}

/** The shared feature model (loaded once per process). */
export function getFeatureModel(dir = MODELS_DIR): Promise<FeatureModel> {
  if (!cached) cached = load(dir);
  return cached;
}
