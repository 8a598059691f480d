// Palm enrolment with the live camera, for the enrolment station and self-enrolment alike: the
// shared capture component (palm-capture.js) follows the hand and captures the sharpest good frame
// by itself; this page collects `data-frames` such frames of each chosen hand (right, left or
// both), sends them in one request per hand to `data-endpoint` (src/http/palmEnrolment.ts) and
// says what came of it. Frames live in memory only: each JPEG is read into base64 for the request
// (its bytes zeroed) and dropped once sent. Where the tracker cannot start, the person takes each
// picture with the button.
import { message } from './messages.js';
import * as capture from './palm-capture.js';

const root = document.getElementById('enrol');
const startButton = document.getElementById('enrol-start');
const cameraBox = document.getElementById('enrol-camera');
const video = document.getElementById('enrol-video');
const overlay = document.getElementById('enrol-overlay');
const progress = document.getElementById('enrol-progress');
const feedback = document.getElementById('enrol-feedback');
const results = document.getElementById('enrol-results');
const snapButton = document.getElementById('enrol-snap');
const stopButton = document.getElementById('enrol-stop');
const nextLink = document.getElementById('enrol-next');
const choice = document.getElementById('hand-choice');

const FRAMES = Number(root.dataset.frames) || 3;
const TRIES = 3; // tries per hand when the server asks for better pictures
const BETWEEN_FRAMES_MS = 250; // frames of one hand a moment apart, not the same instant
const maxBytes = Number(root.dataset.maxBytes) || 65536;
// One request per hand within the server's body limit: base64 adds a third, the field names little.
const frameLimits = { maxBytes: Math.floor(((maxBytes - 512) * 3) / 4 / FRAMES), maxWidth: 640 };

let camera;
let tracker;
// The tracker starts loading with the page (it takes seconds on a slow device) while the hand is chosen.
const trackerLoading = capture.cameraAvailable() ? capture.loadHandTracker() : undefined;
trackerLoading?.catch(() => undefined);
let live;
let manualFrame; // resolves the next frame taken with the button (no tracker)
let running = false;

function say(text, tone) {
  feedback.textContent = text;
  feedback.className = `status${tone ? ` ${tone}` : ''}`;
  if (tone) root.dataset.state = tone;
}

const handName = (hand) => message(`palm.handName.${hand}`);

function stopCamera() {
  running = false;
  capture.stopCapture(live, camera);
  live = undefined;
  camera = undefined;
  cameraBox.hidden = true;
  snapButton.hidden = true;
}

/** FRAMES good frames of the hand in view: from the tracker, or one per press of the button. */
function collectFrames(hand) {
  const frames = [];
  const count = () => {
    progress.textContent = message('palm.progress', { hand: handName(hand), count: frames.length, total: FRAMES });
    root.dataset.captured = String(frames.length);
  };
  count();
  return new Promise((resolve, reject) => {
    const keep = async (source) => {
      frames.push(await capture.grabFrame(source, frameLimits));
      count();
      return frames.length >= FRAMES;
    };
    if (!tracker) {
      const next = () => {
        manualFrame = async () => {
          try {
            if (await keep(video)) resolve(frames);
            else next();
          } catch (err) {
            reject(err);
          }
        };
      };
      next();
      return;
    }
    live = capture.startLiveCapture({
      video,
      overlay,
      tracker,
      onGuidance: capture.showGuidance(root, say),
      async onCapture(canvas) {
        try {
          if (await keep(canvas)) {
            resolve(frames);
            return 'stop';
          }
        } catch (err) {
          reject(err);
          return 'stop';
        }
        await capture.pause(BETWEEN_FRAMES_MS);
        return 'continue';
      },
    });
  });
}

/** Sends one hand's frames; answers the server's verdict { status, body }. */
async function send(hand, frames, busy) {
  const encoded = await Promise.all(frames.map(capture.blobToBase64));
  const body = JSON.stringify({ hand, frames: encoded });
  encoded.fill('');
  for (;;) {
    const response = await fetch(root.dataset.endpoint, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const answer = await response.json().catch(() => ({}));
    const seconds = response.status === 503 ? busy.wait(response.headers.get('retry-after') || answer.retry_after) : 0;
    if (!seconds) return { status: response.status, body: answer };
    say(message('palm.busy', { seconds }));
    await capture.pause(seconds * 1000);
  }
}

function addResult(text, tone) {
  const item = document.createElement('li');
  item.textContent = text;
  if (tone) item.className = tone;
  results.appendChild(item);
}

/** One hand: up to TRIES rounds of frames; true when enrolled, false when refused for good. */
async function enrolHand(hand) {
  const busy = capture.busyRetries();
  for (let attempt = 1; running && attempt <= TRIES; attempt++) {
    root.dataset.hand = hand;
    say(message('palm.showHand', { hand: handName(hand) }));
    const frames = await collectFrames(hand);
    if (live) await live.stop();
    live = undefined;
    say(message('palm.checking'));
    const { status, body } = await send(hand, frames, busy);
    frames.length = 0;
    if (status === 200 && body.enrolled) {
      const done = message(body.enrolled.replaced ? 'palm.replaced' : 'palm.enrolled', { hand: handName(hand) });
      addResult(done, 'success');
      say(done, 'success');
      return true;
    }
    root.dataset.outcome = body.error || String(status);
    if (status === 422 && body.error === 'capture_rejected') {
      const which = message('palm.outcome.capture_rejected', { capture: body.capture ?? '' });
      const guidance = body.reason ? message(`capture:reject.${body.reason}`) : '';
      say(
        `${which} ${guidance && guidance !== `capture:reject.${body.reason}` ? guidance : body.error_description || ''}`.trim(),
      );
      await capture.pause(1500); // time to read the guidance before the next round
      continue;
    }
    const known = ['duplicate_enrolment', 'consent_required', 'invalid_request', 'too_many_attempts'];
    const text = message(`palm.outcome.${known.includes(body.error) ? body.error : 'failed'}`);
    addResult(text, 'error');
    say(text, 'error');
    return false;
  }
  say(message('palm.outcome.failed'), 'error');
  return false;
}

async function start() {
  const chosen = choice.querySelector('input[name="hand"]:checked')?.value || 'right';
  const hands = chosen === 'both' ? ['right', 'left'] : [chosen];
  running = true;
  startButton.hidden = true;
  choice.disabled = true;
  cameraBox.hidden = false;
  delete root.dataset.outcome;
  root.dataset.state = 'capturing';
  say(message('capture:guidance.starting'));
  const trackerReady = capture.trackerFor(tracker, trackerLoading);
  try {
    camera = await capture.openCamera(video);
  } catch (err) {
    say(capture.cameraProblem(err), 'error');
    stopCamera();
    startButton.hidden = false;
    choice.disabled = false;
    return;
  }
  try {
    tracker = await trackerReady;
    root.dataset.tracker = 'live';
    root.dataset.trackerInitMs = String(Math.round(tracker.initMs));
  } catch (err) {
    tracker = undefined;
    root.dataset.tracker = 'manual';
    root.dataset.trackerError = String(err?.message || err);
    snapButton.hidden = false;
    say(message('palm.manual'));
  }
  let enrolled = 0;
  try {
    for (const hand of hands) {
      if (!running) break;
      if (await enrolHand(hand)) enrolled++;
      else break;
    }
  } catch (err) {
    say(String(err?.message || err), 'error');
  }
  stopCamera();
  if (enrolled === hands.length) {
    say(message('palm.allDone'), 'success');
    root.dataset.state = 'done';
    nextLink.hidden = false;
    nextLink.querySelector('button').focus();
  } else {
    startButton.textContent = message('palm.again');
    startButton.hidden = false;
    choice.disabled = false;
    if (enrolled) nextLink.hidden = false;
  }
}

if (!capture.cameraAvailable()) {
  startButton.disabled = true;
  say(message('palm.noCamera'), 'error');
} else {
  startButton.addEventListener('click', () => {
    if (!running) void start();
  });
  snapButton.addEventListener('click', () => {
    if (live) live.capture();
    else if (manualFrame) {
      const take = manualFrame;
      manualFrame = undefined;
      void take();
    }
  });
  stopButton.addEventListener('click', () => stopCamera());
}
