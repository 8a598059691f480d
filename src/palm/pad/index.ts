/**
 * Presentation attack detection (liveness) for one sign-in: a short sequence of frames of the
 * same hand (the reader envelope's images, or the frames a page sends for one try), and
 * optionally a challenge the page or reader asked the hand to follow. Library only: no HTTP, no
 * database; the frames live only in the call.
 *
 * Decision (ISO/IEC 30107 terms: a bona fide presentation is 'live', anything else is not
 * accepted as live):
 * 1. landmarks on every frame (the hand landmark model); frames without a hand are dropped, and
 *    fewer than PAD.minFrames with a hand is 'not_checked': one frame cannot show liveness;
 * 2. the track must move in a way no flat artefact can: a planar residual (non-rigid or 3D
 *    motion) AND a change of joint angles (geometry.ts);
 * 3. the challenge, when one was asked, must have been followed in its direction;
 * 4. no replay cue (replay.ts) on the frames: a screen's or a print's periodic pattern, glare.
 *
 * 'not_live' means the sequence did not show liveness, which is not proof of an attack: a live
 * hand held perfectly still looks like a photo. Callers mark such sign-ins as unchecked (they
 * never pass for checked) rather than accuse the person.
 */
import { detectHand, getHandModels, type HandModels } from '../hand/detector.js';
import type { RasterImage } from '../image.js';
import { type LandmarkFrame, measureTrack, type TrackMeasures } from './geometry.js';
import { type ReplayCues, replayCues } from './replay.js';
import { type Challenge, CHALLENGES, PAD } from './tunables.js';

export { CHALLENGES, PAD } from './tunables.js';
export type { Challenge } from './tunables.js';
export {
  articulation,
  challengeResult,
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
  | 'glare';

export interface LivenessResult {
  verdict: 'live' | 'not_live' | 'not_checked';
  /** why it is not live or not checked (empty when live) */
  reasons: LivenessReason[];
  /** frames given, and frames where a hand was found */
  frames: number;
  framesWithHand: number;
  track?: TrackMeasures;
  /** median over the frames with a hand */
  cues?: ReplayCues;
}

export interface LivenessOptions {
  challenge?: Challenge | undefined;
  /** the hand models (default: the installed ones) */
  models?: HandModels | null;
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
 */
export function judge(
  track: TrackMeasures,
  cues: ReplayCues[],
  t: Pick<
    typeof PAD,
    'minFrames' | 'minPlanarResidual' | 'minArticulation' | 'maxSpectralPeak' | 'maxGlareShare'
  > = PAD,
): Omit<LivenessResult, 'frames' | 'framesWithHand'> {
  if (track.frames < t.minFrames) return { verdict: 'not_checked', reasons: ['single_frame'], track };
  const reasons: LivenessReason[] = [];
  if (track.planarResidual < t.minPlanarResidual) reasons.push('planar_motion');
  if (track.articulation < t.minArticulation) reasons.push('no_articulation');
  if (track.challenge && !track.challenge.complied) reasons.push('challenge_not_followed');
  const med: ReplayCues | undefined = cues.length
    ? { spectralPeak: median(cues.map((c) => c.spectralPeak)), glare: median(cues.map((c) => c.glare)) }
    : undefined;
  if (med && med.spectralPeak > t.maxSpectralPeak) reasons.push('replay_pattern');
  if (med && med.glare > t.maxGlareShare) reasons.push('glare');
  return { verdict: reasons.length ? 'not_live' : 'live', reasons, track, ...(med ? { cues: med } : {}) };
}

/** Landmarks and replay cues of one frame; null when no hand is found. */
export async function frameEvidence(
  img: RasterImage,
  models: HandModels,
): Promise<{ landmarks: LandmarkFrame; cues: ReplayCues } | null> {
  const pass = await detectHand(img, models);
  if (!pass || pass.presence < PAD.minPresence) return null;
  return { landmarks: { points: pass.points, depth: pass.depth }, cues: replayCues(img, pass.points) };
}

/** Liveness of one sign-in's frames (capture order), see the module comment. */
export async function checkLiveness(frames: RasterImage[], opts: LivenessOptions = {}): Promise<LivenessResult> {
  const given = frames.slice(0, PAD.maxFrames);
  const base = { frames: frames.length, framesWithHand: 0 };
  if (given.length < PAD.minFrames) return { ...base, verdict: 'not_checked', reasons: ['single_frame'] };
  const models = opts.models === undefined ? await getHandModels() : opts.models;
  if (!models) return { ...base, verdict: 'not_checked', reasons: ['models_unavailable'] };
  const evidence = [];
  for (const img of given) {
    const e = await frameEvidence(img, models);
    if (e) evidence.push(e);
  }
  const track = measureTrack(
    evidence.map((e) => e.landmarks),
    opts.challenge,
  );
  return {
    ...judge(
      track,
      evidence.map((e) => e.cues),
    ),
    frames: frames.length,
    framesWithHand: evidence.length,
  };
}
