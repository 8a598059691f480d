/** The WebAuthn relying party is the provider itself: its origin and host name. */
export interface RelyingParty {
  id: string;
  name: string;
  origin: string;
}

export function relyingPartyFor(issuer: string): RelyingParty {
  const url = new URL(issuer);
  return { id: url.hostname, name: 'palmid', origin: url.origin };
}
