import type { Context, Next } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics: request counts and latencies by route, plus OpenID events. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'palmid_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'palmid_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly oidcEvents = new Counter({
    name: 'palmid_oidc_events_total',
    help: 'oidc-provider events (grant.success, grant.error, server_error, ...)',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'palmid_' });
  }

  middleware() {
    return async (ctx: Context, next: Next) => {
      const end = this.httpDuration.startTimer();
      try {
        await next();
      } finally {
        const route = routeLabel(ctx.path);
        end({ route, method: ctx.method });
        this.httpRequests.inc({ route, method: ctx.method, status: String(ctx.respond === false ? ctx.res.statusCode : ctx.status) });
      }
    };
  }
}

/** Collapses ids in paths so the label set stays small. */
function routeLabel(path: string): string {
  if (path.startsWith('/interaction/')) return '/interaction/:uid';
  if (path.startsWith('/invite/')) return '/invite/:token';
  if (path.startsWith('/static/')) return '/static';
  if (path.startsWith('/admin')) return '/admin';
  if (path.startsWith('/session/end')) return '/session/end';
  const known = ['/auth', '/token', '/me', '/jwks', '/request', '/token/introspection', '/token/revocation', '/.well-known/openid-configuration', '/healthz', '/readyz', '/metrics', '/'];
  return known.includes(path) ? path : 'other';
}
