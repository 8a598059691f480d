/**
 * The failed-crop gate (src/palm/cropChecks.ts) on failed crops made from good ones
 * (src/palm/devtools/cropFaults.ts): per set and per kind of fault, how many are refused and how
 * many with the right reason; and how many good crops are refused. Synthetic palms (a seed
 * apart from the one the limits were chosen on) always; the dev sets in ../shared/data/palm when
 * present (coep-hands through the hand locator's ROI).
 *
 *   npx tsx bench/crop-gate.ts [--json]
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PalmImageError, decodeImage, prepareImage, type GreyImage } from '../src/palm/index.js';
import {
  ALL_FAULTS,
  REFUSED_FAULTS,
  assessQuality,
  cropFault,
  measureCrop,
  prng,
  makeFault,
  synthRoi,
  toGrey,
  type CropFault,
  type CropFaultKind,
} from '../src/palm/devtools/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const realDir = path.resolve(root, '../shared/data/palm');
const KINDS: CropFaultKind[] = ['turned', 'sleeve', 'background', 'fingers', 'motion'];
const RIGHT: Record<CropFaultKind, string[]> = {
  turned: ['rotated'],
  sleeve: ['partial_palm'],
  background: ['partial_palm'],
  fingers: ['fingers_in_view'],
  motion: ['motion_blur', 'too_blurred'],
};

/**
 * The reason the gate gives, every check counted (turned and motion-blurred crops are measured
 * here though sign-in does not refuse them: REFUSED_FAULTS), quality hard limits included; null
 * when the crop passes.
 */
function refusal(roi: GreyImage, faults: ReadonlySet<CropFault>): string | null {
  const fault = roi.width === 128 && roi.height === 128 ? cropFault(measureCrop(roi), faults) : null;
  if (fault) return fault.fault;
  try {
    assessQuality(roi, 1, roi.width);
    return null;
  } catch (err) {
    if (err instanceof PalmImageError) return err.reason;
    throw err;
  }
}

async function rois(set: string): Promise<GreyImage[]> {
  if (set === 'synthetic') {
    const out: GreyImage[] = [];
    for (let id = 0; id < 40; id++) for (let s = 0; s < 4; s++) out.push(toGrey(synthRoi(id, s, { seed: 2024 })));
    return out;
  }
  const dir = path.join(realDir, set);
  const out: GreyImage[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!/\.(bmp|png|jpe?g)$/i.test(f)) continue;
    try {
      // the ROI as the engine cuts it, without the gate (the good crops are measured below)
      const s = await prepareImage(await decodeImage(readFileSync(path.join(dir, f))), {
        kind: set === 'coep-hands' ? 'hand' : 'roi',
        cropChecks: false,
      });
      out.push(s.roi.roi);
    } catch (err) {
      if (!(err instanceof PalmImageError)) throw err;
    }
  }
  return out;
}

const sets = ['synthetic', 'tongji-roi', 'polyu-ms-green', 'polyu-ms-nir', 'coep-hands'].filter(
  (s) => s === 'synthetic' || existsSync(path.join(realDir, s)),
);
const rows: Record<string, unknown>[] = [];
for (const set of sets) {
  const good = await rois(set);
  const r = prng(0x9a7e);
  const goodReasons: Record<string, number> = {};
  let goodRefused = 0;
  let goodRefusedByGate = 0;
  for (const g of good) {
    const why = refusal(g, ALL_FAULTS);
    if (why) {
      goodRefused++;
      goodReasons[why] = (goodReasons[why] ?? 0) + 1;
    }
    if (refusal(g, REFUSED_FAULTS)) goodRefusedByGate++;
  }
  const row: Record<string, unknown> = {
    set,
    crops: good.length,
    goodRefused: goodRefused / good.length,
    goodRefusedByGate: goodRefusedByGate / good.length,
    goodReasons,
  };
  for (const kind of KINDS) {
    let refused = 0;
    let right = 0;
    let byGate = 0;
    for (let i = 0; i < good.length; i++) {
      const fault = makeFault(kind, good[i]!, good[(i + 37) % good.length]!, r);
      const why = refusal(fault, ALL_FAULTS);
      if (why) refused++;
      if (why && RIGHT[kind].includes(why)) right++;
      if (refusal(fault, REFUSED_FAULTS)) byGate++;
    }
    row[kind] = { refused: refused / good.length, rightReason: right / good.length, byGate: byGate / good.length };
  }
  rows.push(row);
}
if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
else {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  // Each cell: refused by every check (with the right reason); then [refused by the gate sign-in runs].
  console.log(`| set | crops | good refused [by the gate] | ${KINDS.map((k) => `${k}`).join(' | ')} |`);
  console.log(`| --- | --- | --- | ${KINDS.map(() => '---').join(' | ')} |`);
  for (const row of rows) {
    const cells = KINDS.map((k) => {
      const v = row[k] as { refused: number; rightReason: number; byGate: number };
      return `${pct(v.refused)} (${pct(v.rightReason)}) [${pct(v.byGate)}]`;
    });
    console.log(
      `| ${row.set} | ${row.crops} | ${pct(row.goodRefused as number)} ${JSON.stringify(row.goodReasons)} ` +
        `[${pct(row.goodRefusedByGate as number)}] | ${cells.join(' | ')} |`,
    );
  }
}
