/** Types shared by the hand localisation stages and the ROI dispatcher. */

export interface Point {
  x: number;
  y: number;
}

/** The 21 hand landmarks of the landmark model (MediaPipe's order), in source pixels. */
export interface HandKeypoints {
  /** wrist 0; thumb 1-4; index 5-8; middle 9-12; ring 13-16; little 17-20 (MCP, PIP, DIP, tip) */
  points: Point[];
  /** 0..1: the model's confidence that a hand is in its crop */
  presence: number;
  /** 0..1: the model's score for a right hand (as the camera sees it, unmirrored) */
  handedness: number;
  /** which side of the hand faces the camera, when landmark geometry and handedness decide it */
  side: 'palm' | 'back' | 'unknown';
}

export interface HandLandmarks {
  /** palm centre (deepest point of the hand mask, or the landmark frame's centre) and its depth (px) */
  centre: Point;
  palmRadius: number;
  fingertips: Point[];
  valleys: Point[];
  /** the two valleys defining the frame (index/middle, ring/little) */
  frame: [Point, Point] | null;
  /** ROI square corners in source pixels (top-left, top-right, bottom-right, bottom-left) */
  square: [Point, Point, Point, Point];
  contour: Point[];
  /** the landmark path: the model's 21 points, and the frame it gives before any refinement */
  keypoints?: HandKeypoints;
  landmarkFrame?: [Point, Point];
  /** which frame cut the ROI: 'valleys' (contour only, without the hand models) or 'landmarks' */
  source?: 'valleys' | 'landmarks';
}
