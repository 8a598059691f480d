/**
 * Presentation attack detection on the COEP dev hands (../shared/data/palm/coep-hands, 35 people x
 * 4 photos of the same right hand with different finger spreads), in ISO/IEC 30107-3 terms:
 *
 * - BPCER: bona fide presentations not accepted as live. The bona fide set is a PROXY: sequences
 *   of different photos of the same hand (real non-rigid pose changes between captures), each
 *   moved a little; it is not video of a live hand (src/palm/devtools/pad-attacks.ts says how it
 *   differs);
 * - APCER per attack type: attack presentations accepted as live (rigid, perspective,
 *   screen-still, screen-video, print; made in memory, seeded);
 * - with the challenge 'close' asked (what the kiosk asks after the ready frame): BPCER on SYNTHETIC
 *   bona fide sequences (src/palm/devtools/live-sequence.ts: one photo, then its fingers and thumb
 *   warped closed: a proxy, not a live hand), and APCER per attack type judged with the challenge;
 * - IAPAR: impostor attack presentations (another person's palm: the victim's photo or video)
 *   accepted as live AND matched 1:1 to the victim's reference (a photo of the victim that the
 *   attack did not use) at the default tenant threshold (target FMR 1e-5).
 *
 * People are split in two halves by identity: the calibration half (the first 19) is where the
 * thresholds in src/palm/pad/tunables.ts were chosen (--split calibrate prints the measures'
 * quantiles per set); the evaluation half (the other 16) is what the figures are reported on.
 *
 *   npm run bench:pad [-- --split evaluate|calibrate|all] [--frames 3] [--per-person 1] [--seed pad1] [--no-match] [--json]
 *
 * Writes nothing; the images live in memory only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { thresholdForFmr } from '../src/biometrics/threshold.js';
import { getHandModels } from '../src/palm/devtools/index.js';
import { liveSequence } from '../src/palm/devtools/live-sequence.js';
import { ATTACKS, type AttackType, attackSequence, bonaFideSequence } from '../src/palm/devtools/pad-attacks.js';
import type { RasterImage } from '../src/palm/image.js';
import { bestMatch, extractProbe, extractTemplate, type PalmTemplate } from '../src/palm/index.js';
import { checkLiveness, handPasses, judge, type LivenessResult, PAD } from '../src/palm/pad/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const flag = (name: string) => process.argv.includes(`--${name}`);
const source = path.resolve(arg('source') ?? path.join(root, '../shared/data/palm/coep-hands'));
const split = (arg('split') ?? 'evaluate') as 'evaluate' | 'calibrate' | 'all';
const frames = Number(arg('frames') ?? '3');
const perPerson = Number(arg('per-person') ?? '1');
const seed = arg('seed') ?? 'pad1';
const match = !flag('no-match');
const json = flag('json');
const wantedTypes = arg('types')?.split(',') as AttackType[] | undefined;
const types = wantedTypes ?? [...ATTACKS];
const limitPeople = arg('people') ? Number(arg('people')) : undefined;

if (!['evaluate', 'calibrate', 'all'].includes(split)) throw new Error('--split: evaluate, calibrate or all');
if (!(frames >= 2 && frames <= 4)) throw new Error('--frames: 2 to 4 (4 photos per person, one kept as reference)');

const files = readdirSync(source).filter((f) => /^[^_]+_[^.]+\.jpe?g$/i.test(f));
const byPerson = new Map<string, string[]>();
for (const f of files.sort()) {
  const id = f.split('_')[0]!;
  byPerson.set(id, [...(byPerson.get(id) ?? []), f]);
}
const ids = [...byPerson.keys()].filter((id) => byPerson.get(id)!.length >= frames + 1);
const half = Math.ceil(ids.length * 0.54);
let people = split === 'calibrate' ? ids.slice(0, half) : split === 'evaluate' ? ids.slice(half) : ids;
if (limitPeople) people = people.slice(0, limitPeople);

const models = await getHandModels();
if (!models) throw new Error('the hand models are not installed (models/hands.json)');
const threshold = thresholdForFmr(1e-5, 1);

async function decode(file: string): Promise<RasterImage> {
  const { data, info } = await sharp(readFileSync(path.join(source, file)))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels as 1 | 3, data: new Uint8Array(data) };
}
const jpeg = (img: RasterImage) =>
  sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: img.channels } })
    .jpeg({ quality: 92 })
    .toBuffer();

/** Is any frame matched 1:1 to the reference? */
async function matched(seq: RasterImage[], reference: PalmTemplate): Promise<boolean> {
  for (const f of seq) {
    try {
      const { probe } = await extractProbe(new Uint8Array(await jpeg(f)), { kind: 'hand' });
      if ((await bestMatch(probe, [reference], threshold)).index >= 0) return true;
    } catch {
      // a frame the engine cannot read matches nothing
    }
  }
  return false;
}

interface Row {
  set: 'bona-fide' | 'synthetic-close' | AttackType;
  person: string;
  result: LivenessResult;
  matched?: boolean;
  /** judged with the challenge 'close' asked (attacks and the synthetic close set) */
  challenged?: LivenessResult;
  matchedChallenged?: boolean;
}
/** The sequence judged without and with the challenge 'close', its frames detected once. */
async function judgeBoth(seq: RasterImage[]): Promise<{ result: LivenessResult; challenged: LivenessResult }> {
  const passes = (await handPasses(seq, models)) ?? undefined;
  return {
    result: await checkLiveness(seq, { models, passes }),
    challenged: await checkLiveness(seq, { models, passes, challenge: 'close' }),
  };
}
const rows: Row[] = [];
const t0 = Date.now();
for (const id of people) {
  const photoFiles = byPerson.get(id)!;
  const photos = await Promise.all(photoFiles.map(decode));
  // bona fide: every choice of `frames` photos in capture order, the one left out as the reference
  for (let leave = photos.length - 1; leave >= 0 && photos.length - 1 - leave < perPerson * 2; leave--) {
    const chosen = photos.filter((_, i) => i !== leave).slice(0, frames);
    const seq = await bonaFideSequence(chosen, `${seed}:${id}:${leave}`);
    rows.push({ set: 'bona-fide', person: id, result: await checkLiveness(seq, { models }) });
  }
  const referenceIndex = photos.length - 1;
  // synthetic bona fide following the challenge 'close': a photo (never the reference), its fingers warped closed
  for (let k = 0; k < perPerson; k++) {
    const seq = await liveSequence(photos[k % referenceIndex]!, `${seed}:${id}:${k}`, { frames, models });
    if (!seq) continue; // no hand on the photo: no sequence (counted as missing, not as refused)
    const { result, challenged } = await judgeBoth(seq);
    rows.push({ set: 'synthetic-close', person: id, result, challenged });
  }
  let reference: PalmTemplate | undefined;
  if (match) {
    try {
      reference = (
        await extractTemplate(readFileSync(path.join(source, photoFiles[referenceIndex]!)), { kind: 'hand' })
      ).template;
    } catch {
      reference = undefined;
    }
  }
  for (const type of types)
    for (let k = 0; k < perPerson; k++) {
      const sourceIndex = k % referenceIndex; // never the reference photo
      const stills = type === 'screen-video' ? photos.slice(0, referenceIndex) : [photos[sourceIndex]!];
      const seq = await attackSequence(type, stills, frames, `${seed}:${id}:${k}`);
      const { result, challenged } = await judgeBoth(seq);
      const row: Row = { set: type, person: id, result, challenged };
      const anyLive = result.verdict === 'live' || challenged.verdict === 'live';
      const hit = match && anyLive ? (reference ? await matched(seq, reference) : false) : false;
      if (match && result.verdict === 'live') row.matched = hit;
      if (match && challenged.verdict === 'live') row.matchedChallenged = hit;
      rows.push(row);
    }
  if (!json) process.stderr.write(`\r${id} (${Math.round((Date.now() - t0) / 1000)} s)   `);
}
if (!json) process.stderr.write('\n');

const quantiles = (xs: number[]) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  return [q(0), q(0.05), q(0.5), q(0.95), q(1)].map((v) => Math.round(v * 1000) / 1000);
};
const sets = ['bona-fide', ...types] as const;
const summary = sets.map((set) => {
  const r = rows.filter((x) => x.set === set);
  const live = r.filter((x) => x.result.verdict === 'live').length;
  const reasons: Record<string, number> = {};
  for (const x of r) for (const why of x.result.reasons) reasons[why] = (reasons[why] ?? 0) + 1;
  return {
    set,
    presentations: r.length,
    acceptedAsLive: live,
    rate: r.length ? live / r.length : Number.NaN,
    ...(set !== 'bona-fide' && match ? { acceptedAndMatched: r.filter((x) => x.matched).length } : {}),
    reasons,
    quantiles: {
      planarResidual: quantiles(r.map((x) => x.result.track?.planarResidual ?? Number.NaN)),
      articulation: quantiles(r.map((x) => x.result.track?.articulation ?? Number.NaN)),
      spectralPeak: quantiles(r.map((x) => x.result.cues?.spectralPeak ?? Number.NaN)),
      glare: quantiles(r.map((x) => x.result.cues?.glare ?? Number.NaN)),
    },
  };
});
const attacks = rows.filter((x) => x.set !== 'bona-fide' && x.set !== 'synthetic-close');
/** With the challenge 'close' asked: the synthetic close set's BPCER, each attack type's APCER, IAPAR. */
const liveWith = (x: Row) => x.challenged?.verdict === 'live';
const synthetic = rows.filter((x) => x.set === 'synthetic-close');
const challengeReasons: Record<string, number> = {};
for (const x of synthetic)
  for (const why of x.challenged?.reasons ?? []) challengeReasons[why] = (challengeReasons[why] ?? 0) + 1;
const withChallenge = {
  challenge: 'close',
  note: 'bona fide = SYNTHETIC (one photo, fingers and thumb warped closed): a proxy, not a live hand',
  bonaFide: synthetic.length,
  BPCER: synthetic.length ? 1 - synthetic.filter(liveWith).length / synthetic.length : Number.NaN,
  BPCERwithoutChallenge: synthetic.length
    ? 1 - synthetic.filter((x) => x.result.verdict === 'live').length / synthetic.length
    : Number.NaN,
  reasons: challengeReasons,
  spreadChange: quantiles(synthetic.map((x) => x.challenged?.track?.challenge?.change ?? Number.NaN)),
  APCER: Object.fromEntries(
    types.map((t) => {
      const r = attacks.filter((x) => x.set === t);
      return [t, r.filter(liveWith).length / r.length];
    }),
  ),
  ...(match ? { IAPAR: attacks.filter((x) => x.matchedChallenged).length / attacks.length } : {}),
};
/** The trade-off of the main threshold: the same presentations judged at other planar residuals. */
const sweep = [0.02, 0.03, 0.04, 0.05, 0.06, 0.08].map((minPlanarResidual) => {
  const live = (x: Row) =>
    x.result.track !== undefined &&
    judge(x.result.track, x.result.cues ? [x.result.cues] : [], { ...PAD, minPlanarResidual }).verdict === 'live';
  const rate = (set: string) => {
    const r = rows.filter((x) => x.set === set);
    return r.filter(live).length / r.length;
  };
  return {
    minPlanarResidual,
    BPCER: 1 - rate('bona-fide'),
    APCER: Object.fromEntries(types.map((t) => [t, rate(t)])),
  };
});
const report = {
  source,
  split,
  people: people.length,
  frames,
  seed,
  threshold,
  BPCER: summary[0]!.presentations ? 1 - summary[0]!.rate : Number.NaN,
  APCER: Object.fromEntries(summary.slice(1).map((s) => [s.set, s.rate])),
  APCERmax: Math.max(...summary.slice(1).map((s) => s.rate)),
  ...(match ? { IAPAR: attacks.filter((x) => x.matched).length / attacks.length } : {}),
  sets: summary,
  withChallenge,
  sweep,
  seconds: Math.round((Date.now() - t0) / 1000),
};
if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
else {
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  console.log(`PAD on ${source} (${split} half: ${people.length} people, ${frames} frames a sequence, seed ${seed})`);
  console.log('NOTE: bona fide = different photos of the same hand (a proxy for video of a live hand, not live video)');
  console.log('set            n    accepted as live  rate     accepted+matched  reasons (not live)');
  for (const s of summary)
    console.log(
      `${s.set.padEnd(13)} ${String(s.presentations).padStart(4)}  ${String(s.acceptedAsLive).padStart(16)}  ${pct(s.rate).padStart(7)}  ${String(s.acceptedAndMatched ?? '-').padStart(16)}  ${JSON.stringify(s.reasons)}`,
    );
  console.log(`BPCER ${pct(report.BPCER)}   APCER (worst type) ${pct(report.APCERmax)}`);
  if (report.IAPAR !== undefined)
    console.log(`IAPAR ${pct(report.IAPAR)} (attacks with the victim's palm accepted as live AND matched 1:1)`);
  console.log(`with the challenge 'close' asked (${withChallenge.note}):`);
  console.log(
    `  BPCER ${pct(withChallenge.BPCER)} on ${withChallenge.bonaFide} synthetic close sequences (without the challenge: ${pct(withChallenge.BPCERwithoutChallenge)}); reasons ${JSON.stringify(withChallenge.reasons)}`,
  );
  console.log(
    `  mean finger spread change asked 'close' (min, 5 %, median, 95 %, max): ${JSON.stringify(withChallenge.spreadChange)} degrees`,
  );
  console.log(`  APCER ${types.map((t) => `${t} ${pct(withChallenge.APCER[t]!)}`).join(', ')}`);
  if (withChallenge.IAPAR !== undefined) console.log(`  IAPAR ${pct(withChallenge.IAPAR)}`);
  console.log('trade-off: the same presentations at other minPlanarResidual (other thresholds as set)');
  console.log(`  minPlanarResidual  BPCER    ${types.map((t) => `APCER ${t}`.padEnd(20)).join('')}`);
  for (const s of sweep)
    console.log(
      `  ${String(s.minPlanarResidual).padEnd(17)}  ${pct(s.BPCER).padStart(7)}  ${types.map((t) => pct(s.APCER[t]!).padEnd(20)).join('')}`,
    );
  if (split !== 'evaluate') {
    console.log('quantiles (min, 5 %, median, 95 %, max) per set:');
    for (const s of summary) console.log(`  ${s.set.padEnd(13)} ${JSON.stringify(s.quantiles)}`);
  }
  console.log(`${report.seconds} s`);
}
