/**
 * palmid's one error model. Every error palmid throws on purpose is a PalmidError that carries
 * what each way out needs, so the HTTP layer (src/http/errors.ts) and the CLI (src/cli/main.ts)
 * each map it in one place instead of class by class:
 *
 * - `code`: the OAuth-style `error` an HTTP client sees (`server_error` for internal errors);
 * - `status`: the HTTP status;
 * - `expose`: whether the message may be shown to the client (as in koa and http-errors);
 *   otherwise the client gets 500 server_error and the error is logged;
 * - `exitCode`: the CLI's exit status, with the message printed as one line; left out for errors
 *   no command expects (corrupt data, a request-only failure), which the CLI reports with their
 *   stack like any other unexpected error;
 * - `cause`: the standard Error option, for an error that wraps another.
 *
 * Modelled on node-oidc-provider's OIDCProviderError. In oidc-provider's own routes (CIBA hooks,
 * the token-exchange grant) its error handler answers instead, taking `statusCode`, `expose` and
 * the message as the error code: a PalmidError is converted there to one of oidc-provider's
 * `errors.*` (see readers/ciba.ts, oidc/tokenExchange.ts).
 */

/** What an error means to a client and to the CLI. */
export interface ErrorKind {
  code: string;
  status: number;
  /** Default: true for statuses under 500. */
  expose?: boolean;
  exitCode?: number | undefined;
}

export class PalmidError extends Error {
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;
  readonly exitCode: number | undefined;

  constructor(message: string, kind: ErrorKind, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = kind.code;
    this.status = kind.status;
    this.expose = kind.expose ?? kind.status < 500;
    this.exitCode = kind.exitCode;
  }
}

/**
 * A base for a class of errors that all mean the same: `class ConfigError extends errorKind(SETUP) {}`.
 * Classes whose meaning depends on a reason call the PalmidError constructor themselves.
 */
export function errorKind(kind: ErrorKind) {
  return class extends PalmidError {
    constructor(message: string, options?: ErrorOptions) {
      super(message, kind, options);
    }
  };
}

/**
 * A fault of the installation the operator fixes (configuration, keys, database): hidden from
 * clients, one CLI line.
 */
export const SETUP: ErrorKind = { code: 'server_error', status: 500, exitCode: 1 };

/** What should not happen (corrupt data, a broken invariant): hidden from clients, reported with its stack. */
export const INTERNAL: ErrorKind = { code: 'server_error', status: 500 };

/** Input the caller got wrong: 400 invalid_request with the message; in the CLI `exitCode` (2: a usage error). */
export function invalidRequest(exitCode?: number): ErrorKind {
  return { code: 'invalid_request', status: 400, exitCode };
}
