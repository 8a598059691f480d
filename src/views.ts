/**
 * Server-rendered pages from views/*.eta, for palmid's own routes and oidc-provider's pages alike;
 * Eta escapes every `<%= %>` value. Every view gets the page's language: `it.locale`, `it.t(key)`
 * (i18next, src/i18n/translator.ts), `it.tHtml(key)` for catalogue text with markup, `it.dateTime(d)`
 * and `it.date(d)` in that language.
 */
import path from 'node:path';
import { Eta } from 'eta';
import { DEFAULT_LOCALE, formatDate, formatDateTime, isLocale, translator } from './i18n/index.js';
import { packageRoot } from './paths.js';

export const viewsDir = path.join(packageRoot, 'views');

const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true });

export function renderView(name: string, data: Record<string, unknown>): string {
  const locale = isLocale(data.locale) ? data.locale : DEFAULT_LOCALE;
  const t = translator(locale);
  return eta.render(`./${name}`, {
    ...data,
    locale,
    t,
    // A message whose catalogue text carries markup (<strong>, <time>): its variables HTML-escaped,
    // the catalogue's own markup kept (write it with <%~ %>).
    tHtml: (key: string, vars: Record<string, unknown> = {}) =>
      t(key, { ...vars, interpolation: { escapeValue: true } }),
    dateTime: (d: Date | string | number) => formatDateTime(d, locale),
    date: (d: Date | string | number) => formatDate(d, locale),
    // JSON inside <script>: '<' escaped so no text can close the element.
    json: (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c'),
  });
}
