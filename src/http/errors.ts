import type { Context, Next } from 'koa';
import { PalmidError } from '../errors.js';
import type { Logger } from '../log.js';
import { translator } from '../i18n/index.js';
import { renderView } from '../views.js';
import { pageLocale } from './locale.js';

/** An answer a route gives on the spot: an HTTP status and OAuth-style error code, the message shown to the client. */
export class HttpError extends PalmidError {
  constructor(status: number, code: string, message: string) {
    super(message, { code, status, expose: true });
  }
}

/**
 * palmid's own routes answer errors as {error, error_description} (HTML for pages), never with
 * a stack trace: a PalmidError that may be shown (and a koa / http-errors error with `expose`,
 * e.g. from co-body) with its status, code and message; anything else is logged with the request
 * id and answered 500 server_error.
 */
export function errorHandler(log: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      let status = 500;
      let code = 'server_error';
      let description = 'An unexpected error occurred.';
      if (err instanceof PalmidError && err.expose) {
        ({ status, code } = err);
        description = err.message;
      } else if (typeof (err as { status?: number }).status === 'number' && (err as { expose?: boolean }).expose) {
        status = (err as { status: number }).status;
        code = 'invalid_request';
        description = (err as Error).message;
      } else {
        log.error({ err, requestId: ctx.state.requestId, path: ctx.path }, 'unhandled error');
      }
      ctx.status = status;
      if (ctx.accepts('json', 'html') === 'html' && ctx.method === 'GET') {
        const locale = pageLocale(ctx);
        const t = translator(locale);
        ctx.type = 'html';
        ctx.body = renderView('message', {
          locale,
          title: t('errors:title'),
          message: code === 'server_error' ? t('errors:unexpected') : description,
          detail: t('errors:detail', { code }),
        });
      } else {
        ctx.body = { error: code, error_description: description };
      }
    }
  };
}
