import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Router from '@koa/router';
import { viewsDir } from '../views.js';

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
    'reader-crypto.js': { file: path.join(viewsDir, 'static/reader-crypto.js'), type: 'text/javascript; charset=utf-8' },
    'kiosk.js': { file: path.join(viewsDir, 'static/kiosk.js'), type: 'text/javascript; charset=utf-8' },
    'webauthn.js': {
      file: path.join(path.dirname(require.resolve('@simplewebauthn/browser')), '../dist/bundle/index.umd.min.js'),
      type: 'text/javascript; charset=utf-8',
    },
  };
  const cache = new Map<string, Buffer>();
  const router = new Router();
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
