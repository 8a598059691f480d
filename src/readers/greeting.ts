/**
 * How a reader greets the person it recognised (#13). A reader's screen is often public: by default
 * it learns only the first word of the name (OIDC `given_name`), never the full name, and never the
 * email as a stand-in. Reader metadata `palmid_greeting`: 'first_name' (default), 'none' (no name
 * at all: the screen says "Welcome"), 'full' (the `name` claim, as any other client gets it).
 * Applied where the provider builds the claims (src/oidc/provider.ts findAccount), so a reader page
 * cannot ask for more than its setting allows.
 */
import type { Client } from 'oidc-provider';
import { clientMetadata } from '../clients/metadata.js';

export const GREETINGS = ['first_name', 'none', 'full'] as const;
export type Greeting = (typeof GREETINGS)[number];

/** The CIBA grant type only readers have (src/readers/registry.ts CIBA_GRANT). */
const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

export function isGreeting(value: unknown): value is Greeting {
  return typeof value === 'string' && (GREETINGS as readonly string[]).includes(value);
}

function isReader(client: Client): boolean {
  return client.grantTypes?.includes(CIBA_GRANT) === true;
}

/** A reader's greeting setting; undefined for a client that is not a reader. */
export function readerGreeting(client: Client | undefined): Greeting | undefined {
  if (!client || !isReader(client)) return undefined;
  const value = clientMetadata<unknown>(client, 'palmid_greeting');
  return isGreeting(value) ? value : 'first_name';
}

/** The name claims a client may receive for a person: all of `name` unless it is a reader that says otherwise. */
export function greetingName(client: Client | undefined, name: string | null): { name?: string; given_name?: string } {
  const trimmed = name?.trim();
  if (!trimmed) return {};
  switch (readerGreeting(client)) {
    case undefined:
    case 'full':
      return { name: trimmed };
    case 'none':
      return {};
    case 'first_name':
      return { given_name: trimmed.split(/\s+/u)[0]! };
  }
}
