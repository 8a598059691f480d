/**
 * Presentation attack detection (liveness) for one sign-in: a short sequence of frames of the
 * same hand (the reader envelope's images, or the frames a page sends for one try), and
 * optionally a challenge the page or reader asked the hand to follow. Library only: no HTTP, no
 * database; the frames live only in the call.
 *
 * Decision (ISO/IEC 30107 terms: a bona fide presentation is 'live', anything else is not
 * accepted as live):
 * 1. landmarks on every frame (the hand landmark model); frames without a hand are dropped, and
 *    fewer than PAD.minFrames with a hand is 'not_checked': one frame cannot show liveness. When
 *    the caller identifies the person on the first frame (identifiedFirst), that frame must hold a
 *    hand, or nothing ties the identified palm to the moving hand;
 * 1b. the frames with a hand must show one hand throughout (geometry.ts continuityBreak): no frame
 *    without a hand between them, no jump of place, size or side between consecutive ones;
 * 2. the track must move in a way no flat artefact can: a planar residual (non-rigid or 3D
 *    motion) AND a change of joint angles (geometry.ts);
 * 3. the challenge, when one was asked, must have been followed in its direction;
 * 4. no replay cue (replay.ts) on the frames: a screen's or a print's periodic pattern, glare
 *    (the median over the frames, and the identified frame's own: one screen frame cannot hide
 *    among live ones).
 *
 * 'not_live' means the sequence did not show liveness, which is not proof of an attack: a live
 * hand held perfectly still looks like a photo. Callers mark such sign-ins as unchecked (they
 * never pass for checked) rather than accuse the person.
 */
import { detectHand, getHandModels, type HandModels, type LandmarkPass } from '../hand/detector.js';
import type { RasterImage } from '../image.js';
import { continuityBreak, type LandmarkFrame, measureTrack, type TrackMeasures } from './geometry.js';
import { type ReplayCues, replayCues } from './replay.js';
import { type Challenge, CHALLENGES, PAD } from './tunables.js';

export { CHALLENGES, CHALLENGES_FROM_OPEN_HAND, PAD } from './tunables.js';
export type { Challenge } from './tunables.js';
export {
  articulation,
  challengeResult,
  continuityBreak,
  fitHomography,
  jointAngles,
  measureTrack,
  planarResidual,
  spreadAngles,
} from './geometry.js';
export type { ChallengeResult, LandmarkFrame, TrackMeasures } from './geometry.js';
export { glareShare, replayCues, spectralPeak } from './replay.js';
export type { ReplayCues } from './replay.js';

export type LivenessReason =
  /** fewer than two frames with a hand: liveness cannot be judged */
  | 'single_frame'
  /** the hand landmark models are not installed */
  | 'models_unavailable'
  /** the landmarks moved as one flat object does (one homography) */
  | 'planar_motion'
  /** the joint angles did not change */
  | 'no_articulation'
  /** the requested change did not happen, or went the other way */
  | 'challenge_not_followed'
  /** periodic pattern of a screen (pixel grid, moiré) or a print (halftone) */
  | 'replay_pattern'
  /** a large near-white reflection on the hand */
  | 'glare'
  /** the identified (first) frame has no hand the landmark model trusts: it is not part of the track */
  | 'identified_frame_not_in_track'
  /** the frames do not show one hand throughout (a gap, or a jump of place, size or side) */
  | 'discontinuous';

export interface LivenessResult {
  verdict: 'live' | 'not_live' | 'not_checked';
  /** why it is not live or not checked (empty when live) */
  reasons: LivenessReason[];
  /** frames given, and frames where a hand was found */
  frames: number;
  framesWithHand: number;
  track?: TrackMeasures;
  /** median over the frames with a hand (with identifiedFirst: the larger of it and the first frame's) */
  cues?: ReplayCues;
}

export interface LivenessOptions {
  challenge?: Challenge | undefined;
  /** the hand models (default: the installed ones) */
  models?: HandModels | null;
  /**
   * The landmark pass of each frame (same order; null: no hand), when the caller already ran the
   * models (handPasses): the frames are not detected again. The frames themselves are still
   * needed, for the replay cues.
   */
  passes?: (LandmarkPass | null)[];
  /**
   * The first frame is the one the person was identified on: it must be in the track (a hand the
   * model trusts), and its own replay cues count, not only the median.
   */
  identifiedFirst?: boolean;
}

/**
 * The hand landmark pass of each frame (null: no hand found), once: recognition (extractProbeFromImage's
 * `hand`) and liveness (checkLiveness's `passes`) share them. Null when the models are not installed.
 */
export async function handPasses(
  frames: RasterImage[],
  models?: HandModels | null,
): Promise<(LandmarkPass | null)[] | null> {
  const m = models === undefined ? await getHandModels() : models;
  if (!m) return null;
  const out: (LandmarkPass | null)[] = [];
  for (const img of frames) out.push(await detectHand(img, m));
  return out;
}

export function isChallenge(value: unknown): value is Challenge {
  return typeof value === 'string' && (CHALLENGES as readonly string[]).includes(value);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * The decision from the measures (pure: the evaluation and the tests call it directly). Replay
 * cues are the median over frames: a screen or a print is in every frame, a spurious peak in one.
 * With identifiedFirst, cues[0] is the identified frame's, and the larger of it and the median
 * counts: the frame that was matched must not itself be a screen or a print.
 */
export function judge(
  track: TrackMeasures,
  cues: ReplayCues[],
  t: Pick<
    typeof PAD,
    'minFrames' | 'minPlanarResidual' | 'minArticulation' | 'maxSpectralPeak' | 'maxGlareShare'
  > = PAD,
  opts: { identifiedFirst?: boolean } = {},
): Omit<LivenessResult, 'frames' | 'framesWithHand'> {
  if (track.frames < t.minFrames) return { verdict: 'not_checked', reasons: ['single_frame'], track };
  const reasons: LivenessReason[] = [];
  if (track.continuous === false) reasons.push('discontinuous');
  if (track.planarResidual < t.minPlanarResidual) reasons.push('planar_motion');
  if (track.articulation < t.minArticulation) reasons.push('no_articulation');
  if (track.challenge && !track.challenge.complied) reasons.push('challenge_not_followed');
  let med: ReplayCues | undefined = cues.length
    ? { spectralPeak: median(cues.map((c) => c.spectralPeak)), glare: median(cues.map((c) => c.glare)) }
    : undefined;
  if (med && opts.identifiedFirst)
    med = {
      spectralPeak: Math.max(med.spectralPeak, cues[0]!.spectralPeak),
      glare: Math.max(med.glare, cues[0]!.glare),
    };
  if (med && med.spectralPeak > t.maxSpectralPeak) reasons.push('replay_pattern');
  if (med && med.glare > t.maxGlareShare) reasons.push('glare');
  return { verdict: reasons.length ? 'not_live' : 'live', reasons, track, ...(med ? { cues: med } : {}) };
}

/** Landmarks and replay cues of one frame; null when no hand is found. */
export async function frameEvidence(
  img: RasterImage,
  models: HandModels,
  known?: LandmarkPass | null,
): Promise<{ landmarks: LandmarkFrame; cues: ReplayCues } | null> {
  const pass = known !== undefined ? known : await detectHand(img, models);
  if (!pass || pass.presence < PAD.minPresence) return null;
  return {
    landmarks: { points: pass.points, depth: pass.depth, handedness: pass.handedness },
    cues: replayCues(img, pass.points),
  };
}

/** Liveness of one sign-in's frames (capture order), see the module comment. */
export async function checkLiveness(frames: RasterImage[], opts: LivenessOptions = {}): Promise<LivenessResult> {
  const given = frames.slice(0, PAD.maxFrames);
  const base = { frames: frames.length, framesWithHand: 0 };
  if (given.length < PAD.minFrames) return { ...base, verdict: 'not_checked', reasons: ['single_frame'] };
  if (opts.passes && opts.passes.length !== frames.length) throw new Error('checkLiveness: one pass per frame');
  const models = opts.models === undefined ? await getHandModels() : opts.models;
  if (!models) return { ...base, verdict: 'not_checked', reasons: ['models_unavailable'] };
  const all: Awaited<ReturnType<typeof frameEvidence>>[] = [];
  for (let i = 0; i < given.length; i++) {
    all.push(await frameEvidence(given[i]!, models, opts.passes?.[i]));
    // Nothing ties the identified palm to the moving hand: the rest is not worth measuring.
    if (i === 0 && opts.identifiedFirst && !all[0])
      return { ...base, verdict: 'not_live', reasons: ['identified_frame_not_in_track'] };
  }
  const evidence = all.filter((e) => e !== null);
  const track = measureTrack(
    evidence.map((e) => e.landmarks),
    opts.challenge,
  );
  track.continuous = continuityBreak(all.map((e) => e?.landmarks ?? null)) === null;
  return {
    ...judge(
      track,
      evidence.map((e) => e.cues),
      PAD,
      { identifiedFirst: Boolean(opts.identifiedFirst) },
    ),
    frames: frames.length,
    framesWithHand: evidence.length,
  };
}
