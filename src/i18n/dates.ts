/** Dates and times as the person reads them: in their language, not raw ISO UTC. */
import type { Locale } from './locales.js';

const formats = new Map<string, Intl.DateTimeFormat>();

/**
 * A date and time in the locale's words ("29 Nov 2026, 16:20 UTC"). The server does not know the
 * person's time zone, so the zone is named; pages may re-format `<time datetime>` in the browser.
 */
export function formatDateTime(date: Date | string | number, locale: Locale, timeZone = 'UTC'): string {
  const key = `${locale}|${timeZone}|dt`;
  let format = formats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, {
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZone,
      timeZoneName: 'short',
    });
    formats.set(key, format);
  }
  return format.format(new Date(date));
}

export function formatDate(date: Date | string | number, locale: Locale, timeZone = 'UTC'): string {
  const key = `${locale}|${timeZone}|d`;
  let format = formats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone });
    formats.set(key, format);
  }
  return format.format(new Date(date));
}
