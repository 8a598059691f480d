import Router from '@koa/router';
import type { Database } from '../../db/database.js';
import { activateReader } from '../../readers/activation.js';
import { CHALLENGES_FROM_OPEN_HAND } from '../../palm/index.js';
import { READER_FRAME_LIMITS } from '../../readers/envelope.js';
import { readBody } from '../body.js';
import { allowHandTracker } from '../security.js';
import { renderView } from '../../views.js';
import { clientMessages } from '../../i18n/index.js';
import { pageLocale } from '../locale.js';

/**
 * The kiosk reader: a page that turns a tablet into a palm reader (views/kiosk.eta and
 * views/static/kiosk.js). Everything a reader does happens in the page: its key, the capture,
 * the envelope and CIBA. The server adds only the one-time activation.
 */
export function kioskRoutes(deps: { db: Database; bodyLimitBytes: number }): Router {
  const router = new Router();

  router.get('/kiosk', (ctx) => {
    ctx.set('cache-control', 'no-store');
    allowHandTracker(ctx);
    ctx.type = 'html';
    // A kiosk speaks its tablet's language (Accept-Language), or the one set once with ?lang=.
    const locale = pageLocale(ctx);
    ctx.body = renderView('kiosk', {
      frame: READER_FRAME_LIMITS,
      challenges: CHALLENGES_FROM_OPEN_HAND,
      locale,
      clientMessages: clientMessages(locale, 'kiosk', 'capture'),
    });
  });

  router.post('/kiosk/activate', async (ctx) => {
    const body = await readBody(ctx, deps.bodyLimitBytes);
    // A refusal is an ActivationError: 400 invalid_grant (invalid_request for a bad key).
    ctx.body = await activateReader(deps.db, { code: String(body.code ?? ''), publicKey: body.key });
    ctx.set('cache-control', 'no-store');
  });

  return router;
}
