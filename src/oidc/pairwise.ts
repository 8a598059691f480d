import { createHmac } from 'node:crypto';

/**
 * Pairwise subject: HMAC-SHA256 over (sector identifier, account id) under a key derived from the
 * master key, so relying parties in different sectors cannot correlate a person, and the value
 * is stable across restarts.
 */
export function pairwiseSubject(salt: Buffer, sectorIdentifier: string, accountId: string): string {
  return createHmac('sha256', salt).update(`${sectorIdentifier}\u0000${accountId}`).digest('base64url');
}
