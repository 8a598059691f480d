import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa, { type Context, type Next } from 'koa';
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
        this.httpRequests.inc({
          route,
          method: ctx.method,
          status: String(ctx.respond === false ? ctx.res.statusCode : ctx.status),
        });
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
  const known = [
    '/auth',
    '/token',
    '/me',
    '/jwks',
    '/request',
    '/token/introspection',
    '/token/revocation',
    '/.well-known/openid-configuration',
    '/healthz',
    '/readyz',
    '/metrics',
    '/',
  ];
  return known.includes(path) ? path : 'other';
}

/**
 * Who may read /metrics (label values name routes and events, the process's memory and the
 * sign-in traffic): only a scraper that presents PALMID_METRICS_TOKEN as a bearer token, when
 * one is set, and only on the listener that serves them: the metrics port (PALMID_METRICS_PORT,
 * bound to PALMID_METRICS_HOST, loopback by default) when set, else the public port, and there
 * only with a token. With neither, /metrics is not served.
 */
export interface MetricsExposure {
  token: string | undefined;
  port: number | undefined;
  host: string;
}

export function servedOnPublicPort(exposure: MetricsExposure): boolean {
  return exposure.port === undefined && exposure.token !== undefined;
}

/** The /metrics handler, asking for the bearer token when one is configured; other requests pass. */
export function metricsEndpoint(metrics: Metrics, token: string | undefined) {
  const expected = token === undefined ? undefined : digest(token);
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== '/metrics') return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('allow', 'GET, HEAD');
      return;
    }
    ctx.set('cache-control', 'no-store');
    if (expected) {
      const presented = /^Bearer (\S+)$/i.exec(ctx.get('authorization'))?.[1];
      // Digests compared in constant time: the comparison says nothing about the token's length or prefix.
      if (!presented || !timingSafeEqual(digest(presented), expected)) {
        ctx.status = 401;
        ctx.set('www-authenticate', 'Bearer realm="palmid metrics"');
        ctx.body = {
          error: 'invalid_token',
          error_description: 'metrics need the bearer token configured as PALMID_METRICS_TOKEN',
        };
        return;
      }
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };
}

/** The metrics port: /metrics only, nothing else of palmid. */
export async function startMetricsServer(
  metrics: Metrics,
  exposure: MetricsExposure & { port: number },
): Promise<{ url: string; close(): Promise<void> }> {
  const app = new Koa();
  app.silent = true;
  app.use(metricsEndpoint(metrics, exposure.token));
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(exposure.port, exposure.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
