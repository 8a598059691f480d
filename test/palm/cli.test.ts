import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { register } from '../../src/cli/commands/palm.js';
import { ioStorage } from '../../src/cli/output.js';

async function run(args: string[]): Promise<{ out: string; err: string; error?: Error }> {
  let out = '';
  let err = '';
  const program = new Command('palmid')
    .exitOverride()
    .configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  register(program);
  try {
    await ioStorage.run(
      {
        out: (s) => {
          out += s;
        },
        err: (s) => {
          err += s;
        },
      },
      () => program.parseAsync(['node', 'palmid', ...args]),
    );
    return { out, err };
  } catch (e) {
    return { out, err, error: e as Error };
  }
}

describe('palmid roi / synth / eval', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'palmid-palm-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('synth writes the same files for the same seed', async () => {
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    for (const d of [a, b]) {
      const r = await run([
        'synth',
        d,
        '--identities',
        '3',
        '--samples',
        '3',
        '--kind',
        'roi',
        '--seed',
        '9',
        '--json',
      ]);
      expect(r.error).toBeUndefined();
      expect(JSON.parse(r.out)).toMatchObject({ images: 9, seed: 9 });
    }
    const files = readdirSync(a).sort();
    expect(files).toEqual([
      '001_01.png',
      '001_02.png',
      '001_03.png',
      '002_01.png',
      '002_02.png',
      '002_03.png',
      '003_01.png',
      '003_02.png',
      '003_03.png',
    ]);
    for (const f of files) expect(readFileSync(path.join(a, f)).equals(readFileSync(path.join(b, f)))).toBe(true);
  });

  it('eval --json prints exactly the documented keys, with rates as fractions, and --plot writes an SVG', async () => {
    const dir = path.join(tmp, 'a');
    writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
    writeFileSync(path.join(dir, '004_01.png'), 'not an image');
    const plot = path.join(tmp, 'det.svg');
    const r = await run(['eval', dir, '--json', '--plot', plot, '--no-progress']);
    expect(r.error).toBeUndefined();
    const j = JSON.parse(r.out);
    expect(Object.keys(j).sort()).toEqual(
      [
        'compareUs',
        'eer',
        'extractMs',
        'failedToAcquire',
        'fnmrAtFmr1e3',
        'fnmrAtFmr1e4',
        'genuinePairs',
        'identities',
        'images',
        'impostorPairs',
        'rank1',
      ].sort(),
    );
    expect(j.images).toBe(10);
    expect(j.identities).toBe(4);
    expect(j.failedToAcquire).toBe(1);
    expect(j.genuinePairs).toBe(9);
    expect(j.impostorPairs).toBe(27);
    expect(j.eer).toBe(0);
    expect(j.rank1).toBe(1);
    expect(readFileSync(plot, 'utf8')).toContain('<svg');
    const cc = await run(['eval', dir, '--json', '--method', 'compcode', '--no-progress']);
    expect(JSON.parse(cc.out).rank1).toBe(1);
  });

  it('roi writes the ROI and a landmark image for a hand', async () => {
    const hands = path.join(tmp, 'h');
    await run([
      'synth',
      hands,
      '--identities',
      '1',
      '--samples',
      '1',
      '--kind',
      'hand',
      '--seed',
      '4',
      '--size',
      '480',
    ]);
    const out = path.join(tmp, 'roi.png');
    const dbg = path.join(tmp, 'dbg.png');
    const r = await run(['roi', path.join(hands, '001_01.png'), '--out', out, '--debug', dbg, '--json']);
    expect(r.error).toBeUndefined();
    const j = JSON.parse(r.out);
    expect(j.kind).toBe('hand');
    expect(j.quality).toBeGreaterThan(0);
    expect(readFileSync(out).subarray(1, 4).toString()).toBe('PNG');
    expect(readFileSync(dbg).subarray(1, 4).toString()).toBe('PNG');
  });

  it('fails clearly on bad input', async () => {
    const missing = await run(['roi', path.join(tmp, 'nope.png'), '--out', path.join(tmp, 'x.png')]);
    expect(missing.error?.message).toMatch(/no such file/);
    const notImage = path.join(tmp, 'bad.png');
    writeFileSync(notImage, 'hello');
    const bad = await run(['roi', notImage, '--out', path.join(tmp, 'x.png')]);
    expect(bad.error?.message).toMatch(/unsupported_format/);
    const badCount = await run(['synth', path.join(tmp, 'c'), '--identities', 'zero']);
    expect(badCount.error).toBeDefined();
    expect(badCount.err).toMatch(/identities must be an integer/);
    const noDir = await run(['eval', path.join(tmp, 'missing')]);
    expect(noDir.error?.message).toMatch(/not a folder/);
  });
});
