import Router from '@koa/router';
import type { Database } from '../../db/database.js';
import { ActivationError, activateReader } from '../../readers/activation.js';
import { readBody } from '../body.js';
import { HttpError } from '../errors.js';
import { renderView } from '../views.js';

/**
 * The kiosk reader: a page that turns a tablet into a palm reader (views/kiosk.eta and
 * views/static/kiosk.js). Everything a reader does happens in the page: its key, the capture,
 * the envelope and CIBA. The server adds only the one-time activation.
 */
export function kioskRoutes(deps: { db: Database; bodyLimitBytes: number }): Router {
  const router = new Router();

  router.get('/kiosk', (ctx) => {
    ctx.set('cache-control', 'no-store');
    ctx.type = 'html';
    ctx.body = renderView('kiosk', {});
  });

  router.post('/kiosk/activate', async (ctx) => {
    const body = await readBody(ctx, deps.bodyLimitBytes);
    try {
      ctx.body = await activateReader(deps.db, { code: String(body.code ?? ''), publicKey: body.key });
    } catch (err) {
      if (err instanceof ActivationError)
        throw new HttpError(400, err.reason === 'invalid_key' ? 'invalid_request' : 'invalid_grant', err.message);
      throw err;
    }
    ctx.set('cache-control', 'no-store');
  });

  return router;
}
