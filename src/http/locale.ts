/**
 * The language of a page (src/i18n/locales.ts): `ui_locales` from the sign-in when there is one,
 * then `?lang=` (remembered in a cookie for palmid's own pages), the cookie, Accept-Language.
 */
import type { Context } from 'koa';
import { isLocale, LANGUAGE_COOKIE as COOKIE, type Locale, negotiateLocale } from '../i18n/index.js';

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

export function pageLocale(ctx: Context, uiLocales?: unknown): Locale {
  const asked = ctx.query.lang;
  if (isLocale(asked)) {
    ctx.cookies.set(COOKIE, asked, {
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      maxAge: YEAR_MS,
      overwrite: true,
    });
  }
  ctx.vary('accept-language');
  return negotiateLocale({
    uiLocales,
    chosen: isLocale(asked) ? asked : ctx.cookies.get(COOKIE),
    acceptLanguage: ctx.get('accept-language'),
  });
}
