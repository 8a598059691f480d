/**
 * Every number presentation attack detection decides on, in one place, each with why it has this
 * value. The decision thresholds (minPlanarResidual, minArticulation, replay cues) were set on the
 * calibration half of the COEP proxy sets (the first 19 people, `npm run bench:pad -- --split calibrate`) and
 * are checked on the other half; the figures are in the README's palm section, not here.
 */
export const PAD = {
  /** Frames a sequence may hold: the reader envelope carries at most 5; more only costs time. */
  maxFrames: 8,
  /** Frames with a hand needed to judge motion at all: one frame says nothing about liveness. */
  minFrames: 2,
  /** Landmark model presence under which a frame's landmarks are not trusted (MediaPipe keeps 0.5). */
  minPresence: 0.5,

  /**
   * Continuity: consecutive frames with a hand must show the same hand, so a still of someone
   * else (the identified frame) cannot be spliced in front of a live hand. Frames come about
   * 0.6 s apart (the page's and the readers' challenge timing); the bounds are generous so that a
   * real hand following the challenge quickly never trips them, and are not thresholds set on
   * data: they only catch a different hand appearing at another place or size.
   * Palm centre (wrist and knuckles) moved between consecutive frames, as a share of the larger
   * hand size (RMS landmark spread, about a third of the hand's length): 3 is about a whole hand
   * length, far more than a hand held in the outline moves in 0.6 s.
   */
  maxCentreJump: 3,
  /**
   * Hand size ratio between consecutive frames: 1.8 covers a hand brought nearer quickly plus
   * closing the fingers and tilting (each shrinks the landmark spread by a fifth at most).
   */
  maxScaleJump: 1.8,
  /**
   * Handedness score beyond which the model's side (right/left) is taken as sure (0.5 is a coin):
   * two consecutive frames sure of opposite sides are two hands. Unsure frames are not judged on it.
   */
  sureHandedness: 0.8,

  /**
   * Non-planar motion: RMS distance (share of the hand's size) left after the best homography maps
   * one frame's 21 landmarks onto another's. A flat photo or screen moved in any way, tilted
   * included, is one homography: what remains is landmark noise, which the landmark model makes
   * larger on a foreshortened (tilted) hand. A real hand bending or spreading its fingers, or
   * tilting its curved 3D shape, leaves more. Set just above the largest residual of the flat
   * artefacts (stills moved, tilted, on a screen, printed) of the calibration half.
   */
  minPlanarResidual: 0.06,
  /**
   * Articulation: change of the hand's joint angles (degrees, 3D from x, y and the model's depth),
   * the robust maximum over the 19 angles. Angles do not change when a photo is moved, scaled or
   * turned; they change when fingers flex or spread. Set above the largest change of stills moved
   * in the image plane (calibration half); a tilted still changes the model's angles more, which
   * the planar residual covers.
   */
  minArticulation: 3,
  /** Which of the sorted angle changes is the "robust maximum": the 3rd largest, so one jittery joint cannot pass. */
  articulationRank: 3,

  /**
   * Challenge 'spread' / 'close': the mean angle between adjacent fingers must change by this
   * much (degrees) in that direction.
   */
  minSpreadChange: 6,
  /**
   * Challenge 'tilt': the palm plane (wrist, index and little knuckles, with depth) must turn by
   * this much (degrees).
   */
  minTiltChange: 12,

  /**
   * Replay cues, on a window of the palm at native resolution (no resampling: a screen's pixel
   * grid and a print's halftone are fine periodic patterns that resampling would alias away).
   */
  spectrumWindow: 128,
  /** Lowest frequency (cycles per pixel) searched for peaks: below it lie palm lines and shading. */
  minPeakFrequency: 0.1,
  /**
   * A spectral peak: power at one frequency over the median power of its ring (same radius), as
   * log10. Skin texture falls off smoothly with frequency; a pixel grid, moiré or a halftone screen
   * puts sharp isolated peaks above it. Set between the bona fide frames and the screen and print
   * frames of the calibration half.
   */
  maxSpectralPeak: 2.5,
  /**
   * JPEG's 8x8 blocks put peaks at multiples of 1/8 cycle per pixel on the axes: those bins
   * (± this) are not searched.
   */
  jpegGridTolerance: 0.012,
  /**
   * Glare: share of the hand box at near-white (every channel at least glareLevel); a screen or
   * glossy print reflects lamps as one bright patch.
   */
  maxGlareShare: 0.06,
  glareLevel: 250,
} as const;

/** The challenges the page or reader may ask the hand to follow. */
export const CHALLENGES = ['spread', 'close', 'tilt'] as const;
export type Challenge = (typeof CHALLENGES)[number];
/**
 * What a page or reader asks after the ready frame: the ready hand is already open (fingers
 * spread), so 'spread' would ask for nothing new; 'close' (bring the fingers together) or 'tilt'
 * (turn the hand).
 */
export const CHALLENGES_FROM_OPEN_HAND = ['close', 'tilt'] as const satisfies readonly Challenge[];
