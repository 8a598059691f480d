import Router from '@koa/router';
import type { Database } from '../../db/database.js';

/** Liveness (the process answers) and readiness (the database answers); metrics: ../metrics.ts. */
export function healthRoutes(deps: { db: Database; isShuttingDown: () => boolean }): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('cache-control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('cache-control', 'no-store');
    if (deps.isShuttingDown()) {
      ctx.status = 503;
      ctx.body = { status: 'shutting_down' };
      return;
    }
    try {
      await Promise.race([
        deps.db.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref()),
      ]);
      ctx.body = { status: 'ok', database: deps.db.kind };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'unavailable', database: deps.db.kind };
    }
  });
  return router;
}
