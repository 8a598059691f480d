import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import { viewsDir } from '../../views.js';

/** A file of jose's dist/webapi: lower-case path segments, at most four deep, ending in .js. */
const JOSE_FILE = /^(?:[a-z0-9_]+\/){0,3}[a-z0-9_]+\.js$/;

/**
 * The files of @mediapipe/hands that its web build loads (hands.js asks for the rest through
 * locateFile): the script, the loader of the packed assets (palm detector), the WebAssembly build
 * with and without SIMD (chosen by the browser's support), the graph and the lite and full
 * landmark models. Nothing else of the package is served.
 */
export const MEDIAPIPE_FILES: Readonly<Record<string, string>> = Object.freeze({
  'hands.js': 'text/javascript; charset=utf-8',
  'hands_solution_packed_assets_loader.js': 'text/javascript; charset=utf-8',
  'hands_solution_packed_assets.data': 'application/octet-stream',
  'hands_solution_simd_wasm_bin.js': 'text/javascript; charset=utf-8',
  'hands_solution_simd_wasm_bin.wasm': 'application/wasm',
  'hands_solution_wasm_bin.js': 'text/javascript; charset=utf-8',
  'hands_solution_wasm_bin.wasm': 'application/wasm',
  'hands.binarypb': 'application/octet-stream',
  // the lite landmark model only: the pages ask for modelComplexity 0
  'hand_landmark_lite.tflite': 'application/octet-stream',
});

/** The few static files the pages need, served from the app itself (no CDN). */
export function staticRoutes(): Router {
  const require = createRequire(import.meta.url);
  const JS = 'text/javascript; charset=utf-8';
  const page = (name: string) => ({ file: path.join(viewsDir, 'static', name), type: JS });
  const files: Record<string, { file: string; type: string }> = {
    'palmid.css': { file: path.join(viewsDir, 'static/palmid.css'), type: 'text/css; charset=utf-8' },
    // The pages' scripts, ES modules: passkey sign-in and registration, palm capture on the login
    // page and in the kiosk reader.
    'passkey.js': page('passkey.js'),
    'login.js': page('login.js'),
    'register.js': page('register.js'),
    'palm-capture.js': page('palm-capture.js'),
    'palm-login.js': page('palm-login.js'),
    'kiosk.js': page('kiosk.js'),
    // The page's words for its scripts (views/layout.eta renders them), the enrolment capture
    // shared by the station and self-enrolment, the station's and the account page's scripts.
    'messages.js': page('messages.js'),
    'palm-enrol.js': page('palm-enrol.js'),
    'enrol.js': page('enrol.js'),
    'account.js': page('account.js'),
    'webauthn.js': {
      file: path.join(path.dirname(require.resolve('@simplewebauthn/browser')), '../dist/bundle/index.umd.min.js'),
      type: JS,
    },
  };
  const cache = new Map<string, Buffer>();
  const router = new Router();

  // The reader's JOSE, the same module the server runs (src/readers/readerCrypto.ts), compiled.
  let readerCrypto: Promise<Buffer> | undefined;
  router.get('/static/reader-crypto.js', async (ctx) => {
    if (!readerCrypto) {
      readerCrypto = compiledModule(new URL('../../readers/readerCrypto.js', import.meta.url));
      readerCrypto.catch(() => (readerCrypto = undefined));
    }
    ctx.type = JS;
    ctx.set('cache-control', 'public, max-age=3600');
    ctx.body = await readerCrypto;
  });

  // jose's browser build (ES modules that import each other by relative path), for the kiosk
  // reader: /static/jose/index.js and what it imports, nothing but .js files of that folder.
  const joseDir = path.dirname(require.resolve('jose')); // node_modules/jose/dist/webapi
  router.get('/static/jose/*file', (ctx) => {
    const relative = ctx.path.slice('/static/jose/'.length);
    if (relative.includes('..') || relative.includes('\\') || !JOSE_FILE.test(relative)) return;
    const file = path.resolve(joseDir, relative);
    if (!file.startsWith(joseDir + path.sep)) return;
    let content = cache.get(file);
    if (!content) {
      if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return;
      content = fs.readFileSync(file);
      cache.set(file, content);
    }
    ctx.type = 'text/javascript; charset=utf-8';
    // Unversioned URLs: a day, so an upgraded jose reaches browsers by the next day.
    ctx.set('cache-control', 'public, max-age=86400');
    ctx.body = content;
  });

  // MediaPipe Hands for the live hand guidance in palm capture (views/static/palm-capture.js):
  // exactly the files its web build asks for, by name, streamed from the package.
  // Paths and sizes are read once: the list is fixed, a request costs no file system lookup.
  const mediapipeDir = path.dirname(require.resolve('@mediapipe/hands/hands.js'));
  const mediapipe = new Map<string, { file: string; size: number; type: string }>();
  for (const [name, type] of Object.entries(MEDIAPIPE_FILES)) {
    const file = path.join(mediapipeDir, name);
    const size = fs.statSync(file, { throwIfNoEntry: false })?.size;
    if (size !== undefined) mediapipe.set(name, { file, size, type });
  }
  router.get('/static/mediapipe/hands/:name', (ctx) => {
    const entry = mediapipe.get(ctx.params.name ?? '');
    if (!entry) return;
    const { file, size, type } = entry;
    ctx.type = type;
    ctx.length = size;
    // Unversioned URLs: a day, as for jose.
    ctx.set('cache-control', 'public, max-age=86400');
    ctx.body = fs.createReadStream(file);
  });

  router.get('/static/:name', (ctx) => {
    const entry = files[ctx.params.name ?? ''];
    if (!entry) return;
    let content = cache.get(entry.file);
    if (!content) {
      content = fs.readFileSync(entry.file);
      cache.set(entry.file, content);
    }
    ctx.type = entry.type;
    ctx.set('cache-control', 'public, max-age=3600');
    ctx.body = content;
  });
  return router;
}

/**
 * A module of palmid's own, as JavaScript for a page. Running from dist/, that is tsc's output
 * (its source-map comment dropped: the map is not served); running from the sources (tests, tsx),
 * the TypeScript next to it, compiled here as tsc would (types stripped, nothing bundled).
 */
export async function compiledModule(url: URL): Promise<Buffer> {
  const compiled = fileURLToPath(url);
  if (fs.existsSync(compiled))
    return Buffer.from(fs.readFileSync(compiled, 'utf8').replace(/\n\/\/# sourceMappingURL=\S*\s*$/, '\n'));
  const source = compiled.replace(/\.js$/, '.ts');
  const ts = (await import('typescript')).default;
  const { outputText } = ts.transpileModule(fs.readFileSync(source, 'utf8'), {
    fileName: source,
    compilerOptions: { target: ts.ScriptTarget.ES2023, module: ts.ModuleKind.ESNext },
  });
  return Buffer.from(outputText);
}
