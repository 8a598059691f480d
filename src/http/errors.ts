import type { Context, Next } from 'koa';
import type { Logger } from '../log.js';
import { WebauthnError } from '../webauthn/errors.js';
import { renderView } from './views.js';

/** An error with an HTTP status and an OAuth-style error code, safe to show a client. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const WEBAUTHN_STATUS: Record<WebauthnError['code'], number> = {
  invalid_request: 400,
  invalid_invitation: 410,
  passkey_rejected: 401,
  unknown_passkey: 401,
};

/**
 * palmid's own routes answer errors as {error, error_description} (HTML for pages), never with
 * a stack trace; unexpected errors are logged with the request id and answered as server_error.
 */
export function errorHandler(log: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      let status = 500;
      let code = 'server_error';
      let description = 'An unexpected error occurred.';
      if (err instanceof HttpError) {
        ({ status, code } = err);
        description = err.message;
      } else if (err instanceof WebauthnError) {
        status = WEBAUTHN_STATUS[err.code];
        code = err.code;
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
        ctx.type = 'html';
        ctx.body = renderView('message', {
          title: 'Something went wrong',
          message: description,
          detail: `Error: ${code}`,
        });
      } else {
        ctx.body = { error: code, error_description: description };
      }
    }
  };
}
