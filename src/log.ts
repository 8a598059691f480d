import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Anything that could carry a secret, a token or personal data is
 * redacted at the logger, so a careless call site cannot leak it.
 */
export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'palmid' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        '*.password',
        '*.secret',
        '*.client_secret',
        '*.token',
        '*.access_token',
        '*.refresh_token',
        '*.id_token',
        '*.code',
        '*.authorization',
        '*.cookie',
        '*.email',
        '*.masterKey',
        // palm captures: never in a log line, whatever a call site passes
        '*.image',
        '*.images',
        '*.capture',
        '*.login_hint_token',
        'req.headers.authorization',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
      ],
      censor: '[redacted]',
    },
  };
  // Commands log to stderr (stdout carries their output); the server logs to stdout.
  return destination ? pino(options, destination) : pino(options);
}
