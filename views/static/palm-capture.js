// The camera for palm capture, shared by every page that captures a palm (the browser palm login,
// the kiosk reader, enrolment screens): open it into a <video>, follow the hand live with
// MediaPipe Hands running in the page (its WASM build, served by palmid under
// /static/mediapipe/hands/), draw its outline over the preview, guide the person in words, and
// capture the sharpest frame by itself once the hand is open, flat, centred and steady. Where the
// tracker cannot start (no WebGL or WebAssembly, an old browser, blocked files) the pages fall back
// to capture on a button. The preview is mirrored by the stylesheet (people expect a mirror); the
// frames never are: a mirrored right palm would look like a left one. Frames live in memory only.
// Its words are the page's `capture` namespace (locales/<lang>/capture.json, through messages.js):
// a page that uses this module passes clientMessages(locale, <its namespace>, 'capture').
import { message } from './messages.js';

export function cameraAvailable() {
  return Boolean(navigator.mediaDevices?.getUserMedia);
}

/** Starts the camera; resolves once frames arrive. 4:3 at up to 960×720 keeps palm lines sharp. */
export async function openCamera(video) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: false,
    video: { facingMode: 'user', width: { ideal: 960 }, height: { ideal: 720 } },
  });
  video.srcObject = stream;
  video.muted = true;
  await video.play();
  if (!video.videoWidth)
    await new Promise((resolve) => video.addEventListener('loadedmetadata', resolve, { once: true }));
  return {
    stop() {
      for (const track of stream.getTracks()) track.stop();
      video.srcObject = null;
    },
  };
}

export const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A server busy with other sign-ins (503) read and counted nothing: ask again after its
 * Retry-After (at most maxWaitS), a few times in one sign-in. `wait` answers the seconds to wait,
 * or 0 once the retries are spent.
 */
export function busyRetries({ retries = 3, maxWaitS = 10 } = {}) {
  let left = retries;
  return {
    wait(retryAfter) {
      if (left <= 0) return 0;
      left--;
      return Math.min(Number(retryAfter) || 1, maxWaitS);
    },
  };
}

/** Why a camera could not be opened, in words a person can act on. */
export function cameraProblem(err) {
  const name = err?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return message('capture:camera.blocked');
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return message('capture:camera.notFound');
  if (name === 'NotReadableError') return message('capture:camera.busy');
  return message('capture:camera.failed');
}

/**
 * A frame (the <video>'s current picture, or a canvas holding one) as JPEG of at most maxBytes,
 * maxWidth wide, maxSide on its longer side and maxPixels in all: full size first, then lower
 * quality, then smaller (the engine normalises the palm's scale, so a smaller frame loses little).
 */
export async function grabFrame(source, { maxBytes, maxWidth = 960, maxSide = Infinity, maxPixels = Infinity }) {
  const width = source.videoWidth ?? source.width;
  const height = source.videoHeight ?? source.height;
  if (!width || !height) throw new Error(message('capture:camera.noPicture'));
  const widest = Math.floor(
    Math.min(width, maxWidth, (maxSide * width) / Math.max(width, height), Math.sqrt((maxPixels * width) / height)),
  );
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d');
  try {
    for (const scale of [1, 0.8, 0.64, 0.5]) {
      const w = Math.round(widest * scale);
      canvas.width = w;
      canvas.height = Math.round((height * w) / width);
      context.drawImage(source, 0, 0, canvas.width, canvas.height);
      for (const quality of [0.9, 0.8, 0.7, 0.6]) {
        const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
        if (blob && blob.size <= maxBytes) return blob;
      }
    }
  } finally {
    context.clearRect(0, 0, canvas.width, canvas.height);
    canvas.width = 0;
  }
  throw new Error(message('capture:camera.tooLarge'));
}

// ---- guidance from the hand's landmarks ---------------------------------------------------------
//
// MediaPipe's 21 landmarks: 0 wrist; thumb 1-4; index 5-8, middle 9-12, ring 13-16, little 17-20
// (knuckle, two joints, tip). Coordinates are fractions of the frame (z: depth, on x's scale).

/** What the guidance asks of a hand before it is captured; one place for every tunable. */
export const HAND_GUIDE = Object.freeze({
  /** The hand's larger extent, as a fraction of the frame's side: smaller is too far. */
  minSpan: 0.35,
  /** Larger is too close (the engine needs the whole palm and the finger gaps in view). */
  maxSpan: 0.92,
  /** Landmarks this close to the frame's border (fraction) count as cut off. */
  margin: 0.02,
  /** The palm's centre may be this far (fraction of the frame) from the frame's centre. */
  offCentre: 0.25,
  /** An extended finger's tip is at least this many times as far from the wrist as its knuckle
   * (a curled finger's tip comes back towards the palm). */
  extended: 1.5,
  /** Fingertips (index to little) at least this many times as wide as their knuckles: spread. */
  spread: 1.1,
  /** The palm's plane may turn this far (degrees) from facing the camera. */
  maxTiltDeg: 35,
  /** Palm landmarks may move this many palm lengths per second and still count as steady. */
  maxMotion: 0.35,
  /** Mean brightness (0-255) of the palm below which the picture is too dark. */
  minBrightness: 50,
  /** Handedness below this confidence is not used to tell the palm from the back of the hand. */
  minHandedness: 0.7,
  /** Ready frames in a row, and for at least this long, before the best of them is captured. */
  steadyFrames: 3,
  steadyMs: 600,
});

/** Read-only words by name, each looked up in the page's language when read (`prefix.name`). */
function localised(prefix, names) {
  const words = {};
  for (const name of names)
    Object.defineProperty(words, name, { enumerable: true, get: () => message(`${prefix}.${name}`) });
  return Object.freeze(words);
}

/** The guidance for each state, in words; `ready` is the only one that leads to a capture. */
export const GUIDANCE = localised('capture:guidance', [
  'starting',
  'no_hand',
  'back_of_hand',
  'too_far',
  'too_close',
  'off_centre',
  'too_dark',
  'fingers_closed',
  'tilted',
  'moving',
  'ready',
  'captured',
]);

const PALM = [0, 5, 9, 13, 17];
const FINGERS = [
  [5, 8],
  [9, 12],
  [13, 16],
  [17, 20],
];
/** The hand's bones, for the outline (pairs of landmarks). */
export const HAND_CONNECTIONS = [
  [0, 1],
  [1, 2],
  [2, 3],
  [3, 4],
  [0, 5],
  [5, 6],
  [6, 7],
  [7, 8],
  [5, 9],
  [9, 10],
  [10, 11],
  [11, 12],
  [9, 13],
  [13, 14],
  [14, 15],
  [15, 16],
  [13, 17],
  [0, 17],
  [17, 18],
  [18, 19],
  [19, 20],
];

const dist = (a, b) => Math.hypot(a.x - b.x, a.y - b.y);

/**
 * How a hand stands in a frame, and what to ask of the person. `hand`: { landmarks (21 points,
 * fractions of the frame), world (the same in metres, optional), label ('Left'|'Right', as
 * MediaPipe names it), score }, or nothing when no hand is seen. `frame`: { width, height,
 * brightness (0-255 over the palm, optional), time (ms) }. `previous`: the last answer (for
 * motion). Answers { state, message, box, centre, palmLength, points, time }.
 */
export function assessHand(hand, frame, previous, guide = HAND_GUIDE) {
  const answer = (state, extra = {}) => ({ state, message: GUIDANCE[state], time: frame.time, ...extra });
  if (!hand?.landmarks || hand.landmarks.length < 21) return answer('no_hand');
  // Pixels, so that distances mean the same along both axes; z is on x's scale.
  const points = hand.landmarks.map((p) => ({
    x: p.x * frame.width,
    y: p.y * frame.height,
    z: (p.z ?? 0) * frame.width,
  }));
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const box = {
    x: Math.min(...xs) / frame.width,
    y: Math.min(...ys) / frame.height,
    w: (Math.max(...xs) - Math.min(...xs)) / frame.width,
    h: (Math.max(...ys) - Math.min(...ys)) / frame.height,
  };
  const centre = {
    x: PALM.reduce((s, i) => s + points[i].x, 0) / PALM.length,
    y: PALM.reduce((s, i) => s + points[i].y, 0) / PALM.length,
  };
  const palmLength = dist(points[0], points[9]) || 1;
  const base = { box, centre, palmLength, points };

  // Which side faces the camera: the turn from the index knuckle to the little finger's, seen
  // from the wrist, is one way for a right palm and the other for a left palm (and reversed for
  // the backs). MediaPipe names hands as if the picture were mirrored; frames here are not, so
  // its "Left" is a right hand. A right palm unmirrored turns counter-clockwise on screen
  // (negative cross product with y pointing down).
  const a = { x: points[5].x - points[0].x, y: points[5].y - points[0].y };
  const b = { x: points[17].x - points[0].x, y: points[17].y - points[0].y };
  const turn = a.x * b.y - a.y * b.x;
  if (hand.label && (hand.score ?? 1) >= guide.minHandedness) {
    const rightHand = hand.label === 'Left';
    if (rightHand !== turn < 0) return answer('back_of_hand', base);
  }

  const span = Math.max(box.w, box.h);
  const cut = hand.landmarks.some(
    (p) => p.x < guide.margin || p.y < guide.margin || p.x > 1 - guide.margin || p.y > 1 - guide.margin,
  );
  if (span > guide.maxSpan || (cut && span > 0.6)) return answer('too_close', base);
  if (span < guide.minSpan) return answer('too_far', base);
  if (
    cut ||
    Math.abs(centre.x / frame.width - 0.5) > guide.offCentre ||
    Math.abs(centre.y / frame.height - 0.5) > guide.offCentre
  )
    return answer('off_centre', base);
  if (frame.brightness !== undefined && frame.brightness < guide.minBrightness) return answer('too_dark', base);

  const extended = FINGERS.every(([knuckle, tip]) => {
    const reach = dist(points[0], points[tip]) / (dist(points[0], points[knuckle]) || 1);
    return reach >= guide.extended;
  });
  // Spread: how wide the fingertips are across the palm's axis (wrist to middle knuckle), as a
  // ratio to the knuckles' width (fingers of different lengths do not count as spread).
  const axis = { x: (points[9].x - points[0].x) / palmLength, y: (points[9].y - points[0].y) / palmLength };
  const across = (i) => points[i].x * -axis.y + points[i].y * axis.x;
  const tipWidth = Math.abs(across(8) - across(20));
  const knuckleWidth = Math.abs(across(5) - across(17)) || 1;
  if (!extended || tipWidth < guide.spread * knuckleWidth) return answer('fingers_closed', base);

  // The palm's plane (wrist, index and little knuckles), in metres where MediaPipe gives them.
  const w = hand.world?.length >= 21 ? hand.world : points;
  const u = { x: w[5].x - w[0].x, y: w[5].y - w[0].y, z: w[5].z - w[0].z };
  const v = { x: w[17].x - w[0].x, y: w[17].y - w[0].y, z: w[17].z - w[0].z };
  const n = { x: u.y * v.z - u.z * v.y, y: u.z * v.x - u.x * v.z, z: u.x * v.y - u.y * v.x };
  const tiltDeg = (Math.acos(Math.min(1, Math.abs(n.z) / (Math.hypot(n.x, n.y, n.z) || 1))) * 180) / Math.PI;
  if (tiltDeg > guide.maxTiltDeg) return answer('tilted', { ...base, tiltDeg });

  if (previous?.points && frame.time > previous.time) {
    const moved = PALM.reduce((s, i) => s + dist(points[i], previous.points[i]), 0) / PALM.length;
    const perSecond = moved / palmLength / ((frame.time - previous.time) / 1000);
    if (perSecond > guide.maxMotion) return answer('moving', { ...base, tiltDeg, motion: perSecond });
  }
  return answer('ready', { ...base, tiltDeg });
}

/**
 * Brightness and sharpness of the palm in a frame: mean luma (0-255) and the variance of a
 * Laplacian over the palm's box, on a small grey copy (the same scale whatever the camera).
 */
export function palmPicture(source, box, scratch) {
  const side = 96;
  const sw = source.width;
  const sh = source.height;
  const x = Math.max(0, box.x * sw);
  const y = Math.max(0, box.y * sh);
  const w = Math.max(1, Math.min(sw - x, box.w * sw));
  const h = Math.max(1, Math.min(sh - y, box.h * sh));
  scratch.width = side;
  scratch.height = side;
  const context = scratch.getContext('2d', { willReadFrequently: true });
  context.drawImage(source, x, y, w, h, 0, 0, side, side);
  const { data } = context.getImageData(0, 0, side, side);
  const grey = new Float32Array(side * side);
  let sum = 0;
  for (let i = 0; i < grey.length; i++) {
    grey[i] = 0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2];
    sum += grey[i];
  }
  data.fill(0);
  context.clearRect(0, 0, side, side);
  let m = 0;
  let m2 = 0;
  let count = 0;
  for (let r = 1; r < side - 1; r++) {
    for (let c = 1; c < side - 1; c++) {
      const i = r * side + c;
      const lap = grey[i - 1] + grey[i + 1] + grey[i - side] + grey[i + side] - 4 * grey[i];
      m += lap;
      m2 += lap * lap;
      count++;
    }
  }
  grey.fill(0);
  return { brightness: sum / (side * side), sharpness: m2 / count - (m / count) ** 2 };
}

// ---- the hand tracker (MediaPipe Hands, in the page) --------------------------------------------

const MEDIAPIPE = '/static/mediapipe/hands/';
/** At most one tracked frame per this many ms (30 frames/s). */
const FRAME_MS = 33;
/** A pass reads the same camera frame again only after this long without a new one. */
const STALE_FRAME_MS = 500;
/** A camera that shows no picture for this long during the challenge has stopped. */
const CAMERA_STALL_MS = 10_000;

function loadScript(src) {
  const existing = document.querySelector(`script[src="${src}"]`);
  if (existing && window.Hands) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error(`${src} could not be loaded`));
    document.head.appendChild(script);
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Why the tracker cannot run in this browser, or '' when it may. */
function trackerUnsupported() {
  if (typeof WebAssembly !== 'object') return 'no WebAssembly';
  const probe = document.createElement('canvas');
  // MediaPipe's web build runs its graph on WebGL (it would alert() without it).
  const gl = probe.getContext('webgl2') || probe.getContext('webgl');
  if (!gl) return 'no WebGL';
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return '';
}

/**
 * MediaPipe Hands, loaded and warmed up on a first frame: { detect(canvas) → hand or undefined,
 * close() }. Rejects (with a reason) where it cannot run here: the pages then capture on a button.
 */
export async function loadHandTracker({ timeoutMs = 60_000 } = {}) {
  const unsupported = trackerUnsupported();
  if (unsupported) throw new Error(unsupported);
  const started = performance.now();
  await loadScript(`${MEDIAPIPE}hands.js`);
  if (typeof window.Hands !== 'function') throw new Error('the hand tracker did not load');
  const hands = new window.Hands({ locateFile: (file) => `${MEDIAPIPE}${file}` });
  // The lite landmark model: guidance needs the hand's pose, not the lines of the palm (the
  // server measures those on the frame itself).
  hands.setOptions({ maxNumHands: 1, modelComplexity: 0, minDetectionConfidence: 0.6, minTrackingConfidence: 0.5 });
  let latest;
  hands.onResults((results) => {
    latest = results;
  });
  await withTimeout(hands.initialize(), timeoutMs, 'Starting the hand tracker');
  const tracker = {
    /** Model load and first frame, in ms (the page exposes it for measurement). */
    initMs: 0,
    async detect(canvas) {
      latest = undefined;
      await hands.send({ image: canvas });
      const landmarks = latest?.multiHandLandmarks?.[0];
      if (!landmarks) return undefined;
      const handedness = latest.multiHandedness?.[0];
      return {
        landmarks,
        world: latest.multiHandWorldLandmarks?.[0],
        label: handedness?.label,
        score: handedness?.score,
      };
    },
    close() {
      return hands.close().catch(() => undefined);
    },
  };
  // The first frame compiles the graph's shaders: part of starting, not of tracking.
  const warm = document.createElement('canvas');
  warm.width = 64;
  warm.height = 48;
  warm.getContext('2d').fillRect(0, 0, 64, 48);
  await withTimeout(tracker.detect(warm), timeoutMs, 'Starting the hand tracker');
  warm.width = 0;
  tracker.initMs = performance.now() - started;
  return tracker;
}

/**
 * The tracker for a capture: the page's own once loaded, else `loading` (a load the page started
 * earlier) or a new load. The page awaits it after opening the camera: a failure meanwhile is
 * not an unhandled rejection.
 */
export function trackerFor(tracker, loading) {
  const ready = tracker ? Promise.resolve(tracker) : (loading ?? loadHandTracker());
  ready.catch(() => undefined);
  return ready;
}

/** The hand's outline over the (mirrored) preview: the palm as a filled shape, the fingers as lines. */
export function drawHand(overlay, assessment, video) {
  const context = overlay.getContext('2d');
  const width = video.videoWidth || overlay.width;
  const height = video.videoHeight || overlay.height;
  if (overlay.width !== width || overlay.height !== height) {
    overlay.width = width;
    overlay.height = height;
  }
  context.clearRect(0, 0, width, height);
  const points = assessment?.points;
  if (!points) return;
  const colour = assessment.state === 'ready' || assessment.state === 'captured' ? '#33d17a' : '#ffbe3c';
  context.lineWidth = Math.max(3, width / 160);
  context.lineJoin = 'round';
  context.lineCap = 'round';
  context.strokeStyle = colour;
  context.fillStyle = `${colour}33`;
  context.beginPath();
  for (const [i, index] of [0, 1, 5, 9, 13, 17].entries()) {
    if (i === 0) context.moveTo(points[index].x, points[index].y);
    else context.lineTo(points[index].x, points[index].y);
  }
  context.closePath();
  context.fill();
  context.beginPath();
  for (const [from, to] of HAND_CONNECTIONS) {
    context.moveTo(points[from].x, points[from].y);
    context.lineTo(points[to].x, points[to].y);
  }
  context.stroke();
}

/**
 * The camera's current picture drawn into `canvas` and read by the tracker: { hand, time }, hand
 * undefined when the tracker found none or failed on this frame (the next one is tried).
 */
async function trackVideo(video, canvas, tracker) {
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  const time = performance.now();
  try {
    return { hand: await tracker.detect(canvas), time };
  } catch {
    return { hand: undefined, time };
  }
}

/**
 * Follows the hand in the video and captures by itself. Each frame is copied into a canvas, the
 * tracker reads that copy (so the landmarks belong to the picture that may be sent), and the
 * guidance is given; once `steadyFrames` ready frames in a row have lasted `steadyMs`, the
 * sharpest of them goes to `onCapture(canvas)`, which sends it and answers whether to keep
 * scanning ('continue'), to wait for the hand to leave first ('next', the kiosk between people)
 * or to stop ('stop'). `onGuidance(assessment)` hears each change of state (the page puts it in
 * its aria-live region); `capture()` takes the current frame at once (the fallback button).
 * `waitForLeave`: start by waiting for the hand in view to leave. Answers { stop(), capture(),
 * next(), frames(), fps() }.
 */
export function startLiveCapture({
  video,
  overlay,
  tracker,
  onGuidance,
  onCapture,
  waitForLeave: startWaiting = false,
  guide = HAND_GUIDE,
}) {
  let running = true;
  let previous;
  let said;
  let pending; // a state seen once: said only when the next frame agrees (no flicker)
  let steady = [];
  let best; // { canvas, sharpness } among the steady frames
  let waitForLeave = startWaiting;
  let forced = false;
  const frames = [];
  let framesSeen = 0;
  const work = document.createElement('canvas');
  const keep = document.createElement('canvas');
  const scratch = document.createElement('canvas');
  // Motion is judged between camera frames, not between passes: a loop faster than the camera
  // (a dim room slows it to 15 frames/s) would read the same frame twice as "no motion". Where the
  // browser says when a new frame is shown, a pass waits for one (up to STALE_FRAME_MS, so a
  // browser that never says cannot stall the capture).
  let shown = 0;
  let lastShown = -1;
  let lastNewFrame = performance.now();
  const framesKnown = typeof video.requestVideoFrameCallback === 'function';
  if (framesKnown) {
    const onFrame = (_now, meta) => {
      shown = meta.presentedFrames;
      if (running) video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  function tell(assessment, immediately = false) {
    if (assessment.state === said) return;
    if (!immediately && assessment.state !== pending) {
      pending = assessment.state;
      return;
    }
    said = assessment.state;
    pending = undefined;
    onGuidance(assessment);
  }

  async function deliver(canvas) {
    tell({ state: 'captured', message: GUIDANCE.captured }, true);
    const next = await onCapture(canvas);
    steady = [];
    best = undefined;
    previous = undefined;
    said = undefined;
    if (next === 'stop') running = false;
    if (next === 'next') waitForLeave = true;
  }

  async function loop() {
    let last = 0;
    while (running) {
      // The tracker works on the page's thread and its promises settle without giving the page a
      // turn: wait on a timer each frame (so clicks, network answers and drawing get through),
      // and no more often than FRAME_MS (a camera's frame rate; no need to warm the device more).
      await pause(Math.max(0, FRAME_MS - (performance.now() - last)));
      last = performance.now();
      if (!running) break;
      if (video.readyState < 2 || !video.videoWidth) {
        await pause(100);
        continue;
      }
      if (framesKnown && shown === lastShown && last - lastNewFrame < STALE_FRAME_MS) continue;
      if (shown !== lastShown) lastNewFrame = last;
      lastShown = shown;
      const { hand, time } = await trackVideo(video, work, tracker);
      if (!running) break;
      framesSeen++;
      frames.push(time);
      if (frames.length > 30) frames.shift();
      if (forced) {
        forced = false;
        await deliver(work);
        continue;
      }
      let picture;
      let assessment = assessHand(hand, { width: work.width, height: work.height, time }, previous, guide);
      if (assessment.box) {
        picture = palmPicture(work, assessment.box, scratch);
        assessment = assessHand(
          hand,
          { width: work.width, height: work.height, time, brightness: picture.brightness },
          previous,
          guide,
        );
      }
      previous = assessment.points ? assessment : undefined;
      drawHand(overlay, assessment, video);
      if (waitForLeave) {
        // The kiosk after an answer: the same hand is not scanned twice; the next person is.
        if (assessment.state === 'no_hand') {
          waitForLeave = false;
          tell(assessment, true);
        }
        continue;
      }
      tell(assessment, assessment.state === 'ready');
      if (assessment.state !== 'ready') {
        steady = [];
        best = undefined;
        continue;
      }
      steady.push(time);
      if (!best || picture.sharpness > best.sharpness) {
        keep.width = work.width;
        keep.height = work.height;
        keep.getContext('2d').drawImage(work, 0, 0);
        best = { canvas: keep, sharpness: picture.sharpness };
      }
      if (steady.length >= guide.steadyFrames && time - steady[0] >= guide.steadyMs) {
        drawHand(overlay, { ...assessment, state: 'captured' }, video);
        await deliver(best.canvas);
      }
    }
    for (const canvas of [work, keep, scratch]) canvas.width = 0;
    overlay.getContext('2d').clearRect(0, 0, overlay.width, overlay.height);
  }

  const done = loop();
  return {
    stop() {
      running = false;
      return done;
    },
    /** The button: send the next frame whatever the guidance says. */
    capture() {
      forced = true;
      waitForLeave = false;
    },
    /** Someone was just answered another way (the button): wait for the hand to leave. */
    next() {
      waitForLeave = true;
      steady = [];
      best = undefined;
    },
    /** Frames the tracker has read so far. */
    frames: () => framesSeen,
    /** Frames tracked per second over the last (up to) 30. */
    fps() {
      return frames.length > 1 ? ((frames.length - 1) * 1000) / (frames.at(-1) - frames[0]) : 0;
    },
  };
}

/**
 * An `onGuidance` for startLiveCapture and followChallenge: the state in `element.dataset.guidance`
 * (tests read it), the words through the page's `say`.
 */
export function showGuidance(element, say) {
  return (assessment) => {
    element.dataset.guidance = assessment.state;
    say(assessment.message);
  };
}

/** Stops a page's live capture (without waiting for it) and its camera, either of which may be absent. */
export function stopCapture(live, camera) {
  if (live) void live.stop();
  if (camera) camera.stop();
}

// ---- the liveness challenge (presentation attack detection) --------------------------------------
//
// After the ready frame, the person is asked to make one movement the server picked at random
// ('close': bring the fingers together; 'tilt': turn the hand). A few frames taken while the hand
// moves go with the ready frame; the server judges the whole sequence (src/palm/pad). A photo or a
// screen held up to the camera cannot bend its fingers, and a recording cannot know the movement.

/** What the person is asked to do, per challenge. */
export const CHALLENGE_PROMPTS = localised('capture:challenge', ['close', 'tilt']);

/**
 * Says the challenge, keeps following the hand (the outline stays drawn) and takes `frames`
 * frames spaced evenly over `durationMs`, the first one interval after the prompt (the person
 * needs a moment to react). Each frame is JPEG within `jpeg` (grabFrame's limits), taken from the
 * picture the tracker read. Answers the challenge frames only: the caller grabs the ready frame
 * itself before (the canvas startLiveCapture hands over is reused). Call it inside
 * startLiveCapture's onCapture: the live loop waits meanwhile, so the tracker is free.
 * `onGuidance` hears { state: 'challenge', challenge, message } once.
 */
export async function followChallenge({
  video,
  overlay,
  tracker,
  challenge,
  onGuidance,
  frames = 3,
  durationMs = 1800,
  jpeg,
  guide = HAND_GUIDE,
}) {
  const message = CHALLENGE_PROMPTS[challenge];
  if (!message) throw new Error(`unknown challenge ${challenge}`);
  onGuidance({ state: 'challenge', challenge, message });
  const work = document.createElement('canvas');
  const taken = [];
  const start = performance.now();
  const interval = durationMs / frames;
  let previous;
  let lastPicture = start;
  try {
    while (taken.length < frames) {
      await pause(FRAME_MS);
      // The camera was stopped (the person's button, or the page gave up), or has shown no picture
      // for CAMERA_STALL_MS: no frames will come. No limit on the whole: on a slow device the tracker
      // takes long per frame, and the frames still come.
      if (!video.srcObject) throw new Error(message('capture:camera.stopped'));
      if (video.readyState < 2 || !video.videoWidth) {
        if (performance.now() - lastPicture > CAMERA_STALL_MS) throw new Error(message('capture:camera.stopped'));
        continue;
      }
      lastPicture = performance.now();
      const { hand, time } = await trackVideo(video, work, tracker);
      const assessment = assessHand(hand, { width: work.width, height: work.height, time }, previous, guide);
      previous = assessment.points ? assessment : undefined;
      // The hand is expected to change now: the outline follows it in the "act" colour.
      drawHand(overlay, { ...assessment, state: 'challenge' }, video);
      if (time - start >= interval * (taken.length + 1)) taken.push(await grabFrame(work, jpeg));
    }
  } finally {
    work.width = 0;
    overlay.getContext('2d').clearRect(0, 0, overlay.width, overlay.height);
  }
  return taken;
}

/** A Blob's bytes as plain base64 (no data: prefix), for a JSON body. */
export async function blobToBase64(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  bytes.fill(0);
  return btoa(binary);
}
