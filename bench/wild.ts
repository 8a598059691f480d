/**
 * In-the-wild robustness set and per-condition figures. From the COEP dev hands
 * (../shared/data/palm/coep-hands, 35 people x 4 photos on a black cloth with coloured pegs) it
 * writes one folder per condition (bench/wild-set.ts CONDITIONS: webcam quality only; the hand cut
 * out on plain black without the pegs; on a light wall, a wood desk, bright patterns, a mix of 15
 * surfaces), every image at webcam quality, named ID_SAMPLE.jpg so that `palmid eval DIR --kind
 * hand` reads it, with a manifest.json of what each image used. Then it evaluates the original set
 * and every condition with the engine (the same evaluateDirectory as `palmid eval`) and prints a
 * table. Same seed, same bytes.
 *
 *   npm run bench:wild [-- --out /tmp/wild] [--seed 1] [--conditions black,mixed] [--make-only | --eval-only] [--json]
 *
 * The backgrounds come from Debian packages: apt-get install -y mate-backgrounds gnome-backgrounds
 * It writes only under --out, which may not be inside the repository or the shared data folder.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluateDirectory } from '../src/palm/devtools/index.js';
import {
  BACKGROUNDS,
  CONDITIONS,
  cutHand,
  decodeRgb,
  loadBackground,
  makeImage,
  type BackgroundName,
  type Condition,
  type LoadedBackground,
  type MadeImage,
} from './wild-set.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sharedDir = path.resolve(root, '../shared');
const SAMPLE = /^([^_]+)_([^.]+)\.(png|jpe?g|bmp)$/i;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const out = path.resolve(arg('out') ?? '/tmp/wild');
const source = path.resolve(arg('source') ?? path.join(sharedDir, 'data/palm/coep-hands'));
const seed = Number(arg('seed') ?? '1');
const json = flag('json');
const wanted = arg('conditions')?.split(',');
const conditions = wanted ? CONDITIONS.filter((c) => wanted.includes(c.name)) : CONDITIONS;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

const inside = (dir: string, parent: string) => dir === parent || dir.startsWith(parent + path.sep);
if (!Number.isInteger(seed)) fail('--seed takes an integer');
if (wanted && conditions.length !== wanted.length)
  fail(`unknown condition in --conditions; known: ${CONDITIONS.map((c) => c.name).join(', ')}`);
if (inside(out, root) || inside(out, sharedDir)) fail(`--out must be outside the repository and shared/: ${out}`);
if (!existsSync(source)) fail(`no dev set at ${source} (see ../shared/data/palm/README.md)`);

const log = (s: string) => {
  if (!json) process.stdout.write(`${s}\n`);
};

function packageVersion(pkg: string): string | null {
  try {
    const status = execFileSync('dpkg', ['-s', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /^Version: (.+)$/m.exec(status)?.[1] ?? null;
  } catch {
    return null;
  }
}

const round = (v: unknown): unknown =>
  typeof v === 'number'
    ? Math.round(v * 1e4) / 1e4
    : v && typeof v === 'object'
      ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, round(x)]))
      : v;

async function make(): Promise<void> {
  const needed = new Set<BackgroundName>(conditions.flatMap((c) => (Array.isArray(c.surface) ? c.surface : [])));
  const missing = [...needed].filter((n) => !existsSync(BACKGROUNDS[n].file));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((n) => BACKGROUNDS[n].pkg))].join(' ');
    fail(
      `missing backgrounds: ${missing.map((n) => BACKGROUNDS[n].file).join(', ')}\n` +
        `install them with: apt-get install -y ${pkgs}`,
    );
  }
  const backgrounds = new Map<BackgroundName, LoadedBackground>();
  for (const n of needed) backgrounds.set(n, await loadBackground(n));
  const files = readdirSync(source)
    .filter((f) => SAMPLE.test(f))
    .sort();
  for (const c of conditions) {
    const dir = path.join(out, c.name);
    mkdirSync(dir, { recursive: true });
    // a previous run's images (perhaps of another seed) would mix into the evaluation
    for (const f of readdirSync(dir)) if (SAMPLE.test(f)) rmSync(path.join(dir, f));
  }
  const images: Record<string, Record<string, MadeImage['record']>> = {};
  for (const c of conditions) images[c.name] = {};
  const t0 = performance.now();
  for (let k = 0; k < files.length; k++) {
    const file = files[k]!;
    const img = await decodeRgb(readFileSync(path.join(source, file)));
    const cut = conditions.some((c) => c.surface !== 'cloth') ? cutHand(img) : null;
    const name = `${path.parse(file).name}.jpg`;
    for (const c of conditions) {
      const made = await makeImage(img, cut, c, backgrounds, seed, name);
      writeFileSync(path.join(out, c.name, name), made.jpeg);
      images[c.name]![name] = round(made.record) as MadeImage['record'];
    }
    if (!json && process.stderr.isTTY) process.stderr.write(`\r${k + 1}/${files.length}`);
  }
  if (!json && process.stderr.isTTY) process.stderr.write('\n');
  const manifest = {
    about: 'in-the-wild variants of the COEP dev hands, made by bench/wild.ts; dev-set images, not for redistribution',
    seed,
    source,
    webcam: '640x480, Gaussian blur sigma 0.6-1.2, JPEG quality 75, light x0.7-1.3 (per image)',
    conditions: conditions.map((c: Condition) => ({ name: c.name, description: c.description, folder: c.name })),
    backgrounds: Object.fromEntries(
      [...needed].map((n) => [
        n,
        {
          file: BACKGROUNDS[n].file,
          package: BACKGROUNDS[n].pkg,
          packageVersion: packageVersion(BACKGROUNDS[n].pkg),
          sha256: createHash('sha256').update(readFileSync(BACKGROUNDS[n].file)).digest('hex'),
          looks: BACKGROUNDS[n].looks,
        },
      ]),
    ),
    images,
  };
  writeFileSync(path.join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  log(
    `wrote ${files.length} images x ${conditions.length} conditions to ${out} (seed ${seed}, ` +
      `${((performance.now() - t0) / 1000).toFixed(0)} s); manifest.json lists each image's background`,
  );
}

interface Row {
  condition: string;
  images: number;
  failedToAcquire: number;
  rank1: number;
  eer: number;
  fnmrAtFmr1e3: number;
  extractMs: number;
  failures: string[];
}

async function evaluate(): Promise<Row[]> {
  const sets = [
    { condition: 'original', dir: source },
    ...conditions.map((c) => ({ condition: c.name, dir: path.join(out, c.name) })),
  ];
  const rows: Row[] = [];
  for (const s of sets) {
    if (!existsSync(s.dir)) fail(`no folder ${s.dir}: make the set first (without --eval-only)`);
    const d = await evaluateDirectory(s.dir, { kind: 'hand' });
    const r = d.report;
    rows.push({
      condition: s.condition,
      images: r.images,
      failedToAcquire: r.failedToAcquire,
      rank1: r.rank1,
      eer: r.eer,
      fnmrAtFmr1e3: r.fnmrAtFmr1e3,
      extractMs: r.extractMs,
      failures: d.failures.map((f) => `${f.file}: ${f.reason}`),
    });
    log(`evaluated ${s.condition}`);
  }
  return rows;
}

const pct = (v: number, digits = 1) => (Number.isFinite(v) ? `${(v * 100).toFixed(digits)} %` : 'n/a');

if (!flag('eval-only')) await make();
if (!flag('make-only')) {
  const rows = await evaluate();
  writeFileSync(path.join(out, 'results.json'), `${JSON.stringify({ seed, rows }, null, 1)}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ seed, out, rows })}\n`);
  else {
    log('');
    log('| condition | images | failed to acquire | rank-1 | EER | FNMR @ FMR 1e-3 | extraction ms |');
    log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows)
      log(
        `| ${r.condition} | ${r.images} | ${r.failedToAcquire} (${pct(r.failedToAcquire / r.images)}) | ` +
          `${pct(r.rank1)} | ${pct(r.eer, 2)} | ${pct(r.fnmrAtFmr1e3)} | ${r.extractMs.toFixed(0)} |`,
      );
    log(`(rates over the acquired images; failures listed in ${path.join(out, 'results.json')})`);
  }
}
