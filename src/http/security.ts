import type { Context, Next } from 'koa';
import helmet from 'koa-helmet';
import { HttpError } from './errors.js';

/** The Content-Security-Policy of every page: nothing from other origins, no inline script. */
const CSP_DIRECTIVES: Record<string, string[]> = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  formAction: ["'self'", 'https:', 'http:'],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  objectSrc: ["'none'"],
};

/**
 * The policy of the pages that capture a palm (login, kiosk): the same, plus 'wasm-unsafe-eval'
 * in script-src, which lets the page compile WebAssembly (MediaPipe Hands, served by palmid) and
 * nothing else: eval and new Function stay blocked. Its WebGL needs no directive and it starts
 * no workers.
 */
export const CAPTURE_PAGE_CSP = Object.entries({
  ...CSP_DIRECTIVES,
  scriptSrc: ["'self'", "'wasm-unsafe-eval'"],
})
  .map(([name, values]) => `${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${values.join(' ')}`)
  .join(';');

/** For a page that runs the hand tracker: replaces the strict policy securityHeaders() set. */
export function allowHandTracker(ctx: Context): void {
  ctx.set('content-security-policy', CAPTURE_PAGE_CSP);
}

/** Security headers for every response; pages load nothing from other origins. */
export function securityHeaders() {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: CSP_DIRECTIVES,
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
