/**
 * palmid's own client metadata (`extraClientMetadata`: palmid_require_pin, palmid_require_pad,
 * palmid_exchange_audiences, palmid_tenant), read by the provider's hooks and the readers' CIBA
 * hooks alike. oidc-provider keeps such keys as registered (snake_case) on the Client instance;
 * the camelCase form is read too in case a version maps them.
 */
import type { Client } from 'oidc-provider';

export function clientMetadata<T>(client: Client, key: string): T | undefined {
  const c = client as unknown as Record<string, unknown>;
  const camel = key.replace(/_(\w)/g, (_m, ch: string) => ch.toUpperCase());
  return (c[key] ?? c[camel]) as T | undefined;
}

/** Does this client refuse palm sign-ins whose liveness (PAD) was not checked? */
export function requiresPad(client: Client): boolean {
  return clientMetadata<boolean>(client, 'palmid_require_pad') === true;
}
