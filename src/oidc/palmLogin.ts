/**
 * Palm sign-in at the browser login: one camera frame per call. A frame the engine cannot use
 * comes back with guidance (it costs the sender a share of an attempt: reading it is work); a
 * usable frame is identified among the people who consented to the client's tenant, or verified
 * 1:1 against the person the authorization request's `login_hint` names. The login is anonymous,
 * so failures count against the sender's address and the relying party (rate limits), and a 1:1
 * miss against the named person from that address only: a stranger can slow himself, never lock
 * someone else out. The frame lives only in this call.
 *
 * A try may also bring a short sequence (the ready frame, then frames taken while the hand follows
 * a random challenge): presentation attack detection (src/palm/pad) judges it. For a client that
 * requires PAD it runs before any comparison, and a sequence not shown live is a rejected capture
 * (guidance, like an unusable frame); for any other client it runs only once the palm matched, so a
 * stranger's frames cost no PAD, and only says whether the tokens carry the PAD amr. The identified
 * (ready) frame is read as a whole hand and must be part of PAD's track (identifiedFirst), so a
 * palm crop or a photo of someone else cannot be spliced in front of a live hand. Why a sequence
 * was not shown live goes to the audit log only: the person gets one message, so a replay
 * attacker does not learn which check to work on.
 */
import { audit } from '../audit/audit.js';
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
  checkLiveness,
  decodeImage,
  bestMatch,
  deserializeTemplate,
  extractProbe,
  extractProbeFromImage,
  handPasses,
  type Challenge,
  type LandmarkPass,
  type LivenessResult,
  type PalmImageErrorReason,
  type Probe,
  type RasterImage,
  type QualityResult,
} from '../palm/index.js';
import { LIMITS, addressSubject, clientSubject, hintedPalmSubject } from '../throttling/attemptLimits.js';

export type PalmLoginOutcome =
  | { kind: 'signed_in'; personId: string; score: number; mode: 'identify' | 'verify'; pad: boolean }
  | {
      kind: 'retry';
      reason: PalmImageErrorReason | 'low_quality' | 'not_live';
      message: string;
      quality?: QualityFeedback;
    }
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
  /** The frame identified: a single frame, or a sequence's first (ready) frame. */
  capture: Uint8Array;
  /** The whole try (capture first, then the challenge frames) and the challenge it was asked to follow. */
  sequence?: { frames: Uint8Array[]; challenge: Challenge } | undefined;
  /** The client accepts only sign-ins shown live (palmid_require_pad): no sequence, no sign-in. */
  requirePad?: boolean;
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
  const sequence = input.sequence;
  if (input.requirePad && !sequence)
    return {
      kind: 'unavailable',
      message: 'This application accepts palm sign-ins only with a liveness check: sign in with a passkey.',
    };
  const decoded = sequence ? new DecodedTry(sequence.frames) : undefined;
  try {
    return await signIn(bio, input, tenant, loginHint, decoded);
  } finally {
    decoded?.wipe();
  }
}

async function signIn(
  bio: BiometricContext,
  input: PalmLoginInput,
  tenant: IdentifyingTenant,
  loginHint: string | undefined,
  decoded: DecodedTry | undefined,
): Promise<PalmLoginOutcome> {
  const challenge = input.sequence?.challenge;
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
    read: async () => {
      const read = await readFrame(
        decoded
          ? // The ready frame of a sequence is a whole hand, never taken as a palm crop (detectKind's
            // small-image rule): PAD must see the hand that is identified.
            async () =>
              extractProbeFromImage(await decoded.image(0), {
                ...FRAME_OPTIONS,
                kind: 'hand',
                ...(await decoded.hand(0)),
              })
          : () => extractProbe(input.capture, FRAME_OPTIONS),
      );
      if (!read.usable || !input.requirePad || !decoded || !challenge) return read;
      // Before any comparison: a sequence not shown live costs an attempt and is never searched.
      const liveness = await decoded.liveness(challenge);
      if (liveness.verdict === 'live') return read;
      await auditNotLive(bio, input, tenant.id, challenge, liveness);
      return { usable: false, rejection: NOT_LIVE };
    },
    compare: (probe) => (loginHint ? verify(bio, tenant, loginHint, probe) : identify(bio, tenant, probe)),
  });
  switch (outcome.kind) {
    case 'unusable':
      return outcome.rejection;
    case 'throttled':
      return outcome;
    case 'not_matched':
      return { kind: 'not_recognised' };
    case 'matched': {
      // Passed above for a client that requires PAD; for any other, checked only now.
      let pad = Boolean(input.requirePad);
      if (!pad && decoded && challenge) {
        const liveness = await decoded.liveness(challenge);
        pad = liveness.verdict === 'live';
        if (!pad) await auditNotLive(bio, input, tenant.id, challenge, liveness);
      }
      await auditSignIn(bio.db, {
        actor: input.clientId,
        personId: outcome.personId,
        tenantId: tenant.id,
        channel: 'browser',
        mode: outcome.mode,
        score: outcome.score,
      });
      return { kind: 'signed_in', personId: outcome.personId, score: outcome.score, mode: outcome.mode, pad };
    }
  }
}

const FRAME_OPTIONS = { kind: 'auto', limits: CAMERA_FRAME_LIMITS } as const;

/**
 * A try's frames, each decoded and its hand detected at most once: recognition reads frame 0,
 * PAD the whole sequence (frame 0 included, as the identified frame). wipe() zeroes the pixels.
 */
class DecodedTry {
  private readonly images = new Map<number, RasterImage | PalmImageError>();
  private readonly passes = new Map<number, LandmarkPass | null>();
  private models: 'unknown' | 'installed' | 'absent' = 'unknown';

  constructor(private readonly frames: Uint8Array[]) {}

  /** Frame i decoded (throws its PalmImageError, every time, when it does not decode). */
  async image(i: number): Promise<RasterImage> {
    let image = this.images.get(i);
    if (!image) {
      try {
        image = await decodeImage(this.frames[i]!, CAMERA_FRAME_LIMITS);
      } catch (err) {
        if (!(err instanceof PalmImageError)) throw err;
        image = err;
      }
      this.images.set(i, image);
    }
    if (image instanceof PalmImageError) throw image;
    return image;
  }

  /** The hand landmark pass of frame i, as extraction options ({} without the models: extraction decides). */
  async hand(i: number): Promise<{ hand?: LandmarkPass | null }> {
    if (this.models === 'absent') return {};
    if (!this.passes.has(i)) {
      const passes = await handPasses([await this.image(i)]);
      if (!passes) {
        this.models = 'absent';
        return {};
      }
      this.models = 'installed';
      this.passes.set(i, passes[0] ?? null);
    }
    return { hand: this.passes.get(i) ?? null };
  }

  private judged: Promise<LivenessResult> | undefined;
  /**
   * PAD on the try, frame 0 the identified one, once per try. A frame that does not decode breaks
   * the track (a hand could be swapped behind it): not live, as a gap between hands is.
   */
  liveness(challenge: Challenge): Promise<LivenessResult> {
    this.judged ??= (async () => {
      const images: RasterImage[] = [];
      const passes: (LandmarkPass | null)[] = [];
      for (let i = 0; i < this.frames.length; i++) {
        try {
          images.push(await this.image(i));
        } catch (err) {
          if (!(err instanceof PalmImageError)) throw err;
          const n = this.frames.length;
          return { verdict: 'not_live', reasons: ['discontinuous'], frames: n, framesWithHand: 0 } as LivenessResult;
        }
        const { hand } = await this.hand(i);
        if (hand !== undefined) passes.push(hand);
      }
      return checkLiveness(images, {
        challenge,
        identifiedFirst: true,
        ...(passes.length === images.length ? { passes } : {}),
      });
    })();
    return this.judged;
  }

  wipe(): void {
    for (const image of this.images.values()) if (!(image instanceof PalmImageError)) image.data.fill(0);
    this.images.clear();
  }
}

/**
 * The one answer to a sequence not shown live, whatever check failed (module comment): which one
 * is in the audit log. Not an accusation: a live hand held still is not shown live either.
 */
export const NOT_LIVE_MESSAGE = 'We could not confirm a live hand: do the movement shown, in one go.';
const NOT_LIVE: FrameRejection = { kind: 'retry', reason: 'not_live', message: NOT_LIVE_MESSAGE };

/** Why a try was not shown live, for the operator (never for the sender). */
async function auditNotLive(
  bio: BiometricContext,
  input: PalmLoginInput,
  tenantId: string,
  challenge: Challenge,
  liveness: LivenessResult,
): Promise<void> {
  await audit(bio.db, {
    action: 'signin.not_live',
    actor: input.clientId,
    subject: tenantId,
    detail: {
      channel: 'browser',
      tenant: tenantId,
      required: Boolean(input.requirePad),
      challenge,
      reasons: [...liveness.reasons],
      frames: liveness.frames,
      framesWithHand: liveness.framesWithHand,
    },
  });
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

/** A usable probe from `extract` (the frame's), or guidance for the next frame. */
async function readFrame(
  extract: () => Promise<{ probe: Probe; quality: QualityResult }>,
): Promise<Capture<Probe, FrameRejection>> {
  let probe: Probe;
  let quality: QualityResult;
  try {
    ({ probe, quality } = await extract());
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
  return {
    mode: 'identify',
    match: result.match,
    personId: result.personId,
    score: result.score,
    threshold: result.threshold,
  };
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
  return { mode: 'verify', match, personId: person.id, score: best.score, threshold };
}
