/**
 * Where the account page's sign-in may send the browser back to (`/account?return=…`, e.g. from
 * self-enrolment at /account/enrol): a path of the account pages' own, relative and same-site, or
 * nothing. Anything else (another origin, `//host`, backslashes, control characters, a path that
 * resolves outside /account/) is ignored, so the parameter cannot be an open redirect.
 */
const BASE = 'http://palmid.invalid';

export function accountReturnPath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 512 || !value.startsWith('/account/')) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return undefined;
  }
  if (url.origin !== BASE || !url.pathname.startsWith('/account/') || url.pathname === '/account/callback')
    return undefined;
  return `${url.pathname}${url.search}`;
}
