import { normaliseEmail } from '../accounts/people.js';
import { audit } from '../audit/audit.js';
import type { BiometricContext } from '../biometrics/context.js';
import { openTemplate } from '../biometrics/dataKeys.js';
import { identifyProbe, type IdentifyingTenant } from '../biometrics/identification.js';
import { touchReference } from '../biometrics/references.js';
import { thresholdForFmr } from '../biometrics/threshold.js';
import { PalmImageError, bestMatch, deserializeTemplate, extractProbe, type PalmImageErrorReason, type Probe, type QualityResult } from '../palm/index.js';
import { checkThrottle, personSubject, recordFailure, resetThrottle, type ThrottleVerdict } from '../readers/throttle.js';

/**
 * Palm sign-in at the browser login: one camera frame per call. A frame the engine cannot use
 * comes back with guidance (no attempt is counted: nothing was compared); a usable frame is
 * identified among the people who consented to the client's tenant, or verified 1:1 against the
 * person the authorization request's `login_hint` names. Failures count against the interaction
 * and, once a person is in play, against that person (NIST SP 800-63B-4 back-off). The frame
 * lives only in this call.
 */
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
  /** The interaction (one authorization request's login). */
  interactionUid: string;
  /** The authorization request's login_hint: an email address, for 1:1 verification. */
  loginHint?: string | undefined;
  capture: Uint8Array;
}

/** Under this score a frame is not worth a comparison: the person is asked for another one. */
export const SIGN_IN_MIN_QUALITY = 0.25;

export const interactionSubject = (uid: string) => `interaction:${uid}`;

/** What the person in front of the camera can do about each rejection. */
const GUIDANCE: Partial<Record<PalmImageErrorReason, string>> = {
  no_hand: 'No palm found: hold your open hand inside the outline, fingers slightly apart.',
  too_small: 'Your palm is too small in the picture: move your hand closer.',
  too_dark: 'Too dark: add light or turn towards it.',
  too_bright: 'Too bright: move away from direct light.',
  low_contrast: 'The picture is flat: add light, and keep your palm facing the camera.',
  too_blurred: 'The picture is blurred: hold your hand still.',
};

export async function palmLogin(bio: BiometricContext, input: PalmLoginInput): Promise<PalmLoginOutcome> {
  const prisma = bio.db.prisma;
  const tenant = await prisma.tenant.findUnique({ where: { id: input.tenantId } });
  if (!tenant) return { kind: 'unavailable', message: `palm sign-in is unavailable: this application's tenant ${input.tenantId} no longer exists` };
  const interactionThrottle = await checkThrottle(bio.db, interactionSubject(input.interactionUid));
  if (!interactionThrottle.allowed) return throttled(interactionThrottle);

  let probe: Probe;
  let quality: QualityResult;
  try {
    ({ probe, quality } = await extractProbe(input.capture, { kind: 'auto' }));
  } catch (err) {
    if (!(err instanceof PalmImageError)) throw err;
    const guidance = GUIDANCE[err.reason];
    if (!guidance) return { kind: 'unreadable', message: `The picture could not be read (${err.reason}).` };
    return { kind: 'retry', reason: err.reason, message: guidance };
  }
  const feedback: QualityFeedback = {
    score: Math.round(quality.score * 100) / 100,
    hints: quality.reasons.filter((r) => r.score < 1).map((r) => r.message),
  };
  if (quality.score < SIGN_IN_MIN_QUALITY) {
    const worst = [...quality.reasons].sort((a, b) => a.score - b.score)[0]!;
    return { kind: 'retry', reason: 'low_quality', message: `Not clear enough yet: ${worst.message}.`, quality: feedback };
  }

  const verdict = input.loginHint ? await verify(bio, tenant, input.loginHint, probe) : await identify(bio, tenant, probe);
  const detail = { channel: 'browser', tenant: tenant.id, mode: verdict.mode, score: Math.round(verdict.score * 1000) / 1000 };
  let personFailures = 0;
  if (verdict.personId) {
    const personThrottle = await checkThrottle(bio.db, personSubject(verdict.personId));
    if (personThrottle.allowed) personFailures = personThrottle.failures;
    else {
      await audit(prisma, { action: 'signin.throttled', actor: input.clientId, subject: verdict.personId, detail: { channel: 'browser' } });
      return throttled(personThrottle);
    }
  }
  if (!verdict.match || !verdict.personId) {
    await recordFailure(prisma, interactionSubject(input.interactionUid));
    // A 1:1 miss is a failed attempt at that person's account; a 1:N miss names nobody.
    if (verdict.personId) await recordFailure(prisma, personSubject(verdict.personId));
    await audit(prisma, { action: 'signin.palm_unknown', actor: input.clientId, subject: verdict.personId ?? tenant.id, detail });
    return { kind: 'not_recognised' };
  }
  // A success clears the counts (only those that exist: most sign-ins have none).
  if (personFailures > 0) await resetThrottle(prisma, personSubject(verdict.personId));
  if (interactionThrottle.failures > 0) await resetThrottle(prisma, interactionSubject(input.interactionUid));
  await audit(prisma, { action: 'signin.palm', actor: input.clientId, subject: verdict.personId, detail });
  return { kind: 'signed_in', personId: verdict.personId, score: verdict.score, mode: verdict.mode };
}

interface Verdict {
  mode: 'identify' | 'verify';
  match: boolean;
  /** The person concerned: the match (1:N) or the hinted person (1:1), when there is one. */
  personId: string | null;
  score: number;
}

async function identify(bio: BiometricContext, tenant: IdentifyingTenant, probe: Probe): Promise<Verdict> {
  const result = await identifyProbe(bio, tenant, probe);
  return { mode: 'identify', match: result.match, personId: result.personId, score: result.score };
}

/**
 * 1:1: the probe against the hinted person's references at this tenant, at the single-comparison
 * threshold. Someone unknown, not consenting or not enrolled here simply does not match (the
 * answer does not reveal which).
 */
async function verify(bio: BiometricContext, tenant: IdentifyingTenant, loginHint: string, probe: Probe): Promise<Verdict> {
  const miss = (personId: string | null): Verdict => ({ mode: 'verify', match: false, personId, score: 0 });
  const person = await bio.db.prisma.person.findUnique({ where: { email: normaliseEmail(loginHint) }, select: { id: true } });
  if (!person) return miss(null);
  // Only references of the probe's model are comparable with it.
  const references = await bio.db.query<{ id: string; fine_template: Uint8Array }>(
    `SELECT r.id, r.fine_template
       FROM palm_reference r
      WHERE r.person_id = $1 AND r.tenant_id = $2 AND r.key_version = $3 AND r.model = $4
        AND EXISTS (SELECT 1 FROM consent c WHERE c.person_id = r.person_id AND c.tenant_id = $2 AND c.withdrawn_at IS NULL)`,
    [person.id, tenant.id, tenant.keyVersion, probe.template.model],
  );
  const key = references.length ? await bio.dataKeys.find(person.id) : null;
  if (!key) return miss(person.id);
  const threshold = thresholdForFmr(tenant.targetFmr, 1);
  const found = await bestMatch(probe, references.map((r) => deserializeTemplate(new Uint8Array(openTemplate(key, r.fine_template, r.id)))), threshold);
  const best = { score: found.score, id: references[found.index]?.id ?? '' };
  const match = found.index >= 0 && best.score >= threshold;
  if (match) await touchReference(bio.db, best.id);
  return { mode: 'verify', match, personId: person.id, score: best.score };
}

function throttled(verdict: ThrottleVerdict): PalmLoginOutcome {
  if (verdict.allowed) throw new Error('unreachable');
  return verdict.reason === 'locked' ? { kind: 'throttled', locked: true } : { kind: 'throttled', locked: false, retryAfterSeconds: verdict.retryAfterSeconds };
}
