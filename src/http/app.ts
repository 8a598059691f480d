import { randomUUID } from 'node:crypto';
import Koa, { type Context, type Next } from 'koa';
import type Provider from 'oidc-provider';
import type { BiometricContext } from '../biometrics/context.js';
import type { FramePool } from '../biometrics/framePool.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../log.js';
import type { RelyingParty } from '../webauthn/relyingParty.js';
import { errorHandler } from './errors.js';
import { type Metrics, metricsEndpoint, servedOnPublicPort, type MetricsExposure } from './metrics.js';
import { accountRoutes } from './routes/account.js';
import { adminRoutes } from './routes/admin.js';
import { enrolRoutes } from './routes/enrol.js';
import { selfEnrolRoutes } from './routes/selfEnrol.js';
import { healthRoutes } from './routes/health.js';
import { jwksRoutes } from './routes/jwks.js';
import { interactionRoutes } from './routes/interactions.js';
import { invitationRoutes } from './routes/invitations.js';
import { kioskRoutes } from './routes/kiosk.js';
import { palmLoginRoutes } from './routes/palmLogin.js';
import { staticRoutes } from './routes/static.js';
import { bodyLimit, permissionsPolicy, securityHeaders } from './security.js';
import { backchannelBody, backchannelBodyRead } from './backchannelBody.js';
import { isPalmEnrolment, palmEnrolmentLimit } from './palmEnrolment.js';

export interface AppDeps {
  db: Database;
  /** Palm sign-in at the browser login (the same context the readers' CIBA hooks use). */
  bio: BiometricContext;
  /** Admission of palm sign-ins that read camera frames (shared with the readers' CIBA hook). */
  frames: FramePool;
  log: Logger;
  rp: RelyingParty;
  issuer: string;
  /** Keys for palmid's own signed cookies (the admin console). */
  cookieKeys: string[];
  /** The published keys: signing keys and the capture key readers encrypt to. */
  jwks: () => { keys: unknown[] };
  /** The current provider: it is replaced when signing keys change. */
  provider: () => Provider;
  metrics: Metrics;
  /** Where /metrics is served, and with which token (PALMID_METRICS_*). */
  metricsExposure: MetricsExposure;
  bodyLimitBytes: number;
  trustProxy: boolean;
  isShuttingDown: () => boolean;
}

/**
 * The HTTP application: palmid's own routes first (health, metrics, static files, login and
 * consent, invitations), then everything else goes to oidc-provider.
 */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.trustProxy, keys: deps.cookieKeys });
  app.silent = true;
  const routers = [
    healthRoutes({ db: deps.db, isShuttingDown: deps.isShuttingDown }),
    jwksRoutes(deps.jwks),
    staticRoutes(),
    interactionRoutes({
      provider: deps.provider,
      db: deps.db,
      rp: deps.rp,
      bodyLimitBytes: deps.bodyLimitBytes,
    }),
    palmLoginRoutes({
      provider: deps.provider,
      bio: deps.bio,
      frames: deps.frames,
      bodyLimitBytes: deps.bodyLimitBytes,
    }),
    kioskRoutes({ db: deps.db, bodyLimitBytes: deps.bodyLimitBytes }),
    invitationRoutes({ db: deps.db, rp: deps.rp, bodyLimitBytes: deps.bodyLimitBytes }),
    adminRoutes({ db: deps.db, rp: deps.rp, issuer: deps.issuer, bodyLimitBytes: deps.bodyLimitBytes }),
    accountRoutes({
      db: deps.db,
      bio: deps.bio,
      rp: deps.rp,
      issuer: deps.issuer,
      provider: deps.provider,
      bodyLimitBytes: deps.bodyLimitBytes,
    }),
    enrolRoutes({ db: deps.db, bio: deps.bio, frames: deps.frames, rp: deps.rp, bodyLimitBytes: deps.bodyLimitBytes }),
    selfEnrolRoutes({
      db: deps.db,
      bio: deps.bio,
      frames: deps.frames,
      rp: deps.rp,
      bodyLimitBytes: deps.bodyLimitBytes,
    }),
  ];

  app.use(requestLog(deps.log));
  app.use(deps.metrics.middleware());
  app.use(errorHandler(deps.log));
  app.use(securityHeaders());
  app.use(permissionsPolicy());
  // CIBA's backchannel authentication carries a reader's PAD sequence: read there with its own,
  // larger limit (src/http/backchannelBody.ts); every other body within the configured one.
  app.use(backchannelBody({ path: () => backchannelPath(deps.provider()) }));
  const limitBody = bodyLimit(deps.bodyLimitBytes);
  // A palm enrolment carries several frames: its own limit (src/http/palmEnrolment.ts).
  const limitEnrolment = bodyLimit(palmEnrolmentLimit(deps.bodyLimitBytes));
  app.use((ctx, next) =>
    backchannelBodyRead(ctx) ? next() : isPalmEnrolment(ctx) ? limitEnrolment(ctx, next) : limitBody(ctx, next),
  );
  if (servedOnPublicPort(deps.metricsExposure)) app.use(metricsEndpoint(deps.metrics, deps.metricsExposure.token));
  for (const router of routers) app.use(router.routes()).use(router.allowedMethods());
  const handlers = new WeakMap<Provider, ReturnType<Provider['callback']>>();
  app.use(async (ctx) => {
    // Hand the raw request to oidc-provider (itself a Koa app).
    const provider = deps.provider();
    let handle = handlers.get(provider);
    if (!handle) {
      handle = provider.callback();
      handlers.set(provider, handle);
    }
    ctx.respond = false;
    await handle(ctx.req, ctx.res);
  });
  return app;
}

const backchannelPaths = new WeakMap<Provider, string>();
/** The provider's backchannel authentication path ('' when CIBA is off). */
function backchannelPath(provider: Provider): string {
  let path = backchannelPaths.get(provider);
  if (path === undefined) {
    try {
      path = provider.pathFor('backchannel_authentication');
    } catch {
      path = ''; // CIBA not enabled: no such route
    }
    backchannelPaths.set(provider, path);
  }
  return path;
}

/** The status actually sent, also for requests handed to oidc-provider. */
export function sentStatus(ctx: Context): number {
  return ctx.respond === false ? ctx.res.statusCode : ctx.status;
}

function requestLog(log: Logger) {
  return async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    ctx.state.requestId = ctx.get('x-request-id').slice(0, 64) || randomUUID();
    ctx.set('x-request-id', ctx.state.requestId as string);
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // Path only: query strings carry codes, tokens and state.
      log.info(
        {
          requestId: ctx.state.requestId,
          method: ctx.method,
          path: ctx.path,
          status: sentStatus(ctx),
          ms: Math.round(ms * 10) / 10,
        },
        'request',
      );
    }
  };
}
