/**
 * "Who was recognised" after a palm sign-in (#13). A palm is identified among many people: the
 * person must see whom palmid took them for before the application is told, and be able to say
 * "Not you?". Design (the least disruptive one): the consent prompt, which a first sign-in to a
 * client shows anyway, is also requested right after a palm login when the grant would otherwise
 * skip it, so every palm login is followed by one palmid page that names the person (with
 * "Allow" when scopes are missing, "Continue" otherwise) and offers "Not you?". Passkey sign-ins
 * and silent sign-ins on an existing session are unchanged (the check looks at this
 * authorization's own login only).
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_PALM, ACR_PALM_PIN } from '../acr.js';

/** Whether a login result (an interaction's lastSubmission.login) was a palm sign-in. */
export function isPalmLogin(login: { acr?: unknown } | undefined): boolean {
  return login?.acr === ACR_PALM || login?.acr === ACR_PALM_PIN;
}

/**
 * oidc-provider's default prompts, with consent also requested after a palm login in this
 * authorization until the person confirmed it (our confirm route finishes with `consent`).
 */
export function palmidInteractionPolicy(): interactionPolicy.DefaultPolicy {
  const policy = interactionPolicy.base();
  policy.get('consent')!.checks.add(
    new interactionPolicy.Check(
      'palm_recognised',
      'a palm sign-in is confirmed by the person it recognised',
      (ctx: KoaContextWithOIDC) => {
        const result = ctx.oidc.result as { login?: { acr?: unknown }; consent?: unknown } | undefined;
        return isPalmLogin(result?.login) && !result?.consent
          ? interactionPolicy.Check.REQUEST_PROMPT
          : interactionPolicy.Check.NO_NEED_TO_PROMPT;
      },
    ),
  );
  return policy;
}

/**
 * An email shown on screen without giving it away: the first character of the local part, then
 * dots, then the domain (ana@example.org -> a•••@example.org).
 */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return '•••';
  return `${[...email.slice(0, at)][0]}•••${email.slice(at)}`;
}

/** How the recognised person is named on the page: the display name, else the masked email. */
export function recognisedAs(person: { name: string | null; email: string }): string {
  return person.name?.trim() || maskEmail(person.email);
}
