/**
 * The engine's public API (src/palm/index.ts) is what enrolment and sign-in use; synthesis,
 * evaluation, metrics and debug drawing live in the development entry (src/palm/devtools), which
 * nothing the server runs may load: no static import from the server, the HTTP layer, the
 * services or the CLI reaches it (the CLI's development commands load it when they run).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as devtools from '../../src/palm/devtools/index.js';
import * as engine from '../../src/palm/index.js';
import { repoRoot } from './helpers.js';

const src = path.join(repoRoot, 'src');
const DEVTOOLS = path.join(src, 'palm', 'devtools') + path.sep;

/** The files a module imports statically (type-only imports and dynamic import() left out). */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?'(\.[^']+)'/gm)) {
    const target = path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts'));
    out.push(target);
  }
  return out;
}

function reachable(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...staticImports(f).filter((t) => t.startsWith(src)));
  }
  return seen;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

describe('the palm engine API', () => {
  it('no static import outside the development entry reaches it', () => {
    const outside = tsFiles(src).filter((f) => !f.startsWith(DEVTOOLS));
    const reached = reachable(outside);
    // the walk does follow imports: the server reaches the engine
    expect(reached.has(path.join(src, 'palm', 'matcher.ts'))).toBe(true);
    expect([...reached].filter((f) => f.startsWith(DEVTOOLS))).toEqual([]);
  });

  it('the public entry has no development tools, and the development entry has them', () => {
    for (const name of [
      'synthesize',
      'synthRoi',
      'synthHand',
      'evaluateDirectory',
      'detCurve',
      'detSvg',
      'equalErrorRate',
      'fnmrAtFmr',
      'rank1',
      'drawLandmarks',
      'encodePng',
    ]) {
      expect(engine).not.toHaveProperty(name);
      expect(devtools).toHaveProperty(name);
    }
    for (const name of [
      'extractTemplate',
      'extractProbe',
      'bestMatch',
      'compare',
      'fuse',
      'serializeTemplate',
      'deserializeTemplate',
      'decodeImage',
      'checkImageHeader',
      'loadManifest',
      'normalUpperQuantile',
    ])
      expect(engine).toHaveProperty(name);
  });
});
