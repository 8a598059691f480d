// "Sign in with your palm" on the login page: the camera opens, the hand tracker guides the person
// and captures by itself once the hand is ready (the button "Take the picture now" stays as a
// fallback); each frame goes to the provider, which answers with guidance, a refusal, or where the
// sign-in continues. Where the tracker cannot start, a few frames are taken as before, on the
// button that opened the camera.
import {
  busyRetries,
  cameraAvailable,
  cameraProblem,
  grabFrame,
  loadHandTracker,
  openCamera,
  pause,
  startLiveCapture,
} from './palm-capture.js';

const FRAMES = 5; // frames sent per try, usable or not
const BETWEEN_FRAMES_MS = 400;
const SETTLE_MS = 800; // let exposure and focus settle before the first frame

const button = document.getElementById('palm');
const view = document.getElementById('palm-capture');
const video = document.getElementById('palm-video');
const overlay = document.getElementById('palm-overlay');
const feedback = document.getElementById('palm-feedback');
const snapButton = document.getElementById('palm-snap');
const stopButton = document.getElementById('palm-stop');
const maxBytes = Number(button.dataset.maxBytes) || 65536;
let camera;
let live;
let running = false;
let tracker; // loaded once per page, kept between tries

function say(message, tone) {
  feedback.textContent = message;
  feedback.className = `status${tone ? ` ${tone}` : ''}`;
  view.dataset.state = tone || 'capturing';
}

function finish() {
  running = false;
  if (live) void live.stop();
  live = undefined;
  if (camera) camera.stop();
  camera = undefined;
  snapButton.hidden = true;
  button.disabled = false;
  button.textContent = 'Try your palm again';
}

async function send(frame) {
  const response = await fetch(button.dataset.capture, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'image/jpeg' },
    body: frame,
  });
  const body = await response.json().catch(() => ({}));
  const retryAfter = Number(response.headers.get('retry-after')) || Number(body.retry_after) || 1;
  return { status: response.status, body, retryAfter };
}

/**
 * Sends one frame, waiting out a busy server; answers 'done' (signed in or refused: the try is
 * over) or 'again' (the server asks for a better frame; its guidance is shown).
 */
async function sendFrame(source, busy) {
  for (;;) {
    const { status, body, retryAfter } = await send(await grabFrame(source, { maxBytes }));
    const seconds = status === 503 ? busy.wait(retryAfter) : 0;
    if (seconds) {
      // Nothing was read or counted: the same try goes again once the server has room.
      say(`Many people are signing in right now: trying again in ${seconds} s…`);
      await pause(seconds * 1000);
      continue;
    }
    if (status === 200 && body.redirectTo) {
      say('Recognised. Signing you in…', 'success');
      finish();
      window.location.assign(body.redirectTo);
      return 'done';
    }
    if (status === 422) {
      say(body.error_description || 'Hold your palm still inside the outline.');
      return 'again';
    }
    say(
      body.error === 'not_recognised'
        ? 'Palm not recognised. Try again, or sign in with a passkey.'
        : body.error_description || 'Palm sign-in failed.',
      'error',
    );
    finish();
    return 'done';
  }
}

/** Today's capture, for browsers without the tracker: a few frames, a moment apart. */
async function manualCapture(reason) {
  say(`${reason} Hold your open palm inside the outline, fingers slightly apart.`);
  await pause(SETTLE_MS);
  const busy = busyRetries();
  for (let i = 0; running && i < FRAMES; i++) {
    try {
      if ((await sendFrame(video, busy)) === 'done') return;
    } catch (err) {
      say(String(err?.message || err), 'error');
      finish();
      return;
    }
    await pause(BETWEEN_FRAMES_MS);
  }
  if (running) {
    say(`No clear picture of your palm. ${feedback.textContent}`.trim(), 'error');
    finish();
  }
}

/** Hands-free: the tracker decides when a frame is worth sending. */
function liveCapture() {
  const busy = busyRetries();
  let sent = 0;
  view.dataset.tracker = 'live';
  snapButton.hidden = false;
  live = startLiveCapture({
    video,
    overlay,
    tracker,
    onGuidance(assessment) {
      view.dataset.guidance = assessment.state;
      say(assessment.message);
    },
    async onCapture(canvas) {
      sent++;
      view.dataset.sent = String(sent);
      let next;
      try {
        next = await sendFrame(canvas, busy);
      } catch (err) {
        say(String(err?.message || err), 'error');
        finish();
        return 'stop';
      }
      if (next === 'done') return 'stop';
      if (sent >= FRAMES) {
        say(`No clear picture of your palm. ${feedback.textContent}`.trim(), 'error');
        finish();
        return 'stop';
      }
      await pause(BETWEEN_FRAMES_MS);
      return 'continue';
    },
  });
}

async function signIn() {
  running = true;
  button.disabled = true;
  view.hidden = false;
  delete view.dataset.sent;
  say('Starting the camera…');
  // The tracker loads while the camera starts (once per page).
  const trackerReady = tracker ? Promise.resolve(tracker) : loadHandTracker();
  trackerReady.catch(() => undefined);
  try {
    camera = await openCamera(video);
  } catch (err) {
    say(cameraProblem(err), 'error');
    finish();
    return;
  }
  say('Starting hand guidance…');
  try {
    tracker = await trackerReady;
    view.dataset.trackerInitMs = String(Math.round(tracker.initMs));
  } catch (err) {
    view.dataset.tracker = 'manual';
    view.dataset.trackerError = String(err?.message || err);
    if (running) await manualCapture('Automatic hand guidance is not available in this browser.');
    return;
  }
  if (running) liveCapture();
}

if (!cameraAvailable()) {
  button.disabled = true;
  button.title = 'This browser cannot use a camera here.';
} else {
  button.addEventListener('click', () => {
    if (!running) void signIn();
  });
  snapButton.addEventListener('click', () => live?.capture());
  stopButton.addEventListener('click', () => {
    finish();
    view.hidden = true;
  });
}

/** Frames tracked and per second, for measurement (tests and benchmarks read them). */
window.palmCapture = { frames: () => live?.frames() ?? 0, fps: () => live?.fps() ?? 0 };
