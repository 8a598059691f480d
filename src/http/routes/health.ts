import Router from '@koa/router';
import type { Database } from '../../db/database.js';
import type { Metrics } from '../metrics.js';

/** Liveness (the process answers), readiness (the database answers) and Prometheus metrics. */
export function healthRoutes(deps: { db: Database; metrics: Metrics; isShuttingDown: () => boolean }): Router {
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
  router.get('/metrics', async (ctx) => {
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
  return router;
}
