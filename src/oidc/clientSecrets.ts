/**
 * Client secrets are stored only as argon2id hashes. Verifying argon2id costs tens of
 * milliseconds of CPU, too much for every token request, so a successful verification is
 * remembered as an HMAC (under a per-process random key) of the presented secret: later requests
 * compare HMACs in constant time. The plaintext secret is never kept.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import argon2 from 'argon2';

const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

export async function hashClientSecret(secret: string): Promise<string> {
  return argon2.hash(secret, ARGON2_OPTIONS);
}

const cacheKey = randomBytes(32);
const verified = new Map<string, Buffer>(); // argon2 hash -> HMAC of the secret that matched it
const MAX_CACHE = 10_000;

function mac(secret: string): Buffer {
  return createHmac('sha256', cacheKey).update(secret).digest();
}

export async function verifyClientSecret(storedHash: string, presented: string): Promise<boolean> {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > 512) return false;
  const presentedMac = mac(presented);
  const known = verified.get(storedHash);
  if (known) return timingSafeEqual(known, presentedMac);
  let ok = false;
  try {
    ok = await argon2.verify(storedHash, presented);
  } catch {
    ok = false;
  }
  if (ok) {
    if (verified.size >= MAX_CACHE) verified.delete(verified.keys().next().value as string);
    verified.set(storedHash, presentedMac);
  }
  return ok;
}
