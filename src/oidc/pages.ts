/** The provider's own pages (errors, logout), rendered with palmid's views. */
import type { ErrorOut, KoaContextWithOIDC } from 'oidc-provider';
import { renderView } from '../views.js';

export async function renderError(ctx: KoaContextWithOIDC, out: ErrorOut, _error: Error): Promise<void> {
  ctx.type = 'html';
  ctx.body = renderView('message', {
    title: 'Something went wrong',
    // error and error_description are OAuth error codes and safe messages, never stack traces.
    message: String(out.error_description ?? out.error ?? 'The request could not be completed.'),
    detail: out.error ? `Error: ${String(out.error)}` : undefined,
  });
}

export async function renderLogout(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  ctx.type = 'html';
  ctx.body = renderView('logout', { form, clientName: ctx.oidc.client?.clientName });
}

export async function renderLogoutSuccess(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.type = 'html';
  ctx.body = renderView('message', {
    title: 'Signed out',
    message: ctx.oidc.client?.clientName
      ? `You are signed out of palmid and ${ctx.oidc.client.clientName}.`
      : 'You are signed out of palmid.',
  });
}
