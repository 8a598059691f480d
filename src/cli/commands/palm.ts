/**
 * Palm engine commands: `palmid roi`, `palmid synth`, `palmid eval`.
 * They read the files the user names and write only where the user asks (--out, --debug,
 * --plot, synth's OUTDIR).
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  PalmImageError,
  decodeImage,
  prepareImage,
  type CodeMethod,
  type ImageKind,
  type PreparedSample,
  type RasterImage,
} from '../../palm/index.js';
import type { EvalDetails } from '../../palm/devtools/index.js';
import { UserError, io, print, printJson } from '../output.js';

function positiveInt(name: string, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max)
      throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}`);
    return n;
  };
}

function seedInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n > 0xffffffff)
    throw new InvalidArgumentError('seed must be an integer from 0 to 4294967295');
  return n;
}

function readInput(file: string): Uint8Array {
  if (!existsSync(file)) throw new UserError(`no such file: ${file}`);
  if (!statSync(file).isFile()) throw new UserError(`not a file: ${file}`);
  return readFileSync(file);
}

/** The engine's development entry, loaded by these commands only: the server never loads it. */
const devtools = () => import('../../palm/devtools/index.js');

// Kept on purpose: the line names the file and the rejection reason, not only the engine's message.
function palmError(file: string, e: unknown): never {
  if (e instanceof PalmImageError) throw new UserError(`${file}: ${e.reason}: ${e.message}`);
  throw e;
}

export function register(program: Command): void {
  program
    .command('roi')
    .description('cut the palm region of interest from an image (palm crop or whole hand) and report its quality')
    .argument('<image>', 'PNG, JPEG or BMP image')
    .requiredOption('-o, --out <file>', 'write the normalised ROI here (PNG)')
    .option(
      '--debug <file>',
      'write the source image with both locators drawn: hand landmarks and their frame, ' +
        'finger valleys (PNG, whole hands)',
    )
    .addOption(new Option('--kind <kind>', 'what the image shows').choices(['auto', 'roi', 'hand']).default('auto'))
    .option('--no-landmarks', 'whole hands: the finger-valley locator alone, without the hand landmark models')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        image: string,
        opts: { out: string; debug?: string; kind: ImageKind; landmarks: boolean; json?: boolean },
      ) => {
        const bytes = readInput(image);
        let prepared: PreparedSample;
        let decoded: RasterImage;
        try {
          decoded = await decodeImage(bytes);
          prepared = await prepareImage(decoded, { kind: opts.kind, landmarks: opts.landmarks });
        } catch (e) {
          palmError(image, e);
        }
        const { roi, quality } = prepared;
        const { drawLandmarks, encodePng } = await devtools();
        writeFileSync(opts.out, encodePng(roi.roi));
        if (opts.debug) {
          if (roi.landmarks) writeFileSync(opts.debug, encodePng(drawLandmarks(decoded, roi.landmarks)));
          else io().err('palmid: --debug: the image was read as a palm crop; there are no hand landmarks to draw\n');
        }
        const result = {
          kind: roi.kind,
          roiConfidence: roi.confidence,
          sourceSide: Math.round(roi.sourceSide),
          ...(roi.landmarks?.source ? { locatedBy: roi.landmarks.source } : {}),
          ...(roi.landmarks?.keypoints
            ? {
                handPresence: roi.landmarks.keypoints.presence,
                handedness: roi.landmarks.keypoints.handedness > 0.5 ? 'right' : 'left',
                side: roi.landmarks.keypoints.side,
              }
            : {}),
          quality: quality.score,
          acceptable: quality.acceptable,
          reasons: quality.reasons,
          out: opts.out,
          ...(opts.debug && roi.landmarks ? { debug: opts.debug } : {}),
        };
        if (opts.json) printJson(result);
        else {
          print(
            `${image}: ${roi.kind}${result.locatedBy ? ` (located by ${result.locatedBy})` : ''}, ` +
              `ROI ${result.sourceSide} px, confidence ${roi.confidence.toFixed(2)}, ` +
              `quality ${quality.score.toFixed(2)}${quality.acceptable ? '' : ' (too low to enrol)'}`,
          );
          for (const r of quality.reasons) print(`  ${r.factor.padEnd(14)} ${r.score.toFixed(2)}  ${r.message}`);
          print(`ROI written to ${opts.out}${result.debug ? `, landmarks to ${result.debug}` : ''}`);
        }
      },
    );

  program
    .command('synth')
    .description('draw synthetic palms deterministically (files ID_SAMPLE.png)')
    .argument('<outdir>', 'folder to write into (created if missing)')
    .option('--identities <n>', 'number of palms', positiveInt('identities', 100000), 10)
    .option('--samples <m>', 'samples per palm', positiveInt('samples', 1000), 4)
    .addOption(
      new Option('--kind <kind>', 'palm crop or whole hand on a dark background')
        .choices(['roi', 'hand'])
        .default('roi'),
    )
    .option('--seed <s>', 'random seed (same seed, same images)', seedInt, 1)
    .option('--size <px>', 'ROI side, or hand image width (default 128 / 640)', positiveInt('size', 4096))
    .addOption(
      new Option('--fingers <pose>', 'hand only: fingers spread or held together')
        .choices(['spread', 'closed'])
        .default('spread'),
    )
    .option('--json', 'print a summary as JSON')
    .action(
      async (
        outdir: string,
        opts: {
          identities: number;
          samples: number;
          kind: 'roi' | 'hand';
          seed: number;
          size?: number;
          fingers: 'spread' | 'closed';
          json?: boolean;
        },
      ) => {
        if (existsSync(outdir) && !statSync(outdir).isDirectory()) throw new UserError(`not a folder: ${outdir}`);
        mkdirSync(outdir, { recursive: true });
        const { encodePng, synthesize } = await devtools();
        const idw = Math.max(3, String(opts.identities).length);
        const sw = Math.max(2, String(opts.samples).length);
        const total = opts.identities * opts.samples;
        const bar = progressBar(total, !opts.json);
        for (let id = 1; id <= opts.identities; id++)
          for (let s = 1; s <= opts.samples; s++) {
            const img = synthesize(opts.kind, id, s, {
              seed: opts.seed,
              fingers: opts.fingers,
              ...(opts.size ? { size: opts.size } : {}),
            });
            const name = `${String(id).padStart(idw, '0')}_${String(s).padStart(sw, '0')}.png`;
            writeFileSync(path.join(outdir, name), encodePng(img));
            bar.increment();
          }
        bar.stop();
        const summary = {
          outdir,
          kind: opts.kind,
          identities: opts.identities,
          samples: opts.samples,
          seed: opts.seed,
          images: total,
        };
        if (opts.json) printJson(summary);
        else print(`wrote ${total} ${opts.kind} images to ${outdir} (seed ${opts.seed})`);
      },
    );

  program
    .command('eval')
    .description('evaluate recognition on a folder of images named ID_SAMPLE.ext (all pairs, leave-one-out rank-1)')
    .argument('<dir>', 'folder of PNG/JPEG/BMP images named ID_SAMPLE.ext')
    .addOption(new Option('--kind <kind>', 'what the images show').choices(['auto', 'roi', 'hand']).default('auto'))
    .addOption(
      new Option('--method <method>', 'matcher: palm (default), bocv, or the classical compcode reference')
        .choices(['palm', 'bocv', 'compcode'])
        .default('palm'),
    )
    .option('--json', 'print one JSON object (rates as fractions)')
    .option('--plot <file>', 'write a DET curve (SVG)')
    .option('--no-progress', 'no progress bar')
    .option('--no-crop-checks', 'accept failed crops (turned, partial, fingers, motion blur): to measure the gate')
    .option('--no-landmarks', 'whole hands: the finger-valley locator alone, without the hand landmark models')
    .action(
      async (
        dir: string,
        opts: {
          kind: ImageKind;
          method: CodeMethod;
          json?: boolean;
          plot?: string;
          progress: boolean;
          cropChecks: boolean;
          landmarks: boolean;
        },
      ) => {
        if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`not a folder: ${dir}`);
        const { detSvg, evaluateDirectory } = await devtools();
        const bar = progressBar(0, opts.progress);
        let started = false;
        let details: EvalDetails;
        try {
          details = await evaluateDirectory(dir, {
            kind: opts.kind,
            method: opts.method,
            cropChecks: opts.cropChecks,
            landmarks: opts.landmarks,
            onProgress: (done, total) => {
              if (!started) {
                bar.start(total, 0);
                started = true;
              }
              bar.update(done);
            },
          });
        } finally {
          bar.stop();
        }
        const r = details.report;
        if (r.images === 0) throw new UserError(`no images named ID_SAMPLE.(png|jpg|jpeg|bmp) in ${dir}`);
        if (opts.plot) {
          writeFileSync(
            opts.plot,
            detSvg(
              [{ label: `${opts.method} (EER ${(r.eer * 100).toFixed(2)} %)`, points: details.det }],
              `DET: ${path.basename(path.resolve(dir))}`,
            ),
          );
        }
        if (opts.json) {
          printJson(r);
          return;
        }
        const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(3)} %` : 'n/a');
        print(`${path.resolve(dir)} (method ${opts.method})`);
        print(`  images            ${r.images}  (${r.identities} identities)`);
        print(
          `  failed to acquire ${r.failedToAcquire}` +
            (details.failures.length ? `  ${details.failures.map((f) => `${f.file}: ${f.reason}`).join(', ')}` : ''),
        );
        print(`  genuine pairs     ${r.genuinePairs}`);
        print(`  impostor pairs    ${r.impostorPairs}`);
        print(`  EER               ${pct(r.eer)}`);
        print(`  FNMR @ FMR 1e-3   ${pct(r.fnmrAtFmr1e3)}`);
        print(
          `  FNMR @ FMR 1e-4   ${pct(r.fnmrAtFmr1e4)}` +
            (r.impostorPairs < 10000 ? '  (fewer than 10,000 impostor pairs: coarse)' : ''),
        );
        print(`  rank-1            ${pct(r.rank1)}`);
        print(`  extraction        ${r.extractMs.toFixed(2)} ms per image (as a probe: as taken, turned and zoomed)`);
        print(
          `  comparison        ${r.compareUs.toFixed(2)} us per pair (a probe, with its variants, against a template)`,
        );
        const e = details.embedding;
        print(
          `  stage one (embedding cosine): rank-1 ${pct(e.rank1)}; ` +
            "identity ranked first by the fine matcher found in the embedding's top " +
            e.recallTop.map((t) => `${t.k}: ${pct(t.recall)}`).join(', '),
        );
        if (opts.plot) print(`DET curve written to ${opts.plot}`);
      },
    );
}

interface Bar {
  start(total: number, value: number): void;
  update(v: number): void;
  increment(): void;
  stop(): void;
}

function progressBar(total: number, enabled: boolean): Bar {
  if (!enabled || !process.stderr.isTTY) return { start() {}, update() {}, increment() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      clearOnComplete: true,
      hideCursor: true,
      format: ' {bar} {value}/{total} images  {eta_formatted} left',
    },
    cliProgress.Presets.shades_classic,
  );
  if (total > 0) bar.start(total, 0);
  return bar;
}
