import type { Context, Next } from 'koa';
import helmet from 'koa-helmet';
import { HttpError } from './errors.js';

/** Security headers for every response; pages load nothing from other origins. */
export function securityHeaders() {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        formAction: ["'self'", 'https:', 'http:'],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
    },
    crossOriginEmbedderPolicy: false,
    // HSTS only makes sense over https; a reverse proxy usually sets it.
    strictTransportSecurity: false,
  });
}

/**
 * Powerful features: the camera for palm capture on palmid's own pages (login, kiosk), nothing
 * for anyone else; passkeys keep their default (this origin).
 */
export function permissionsPolicy() {
  return async (ctx: Context, next: Next) => {
    ctx.set('permissions-policy', 'camera=(self), microphone=(), geolocation=(), payment=(), usb=()');
    await next();
  };
}

/** Refuses bodies larger than the limit before anything reads them. */
export function bodyLimit(limitBytes: number) {
  return async (ctx: Context, next: Next) => {
    const length = Number(ctx.get('content-length') || 0);
    if (length > limitBytes)
      throw new HttpError(413, 'invalid_request', `request body larger than ${limitBytes} bytes`);
    await next();
  };
}
