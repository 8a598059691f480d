/**
 * Palm sign-in at the browser login: one camera frame per call. A frame the engine cannot use
 * comes back with guidance (it costs the sender a share of an attempt: reading it is work); a
 * usable frame is identified among the people who consented to the client's tenant, or verified
 * 1:1 against the person the authorization request's `login_hint` names. The login is anonymous,
 * so failures count against the sender's address and the relying party (rate limits), and a 1:1
 * miss against the named person from that address only: a stranger can slow himself, never lock
 * someone else out. The frame lives only in this call.
 */
import { findPersonByEmail, normaliseEmail } from '../accounts/people.js';
import { identifyingTenant, type IdentifyingTenant } from '../accounts/tenants.js';
import type { BiometricContext } from '../biometrics/context.js';
import { openTemplate } from '../biometrics/dataKeys.js';
import { identifyProbe } from '../biometrics/identification.js';
import { referencesToVerify, touchReference } from '../biometrics/references.js';
import { attemptPalmSignIn, auditSignIn, type Capture, type Comparison } from '../biometrics/signInAttempt.js';
import { thresholdForFmr } from '../biometrics/threshold.js';
import {
  CAMERA_FRAME_LIMITS,
  PalmImageError,
  checkImageHeader,
  bestMatch,
  deserializeTemplate,
  extractProbe,
  type PalmImageErrorReason,
  type Probe,
  type QualityResult,
} from '../palm/index.js';
import { LIMITS, addressSubject, clientSubject, hintedPalmSubject } from '../throttling/attemptLimits.js';

export type PalmLoginOutcome =
  | { kind: 'signed_in'; personId: string; score: number; mode: 'identify' | 'verify' }
  | { kind: 'retry'; reason: PalmImageErrorReason | 'low_quality'; message: string; quality?: QualityFeedback }
  | { kind: 'unreadable'; message: string }
  | { kind: 'not_recognised' }
  | { kind: 'throttled'; locked: boolean; retryAfterSeconds?: number }
  | { kind: 'unavailable'; message: string };

export interface QualityFeedback {
  score: number;
  /** The engine's messages for what could be better (empty when nothing). */
  hints: string[];
}

export interface PalmLoginInput {
  tenantId: string;
  clientId: string;
  /** The sender's address (Koa's ctx.ip: behind a proxy, only with PALMID_TRUST_PROXY). */
  address: string;
  /** The authorization request's login_hint: an email address, for 1:1 verification. */
  loginHint?: string | undefined;
  capture: Uint8Array;
}

/** Under this score a frame is not worth a comparison: the person is asked for another one. */
export const SIGN_IN_MIN_QUALITY = 0.25;

/** What the person in front of the camera can do about each rejection. */
const GUIDANCE: Partial<Record<PalmImageErrorReason, string>> = {
  no_hand: 'No palm found: hold your open hand inside the outline, fingers slightly apart.',
  too_small: 'Your palm is too small in the picture: move your hand closer.',
  too_dark: 'Too dark: add light or turn towards it.',
  too_bright: 'Too bright: move away from direct light.',
  low_contrast: 'The picture is flat: add light, and keep your palm facing the camera.',
  too_blurred: 'The picture is blurred: hold your hand still.',
  motion_blur: 'Your hand moved: hold it still until the picture is taken.',
  rotated: 'Your hand is turned: hold it upright, fingers pointing up.',
  partial_palm: 'Part of your palm is hidden or outside the picture: pull your sleeve back and show the whole palm.',
  fingers_in_view: 'Your fingers cover the palm: open your hand flat, fingers slightly apart.',
};

export async function palmLogin(bio: BiometricContext, input: PalmLoginInput): Promise<PalmLoginOutcome> {
  const tenant = await identifyingTenant(bio.db, input.tenantId);
  if (!tenant)
    return {
      kind: 'unavailable',
      // the tenant id is the operator's business, not the person's
      message: 'Palm sign-in is not available for this application: sign in with a passkey.',
    };
  const loginHint = input.loginHint ? normaliseEmail(input.loginHint) : undefined;
  const outcome = await attemptPalmSignIn<Probe, FrameRejection>(bio.db, {
    channel: 'browser',
    actor: input.clientId,
    tenantId: tenant.id,
    // Anyone can open sign-ins: the address and the relying party pay for failures, never a person.
    sources: [
      { subject: addressSubject(input.address), policy: LIMITS.browserAddress },
      { subject: clientSubject(input.clientId), policy: LIMITS.browserClient },
    ],
    ...(loginHint
      ? { target: { subject: hintedPalmSubject(loginHint, input.address), policy: LIMITS.hintedPalm } }
      : {}),
    precheck: () => precheckFrame(input.capture),
    read: () => readFrame(input.capture),
    compare: (probe) => (loginHint ? verify(bio, tenant, loginHint, probe) : identify(bio, tenant, probe)),
  });
  switch (outcome.kind) {
    case 'unusable':
      return outcome.rejection;
    case 'throttled':
      return outcome;
    case 'not_matched':
      return { kind: 'not_recognised' };
    case 'matched':
      await auditSignIn(bio.db, {
        actor: input.clientId,
        personId: outcome.personId,
        tenantId: tenant.id,
        channel: 'browser',
        mode: outcome.mode,
        score: outcome.score,
      });
      return { kind: 'signed_in', personId: outcome.personId, score: outcome.score, mode: outcome.mode };
  }
}

type FrameRejection = Extract<PalmLoginOutcome, { kind: 'retry' | 'unreadable' }>;

/** What the person can do about a frame the engine refused. */
function rejectionOf(err: PalmImageError): FrameRejection {
  const guidance = GUIDANCE[err.reason];
  if (!guidance) return { kind: 'unreadable', message: `The picture could not be read (${err.reason}).` };
  return { kind: 'retry', reason: err.reason, message: guidance };
}

/** A frame refused on its bytes and header alone, before any attempt is reserved. */
function precheckFrame(capture: Uint8Array): FrameRejection | null {
  try {
    checkImageHeader(capture, CAMERA_FRAME_LIMITS);
    return null;
  } catch (err) {
    if (err instanceof PalmImageError) return rejectionOf(err);
    throw err;
  }
}

/** A usable probe, or guidance for the next frame. */
async function readFrame(capture: Uint8Array): Promise<Capture<Probe, FrameRejection>> {
  let probe: Probe;
  let quality: QualityResult;
  try {
    ({ probe, quality } = await extractProbe(capture, { kind: 'auto', limits: CAMERA_FRAME_LIMITS }));
  } catch (err) {
    if (!(err instanceof PalmImageError)) throw err;
    return { usable: false, rejection: rejectionOf(err) };
  }
  if (quality.score < SIGN_IN_MIN_QUALITY) {
    const feedback: QualityFeedback = {
      score: Math.round(quality.score * 100) / 100,
      hints: quality.reasons.filter((r) => r.score < 1).map((r) => r.message),
    };
    const worst = [...quality.reasons].sort((a, b) => a.score - b.score)[0]!;
    return {
      usable: false,
      rejection: {
        kind: 'retry',
        reason: 'low_quality',
        message: `Not clear enough yet: ${worst.message}.`,
        quality: feedback,
      },
    };
  }
  return { usable: true, probe };
}

async function identify(bio: BiometricContext, tenant: IdentifyingTenant, probe: Probe): Promise<Comparison> {
  const result = await identifyProbe(bio, tenant, probe);
  return { mode: 'identify', match: result.match, personId: result.personId, score: result.score };
}

/**
 * 1:1: the probe against the hinted person's references at this tenant, at the single-comparison
 * threshold. Someone unknown, not consenting or not enrolled here simply does not match (the
 * answer does not reveal which).
 */
async function verify(
  bio: BiometricContext,
  tenant: IdentifyingTenant,
  loginHint: string,
  probe: Probe,
): Promise<Comparison> {
  const miss = (personId: string | null): Comparison => ({ mode: 'verify', match: false, personId, score: 0 });
  const person = await findPersonByEmail(bio.db, loginHint);
  if (!person) return miss(null);
  // Only references of the probe's model are comparable with it.
  const references = await referencesToVerify(bio.db, { personId: person.id, tenant, model: probe.template.model });
  const key = references.length ? await bio.dataKeys.find(person.id) : null;
  if (!key) return miss(person.id);
  const threshold = thresholdForFmr(tenant.targetFmr, 1);
  const found = await bestMatch(
    probe,
    references.map((r) => deserializeTemplate(new Uint8Array(openTemplate(key, r.sealedTemplate, r.id)))),
    threshold,
  );
  const best = { score: found.score, id: references[found.index]?.id ?? '' };
  const match = found.index >= 0 && best.score >= threshold;
  if (match) await touchReference(bio.db, best.id);
  return { mode: 'verify', match, personId: person.id, score: best.score };
}
