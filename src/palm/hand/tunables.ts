/**
 * Every threshold and size that whole-hand localisation uses, in one place, each with the reason
 * it has. Lengths in "palm radii" are multiples of the depth of the palm's deepest point in the
 * hand mask (the radius of the largest disc that fits in the palm); they make the rules
 * independent of the image's resolution and of how far the hand is from the camera.
 */

/** Foreground segmentation (segmentation.ts) and the kind decision (roi.ts). */
export const SEGMENTATION = {
  /** long side of the working grid: enough for a finger to be several cells wide, cheap to label */
  workSide: 240,
  /** coarser grid for the hand-or-crop decision, which only needs the foreground's share */
  kindWorkSide: 120,
  /** opening radius = the grid's short side / this: removes specks and thin threads (pegs' edges) */
  openingDivisor: 100,
  /** a hand covers at least this share of the image, or it is too far/too small to read */
  minForeground: 0.03,
  /** a hand photo leaves some background: above this, it is all foreground (a palm crop) */
  maxForeground: 0.92,
  /** the hand-or-crop decision: under this share of foreground, a whole hand */
  kindMaxForeground: 0.85,
  /** mean foreground score minus mean background score (0..255): under this nothing stands out */
  minSeparation: 25,
  /** images no larger than this (px, long side) are read as palm crops: too small for a whole hand */
  maxCropSide: 200,
} as const;

/** Palm centre, contour, fingertips and finger valleys (valleys.ts). */
export const VALLEYS = {
  /** a palm is at least this deep (grid cells) in the mask, else the bright region is a finger, a cable… */
  minPalmRadius: 8,
  /** a hand's contour has at least this many points on the working grid */
  minContour: 50,
  /** contour points this close to the grid's edge (cells) are where the image cuts the arm or fingers */
  borderMargin: 1,
  /** the distance profile is smoothed over ±(contour length / this) points: a finger's width stays sharp */
  smoothDivisor: 200,
  minSmooth: 2,
  /** a fingertip is at least this far from the palm centre (palm radii): fingers are longer than the palm is deep */
  tipMinDistance: 1.7,
  /** a fingertip is the farthest point over ±(contour length / this) points: about one finger apart */
  tipWindowDivisor: 40,
  minTipWindow: 5,
  /** walking this many palm radii along the contour on both sides of a tip ends this close (palm radii) for a finger */
  tipReach: 1,
  minTipReach: 3,
  tipMaxWidth: 0.9,
  /** a valley dips at least this much (palm radii) below both of its fingertips */
  valleyMinDip: 0.45,
  /** …but stays this far (palm radii) from the centre: deeper is the gap between thumb and wrist */
  valleyMinDistance: 0.6,
  /** two neighbouring fingertips are less than (contour length / this) apart (else the chain runs round the wrist) */
  linkMaxDivisor: 3,
  /** confidence of the valley frame: five fingers seen, four seen (thumb hidden), none usable */
  confidenceFive: 1,
  confidenceFour: 0.6,
  confidenceNone: 0.3,
} as const;

/** The ROI square (frame.ts). */
export const FRAME = {
  /** square centre below the index/middle–ring/little valley line, in valley distances: the middle of the palm */
  valleyDepth: 0.85,
  /** square side in valley distances: the palm between the valley line and the wrist crease */
  valleySide: 1.2,
  /** plausible valley distance / palm radius; outside, the valleys are doubtful (confidence halved) */
  minValleyToRadius: 0.5,
  maxValleyToRadius: 2.2,
  /** share of the square on the hand under which the square is off the palm */
  minCover: 0.5,
  /** confidence ramps from 0 at minCover to 1 at minCover + this */
  coverRamp: 0.45,
  /** coverage is sampled on a grid of this many points per side */
  coverGrid: 16,
  /** fallback (fingers together): the hand's axis from its mask within this many palm radii */
  axisRadius: 2.5,
  /** the fingers lie within this cone (degrees) of the axis */
  fingerConeDeg: 35,
  /** the finger block: hand pixels this many palm radii from the centre */
  fingerBlockNear: 1.6,
  fingerBlockFar: 3.5,
  fingerBlockIterations: 2,
  /** fewer finger-block cells than this: keep the previous direction */
  fingerBlockMinCells: 10,
  /** fallback square side, in palm radii */
  fallbackSide: 1.3,
  /** pixels of margin around the square when it is cut (bilinear reads one pixel beyond) */
  cropMarginBefore: 2,
  cropMarginAfter: 3,
  /** a square whose box in the image is narrower than this (px) is outside the image */
  minCropSide: 4,
} as const;

/**
 * The landmark path (detector.ts, landmark-frame.ts): hand landmark model and the ROI frame from
 * the knuckles and the wrist.
 */
export const LANDMARKS = {
  /** palm detector: keep boxes whose score (sigmoid) is at least this */
  minDetectionScore: 0.5,
  /** non-maximum suppression overlap (IoU) above which two boxes are the same palm */
  nmsIou: 0.3,
  /** the landmark model's hand presence (sigmoid) under which there is no hand */
  minPresence: 0.5,
  /**
   * the hand crop around a detected palm: the palm box is scaled by this (MediaPipe's documented
   * palm-to-hand rect transformation) and shifted along the palm's axis by this many box sides
   */
  handRectScale: 2.6,
  handRectShift: -0.5,
  /** a second pass on a crop made from the first pass's landmarks: scale of the hand's box */
  refineRectScale: 2.0,
  refineRectShift: -0.1,
  /**
   * The landmark frame imitates the valley frame so that crops from either path fall on the same
   * palm area: the index/middle and ring/little "valleys" are the midpoints of their knuckles
   * (MCP) moved towards the fingers by this share of the knuckle line (index to little MCP): the
   * finger webs lie beyond the knuckle joints, about a sixth of the knuckle span.
   */
  valleyFromKnuckles: 0.16,
  /**
   * agreement of two frames (framesAgree: diagnostics and tests; the ROI no longer mixes frames):
   * centre distance and side difference (shares of the side), angle (degrees)
   */
  agreeCentre: 0.12,
  agreeSide: 0.15,
  agreeAngleDeg: 10,
  /**
   * a finger joint beyond the knuckles this far inside the ROI square (share of its side) lies over
   * the palm: a curled finger, not landmark jitter at the square's edge
   */
  fingerMargin: 0.1,
  /** share of the landmark square inside the image under which the palm is partly out of view */
  minInside: 0.85,
  /**
   * back of the hand: with the handedness known, the thumb lies on one side of the wrist→middle
   * knuckle axis when the palm faces the camera and on the other for the back; the cross product
   * must be at least this share of |axis|·|thumb| to decide (otherwise the hand is edge-on)
   */
  minSideCross: 0.2,
  /** the handedness score must be at least this far from 0.5 to be used */
  minHandednessMargin: 0.3,
} as const;
