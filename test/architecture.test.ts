/**
 * The layering, read from the source: every `import … from '…'`, `export … from '…'`, bare
 * `import '…'` and dynamic `import('…')` of src/ (src/generated aside) and adapters/. The palm
 * engine knows nothing of the database or HTTP; the CLI and HTTP reach data through services,
 * never Prisma; top-level folders of src/ (each top-level file counts as one) and adapters/ import
 * each other without a cycle, adapters never import src/oidc, and no file imports itself through
 * others.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface SourceFile {
  /** Path from the repository root, with forward slashes. */
  file: string;
  text: string;
  /** Specifiers as written. */
  specifiers: string[];
  /** The repository's own files it imports (relative specifiers that resolve to one). */
  imports: string[];
}

const STATIC_IMPORT = /^\s*(?:import|export)\s[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm;
const BARE_IMPORT = /^\s*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

function importSpecifiers(text: string): string[] {
  return [STATIC_IMPORT, BARE_IMPORT, DYNAMIC_IMPORT].flatMap((re) => [...text.matchAll(re)].map((m) => m[1]!));
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return rel === 'src/generated' ? [] : sourceFiles(rel);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [rel] : [];
  });
}

function resolve(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = path.posix.join(path.posix.dirname(from), specifier).replace(/\.js$/, '');
  return [`${target}.ts`, `${target}/index.ts`].find((f) => fs.existsSync(path.join(ROOT, f)));
}

function readSources(): SourceFile[] {
  return [...sourceFiles('src'), ...sourceFiles('adapters')].map((file) => {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    const specifiers = importSpecifiers(text);
    const imports = specifiers.flatMap((s) => resolve(file, s) ?? []).filter((f) => !f.startsWith('src/generated/'));
    return { file, text, specifiers, imports };
  });
}

/** The folder a file belongs to: src/<folder>, a top-level file of src/ on its own, or adapters. */
function unit(file: string): string {
  const parts = file.split('/');
  return parts[0] === 'src' && parts.length > 2 ? `src/${parts[1]}` : parts[0] === 'src' ? file : parts[0]!;
}

/** Strongly connected components of more than one node (Tarjan): the cycles of a directed graph. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Each edge of a cycle, with the imports that make it. */
function explain(component: string[], edges: Map<string, Map<string, string[]>>): string[] {
  return component.flatMap((a) =>
    component.flatMap((b) => (edges.get(a)?.get(b) ?? []).map((why) => `${a} -> ${b}: ${why}`)),
  );
}

describe('architecture (import statements of src/ and adapters/)', () => {
  const sources = readSources();
  const fileGraph = new Map(sources.map((s) => [s.file, new Set(s.imports)]));
  const unitEdges = new Map<string, Map<string, string[]>>();
  for (const s of sources) {
    for (const target of s.imports) {
      const [a, b] = [unit(s.file), unit(target)];
      if (a === b) continue;
      if (!unitEdges.has(a)) unitEdges.set(a, new Map());
      const edge = unitEdges.get(a)!;
      edge.set(b, [...(edge.get(b) ?? []), `${s.file} imports ${target}`]);
    }
  }
  const unitGraph = new Map([...unitEdges].map(([a, targets]) => [a, new Set(targets.keys())]));

  it('reads the imports (the checks below are not vacuous)', () => {
    expect(sources.length).toBeGreaterThan(100);
    expect(importSpecifiers("import a from './a.js';\nexport { b } from \"./b.js\";\nimport './c.js';")).toEqual([
      './a.js',
      './b.js',
      './c.js',
    ]);
    expect(importSpecifiers("import {\n  x,\n  type Y,\n} from '../y.js';\nconst m = await import('./m.js');")).toEqual(
      ['../y.js', './m.js'],
    );
    expect(fileGraph.get('src/server.ts')).toContain('src/http/app.ts');
    expect(fileGraph.get('src/cli/main.ts')).toContain('src/cli/commands/serve.ts');
    expect(unitGraph.get('src/oidc')).toContain('adapters');
  });

  it('finds cycles when there are some (the finder itself)', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a', 'd'])],
      ['d', new Set<string>()],
      ['e', new Set(['e'])],
    ]);
    expect(cycles(graph)).toEqual([['a', 'b', 'c'], ['e']]);
    expect(cycles(new Map([['a', new Set(['b'])]]))).toEqual([]);
  });

  it('keeps the palm engine free of the database, HTTP, Prisma, koa and pg', () => {
    const forbidden = (specifier: string, target: string | undefined) =>
      /^(pg|koa|koa-.*|@koa\/.*|@prisma\/.*|prisma|@electric-sql\/pglite.*|pglite-prisma-adapter)$/.test(specifier) ||
      /(^|\/)generated\/prisma\//.test(specifier) ||
      (target !== undefined && /^src\/(db|http)\//.test(target));
    const offending = sources
      .filter((s) => s.file.startsWith('src/palm/'))
      .flatMap((s) =>
        s.specifiers.filter((spec) => forbidden(spec, resolve(s.file, spec))).map((spec) => `${s.file}: ${spec}`),
      );
    expect(offending).toEqual([]);
  });

  it('lets the CLI and HTTP layers reach data only through services (no Prisma there)', () => {
    const offending = sources
      .filter((s) => /^src\/(cli|http)\//.test(s.file))
      .flatMap((s) => [
        ...[...s.text.matchAll(/\.prisma\b|\bPrismaClient\b/g)].map((m) => `${s.file}: ${m[0]}`),
        ...s.specifiers.filter((spec) => /generated\/prisma|^@prisma\//.test(spec)).map((spec) => `${s.file}: ${spec}`),
      ]);
    expect(offending).toEqual([]);
  });

  it('keeps adapters below the provider: they never import src/oidc', () => {
    const offending = sources
      .filter((s) => s.file.startsWith('adapters/'))
      .flatMap((s) => s.imports.filter((target) => target.startsWith('src/oidc/')).map((t) => `${s.file}: ${t}`));
    expect(offending).toEqual([]);
  });

  it('has no import cycle between the top-level folders of src/ and adapters/', () => {
    expect(cycles(unitGraph).flatMap((component) => explain(component, unitEdges))).toEqual([]);
  });

  it('has no import cycle between files', () => {
    expect(cycles(fileGraph)).toEqual([]);
  });
});
