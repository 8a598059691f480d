/**
 * The liveness challenge of one palm try at the browser login: which movement the hand must make
 * after the ready frame ('close' the fingers, or 'tilt' the hand; a ready hand is already open, so
 * 'spread' is never asked), picked with crypto randomness and handed to the page as a token bound
 * to the interaction and valid for CHALLENGE_SECONDS.
 *
 * Stateless on purpose: the token carries {uid, challenge, exp, nonce} and an HMAC under a key
 * derived from the installation's master key, so any process of the installation checks it and
 * nothing is stored per try. It is not single-use: within its short lifetime a page may try again
 * with it, and every frame it sends still spends the sign-in's frame budget (FRAMES_PER_SIGN_IN),
 * as does every challenge issued (so they cannot be re-drawn for free). What the challenge buys is
 * that the movement is unknown until the try starts, so a single recording or a photo follows it
 * only by chance; with two challenges, someone holding recordings of both movements of the
 * person's hand can still pass.
 */
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { MasterKey } from '../crypto/masterKey.js';
import { CHALLENGES_FROM_OPEN_HAND } from '../palm/index.js';

/** How long a page has to capture and send the sequence once it asked for a challenge. */
export const CHALLENGE_SECONDS = 30;
/** What a hand that is already open (the ready frame) can be asked to do next. */
export const LOGIN_CHALLENGES = CHALLENGES_FROM_OPEN_HAND;
export type LoginChallenge = (typeof LOGIN_CHALLENGES)[number];

/** The master key's derivation label for this MAC key (no other use shares it). */
const PURPOSE = 'palm-login-challenge';
const VERSION = 'v1';

export interface IssuedChallenge {
  challenge: LoginChallenge;
  token: string;
  expires_in: number;
}

interface Claims {
  uid: string;
  challenge: LoginChallenge;
  exp: number;
  nonce: string;
}

export class PalmChallenges {
  private readonly key: Buffer;

  constructor(
    master: MasterKey,
    private readonly now: () => number = Date.now,
  ) {
    this.key = master.derive(PURPOSE);
  }

  /** A fresh random challenge for one try of the interaction `uid`. */
  issue(uid: string): IssuedChallenge {
    const claims: Claims = {
      uid,
      challenge: LOGIN_CHALLENGES[randomInt(LOGIN_CHALLENGES.length)]!,
      exp: Math.floor(this.now() / 1000) + CHALLENGE_SECONDS,
      nonce: randomBytes(12).toString('base64url'),
    };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { challenge: claims.challenge, token: `${payload}.${this.mac(payload)}`, expires_in: CHALLENGE_SECONDS };
  }

  /**
   * The challenge a token asked for, when the token is ours, unexpired and for this interaction;
   * null otherwise (the caller does not say which: a forged and an expired token are both refused).
   */
  verify(token: unknown, uid: string): LoginChallenge | null {
    if (typeof token !== 'string' || token.length > 512) return null;
    const [payload, mac, extra] = token.split('.');
    if (!payload || !mac || extra !== undefined) return null;
    const expected = Buffer.from(this.mac(payload), 'base64url');
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    let claims: Partial<Claims>;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<Claims>;
    } catch {
      return null;
    }
    if (claims.uid !== uid || typeof claims.exp !== 'number' || claims.exp * 1000 <= this.now()) return null;
    const challenge = LOGIN_CHALLENGES.find((c) => c === claims.challenge);
    return challenge ?? null;
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(`${VERSION}.${payload}`).digest('base64url');
  }
}
