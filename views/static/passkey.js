// What passkey sign-in (login.js) and registration (register.js) share: the status line, the
// ceremony's requests to palmid, and what a failure tells the person (in the page's language:
// palmid's error codes map to the `common` namespace's passkey.errors; the server's English
// error_description is for developers).
import { hasMessage, message } from './messages.js';

/** The page's status line: `show(message, isError)`. */
export function statusLine(element) {
  return (text, isError) => {
    element.textContent = text;
    element.className = isError ? 'status error' : 'status';
  };
}

/** A refusal from palmid: its error code, and the server's description (English, for developers). */
class RefusedError extends Error {
  constructor(code, description) {
    super(description || code);
    this.code = code;
  }
}

/**
 * POST to palmid (same origin), JSON back; a refusal throws a RefusedError with palmid's error code
 * and, as its message, the server's description or else `fallback`.
 */
export async function postJson(url, body, fallback) {
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
  } catch {
    throw new RefusedError('network', fallback);
  }
  const result = await response.json().catch(() => ({}));
  if (!response.ok) throw new RefusedError(result.error || 'server_error', result.error_description || fallback);
  return result;
}

/**
 * A failed ceremony in words: the browser's cancel or timeout, a refusal palmid names, or
 * `fallback` (a message key: what the page says when nothing more precise is known).
 * `action`: 'signin' or 'registration'.
 */
export function failureMessage(err, action, fallback) {
  if (err?.name === 'NotAllowedError') return message(`common:passkey.cancelled.${action}`);
  const known = err?.code && `common:passkey.errors.${err.code}`;
  if (known && hasMessage(known)) return message(known);
  return fallback ? message(fallback) : String(err?.message || err);
}
