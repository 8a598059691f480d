/**
 * The provider's own pages (errors, logout), rendered with palmid's views in the person's language:
 * the authorization request's ui_locales when there is one, else the language chosen on palmid's pages
 * (its cookie), else the browser's: the order of src/http/locale.ts, which src/oidc may not import.
 */
import { type ErrorOut, errors, type KoaContextWithOIDC } from 'oidc-provider';
import { LANGUAGE_COOKIE, negotiateLocale, translator } from '../i18n/index.js';
import { renderView } from '../views.js';

function localeOf(ctx: KoaContextWithOIDC) {
  // ctx.oidc is absent on some early errors (before oidc-provider has parsed the request).
  const params = ctx.oidc?.params as { ui_locales?: unknown } | undefined;
  ctx.vary('accept-language');
  return negotiateLocale({
    uiLocales: params?.ui_locales,
    chosen: ctx.cookies.get(LANGUAGE_COOKIE),
    acceptLanguage: ctx.get('accept-language'),
  });
}

export async function renderError(ctx: KoaContextWithOIDC, out: ErrorOut, error: Error): Promise<void> {
  const locale = localeOf(ctx);
  const t = translator(locale);
  const code = out.error ? String(out.error) : undefined;
  // The person reads what the error means in their language; the provider's own description
  // (an OAuth error description, never a stack trace) stays as the detail, for the application's developer.
  const known =
    error instanceof errors.SessionNotFound
      ? t('errors:interactionExpired')
      : code && t(`errors:oauth.${code}`, { defaultValue: '' });
  const description = out.error_description ? String(out.error_description) : undefined;
  ctx.type = 'html';
  ctx.body = renderView('message', {
    locale,
    title: t('errors:title'),
    message: known || t('errors:fallback'),
    detail: code ? `${t('errors:detail', { code })}${description ? ` (${description})` : ''}` : description,
  });
}

export async function renderLogout(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  ctx.type = 'html';
  ctx.body = renderView('logout', { form, clientName: ctx.oidc.client?.clientName, locale: localeOf(ctx) });
}

export async function renderLogoutSuccess(ctx: KoaContextWithOIDC): Promise<void> {
  const locale = localeOf(ctx);
  const t = translator(locale);
  const client = ctx.oidc.client?.clientName;
  ctx.type = 'html';
  ctx.body = renderView('message', {
    locale,
    title: t('logout.doneTitle'),
    message: client ? t('logout.doneClient', { client }) : t('logout.done'),
  });
}
