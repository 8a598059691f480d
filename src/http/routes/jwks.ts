import Router from '@koa/router';

/**
 * The JWKS endpoint. Served here rather than by oidc-provider because it also publishes the
 * capture key (`use: enc`, ECDH-ES) that readers encrypt capture envelopes to, a key the
 * provider itself has no use for.
 */
export function jwksRoutes(jwks: () => { keys: unknown[] }): Router {
  const router = new Router();
  router.get('/jwks', (ctx) => {
    ctx.type = 'application/jwk-set+json; charset=utf-8';
    ctx.set('cache-control', 'public, max-age=300');
    ctx.body = jwks();
  });
  return router;
}
