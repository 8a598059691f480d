import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Router from '@koa/router';
import { viewsDir } from '../views.js';

/** A file of jose's dist/webapi: lower-case path segments, at most four deep, ending in .js. */
const JOSE_FILE = /^(?:[a-z0-9_]+\/){0,3}[a-z0-9_]+\.js$/;

/** The few static files the pages need, served from the app itself (no CDN). */
export function staticRoutes(): Router {
  const require = createRequire(import.meta.url);
  const files: Record<string, { file: string; type: string }> = {
    'palmid.css': { file: path.join(viewsDir, 'static/palmid.css'), type: 'text/css; charset=utf-8' },
    'login.js': { file: path.join(viewsDir, 'static/login.js'), type: 'text/javascript; charset=utf-8' },
    'register.js': { file: path.join(viewsDir, 'static/register.js'), type: 'text/javascript; charset=utf-8' },
    // Palm capture (ES modules): the login page's palm sign-in and the kiosk reader.
    'palm-capture.js': { file: path.join(viewsDir, 'static/palm-capture.js'), type: 'text/javascript; charset=utf-8' },
    'palm-login.js': { file: path.join(viewsDir, 'static/palm-login.js'), type: 'text/javascript; charset=utf-8' },
    'reader-crypto.js': {
      file: path.join(viewsDir, 'static/reader-crypto.js'),
      type: 'text/javascript; charset=utf-8',
    },
    'kiosk.js': { file: path.join(viewsDir, 'static/kiosk.js'), type: 'text/javascript; charset=utf-8' },
    'webauthn.js': {
      file: path.join(path.dirname(require.resolve('@simplewebauthn/browser')), '../dist/bundle/index.umd.min.js'),
      type: 'text/javascript; charset=utf-8',
    },
  };
  const cache = new Map<string, Buffer>();
  const router = new Router();

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
