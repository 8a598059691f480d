/**
 * Which language a page speaks: the OpenID Connect `ui_locales` parameter first (the relying
 * party's choice for this sign-in), then the person's choice on palmid's own pages (the `lang`
 * query or cookie), then the browser's Accept-Language, then English.
 */
export const SUPPORTED_LOCALES = ['en', 'fr'] as const;
export type Locale = (typeof SUPPORTED_LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'en';

/** The cookie that remembers a language chosen with ?lang= on palmid's pages (src/http/locale.ts). */
export const LANGUAGE_COOKIE = 'palmid_lang';

/** Names of each language in itself, for a language picker. */
export const LOCALE_NAMES: Record<Locale, string> = { en: 'English', fr: 'Français' };

function supported(tag: string): Locale | undefined {
  const base = tag.trim().toLowerCase().split(/[-_]/)[0] ?? '';
  return (SUPPORTED_LOCALES as readonly string[]).includes(base) ? (base as Locale) : undefined;
}

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (SUPPORTED_LOCALES as readonly string[]).includes(value);
}

/** `ui_locales`: space-separated BCP 47 tags in order of preference (OIDC Core §3.1.2.1). */
export function fromUiLocales(uiLocales: unknown): Locale | undefined {
  if (typeof uiLocales !== 'string') return undefined;
  for (const tag of uiLocales.slice(0, 200).split(/\s+/)) {
    const locale = tag && supported(tag);
    if (locale) return locale;
  }
  return undefined;
}

/** Accept-Language (RFC 9110 §12.5.4): the supported language with the highest weight. */
export function fromAcceptLanguage(header: string | undefined): Locale | undefined {
  if (!header) return undefined;
  let best: { locale: Locale; q: number; order: number } | undefined;
  header
    .slice(0, 500)
    .split(',')
    .slice(0, 30)
    .forEach((part, order) => {
      const [tag = '', ...params] = part.split(';');
      const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      const q = qParam ? Number(qParam.slice(2)) : 1;
      const locale = supported(tag);
      if (!locale || !Number.isFinite(q) || q <= 0) return;
      if (!best || q > best.q || (q === best.q && order < best.order)) best = { locale, q, order };
    });
  return best?.locale;
}

export interface LocaleSources {
  uiLocales?: unknown;
  /** An explicit choice on palmid's pages (query or cookie). */
  chosen?: unknown;
  acceptLanguage?: string;
}

export function negotiateLocale(sources: LocaleSources): Locale {
  return (
    fromUiLocales(sources.uiLocales) ??
    (isLocale(sources.chosen) ? sources.chosen : undefined) ??
    fromAcceptLanguage(sources.acceptLanguage) ??
    DEFAULT_LOCALE
  );
}
