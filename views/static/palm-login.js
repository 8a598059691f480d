// "Sign in with your palm" on the login page: the camera opens, the hand tracker guides the person
// and captures by itself once the hand is ready (the button "Take the picture now" stays as a
// fallback) and sends that frame: a one-second sign-in, liveness not checked. For an application
// that requires the liveness check (palmid_require_pad) the ready frame is followed by a challenge:
// the page asks the provider for a random movement, tells the person ("Now bring your fingers
// together"), takes a few frames while the hand moves, and sends them with the ready frame as one
// try. The provider answers with guidance, a refusal, or where the sign-in continues. Where the
// tracker cannot start, single frames are taken on the button that opened the camera, except for
// applications that require the liveness check, which then need a passkey. The provider's answers
// are shown by their codes in the page's language (login:palm.*, capture:reject.*): its
// error_description is English, for developers.
import { hasMessage, message } from './messages.js';
import {
  blobToBase64,
  busyRetries,
  cameraAvailable,
  cameraProblem,
  followChallenge,
  grabFrame,
  openCamera,
  pause,
  showGuidance,
  startLiveCapture,
  stopCapture,
  trackerFor,
} from './palm-capture.js';

const FRAMES = 5; // frames sent per try, usable or not (without the tracker)
const TRIES = 5; // hands-free tries per sign-in (with the challenge, each sends 1 + CHALLENGE_FRAMES frames)
const CHALLENGE_FRAMES = 3;
const CHALLENGE_MS = 1800;
const BETWEEN_FRAMES_MS = 400;
const READ_MS = 3000;
const SETTLE_MS = 800; // let exposure and focus settle before the first frame

const button = document.getElementById('palm');
const view = document.getElementById('palm-capture');
const video = document.getElementById('palm-video');
const overlay = document.getElementById('palm-overlay');
const feedback = document.getElementById('palm-feedback');
const snapButton = document.getElementById('palm-snap');
const stopButton = document.getElementById('palm-stop');
const maxBytes = Number(button.dataset.maxBytes) || 65536;
const requirePad = button.dataset.requirePad === 'true';
/**
 * A try is one JSON body within the server's body limit (maxBytes): base64 adds a third, the token
 * and the field names about a kilobyte. The ready frame, which is identified, gets 40% of it; the
 * challenge frames, which only need to show the hand's pose, share the rest.
 */
const tryBytes = Math.floor(((maxBytes - 1024) * 3) / 4);
const readyLimits = { maxBytes: Math.floor(tryBytes * 0.4), maxWidth: 640 };
const challengeLimits = { maxBytes: Math.floor((tryBytes * 0.6) / CHALLENGE_FRAMES), maxWidth: 640 };
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
  stopCapture(live, camera);
  live = undefined;
  camera = undefined;
  snapButton.hidden = true;
  button.disabled = false;
  button.textContent = message('login:palmAgain');
}

async function send(body, type) {
  const response = await fetch(button.dataset.capture, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': type },
    body,
  });
  const answer = await response.json().catch(() => ({}));
  const retryAfter = Number(response.headers.get('retry-after')) || Number(answer.retry_after) || 1;
  return { status: response.status, body: answer, retryAfter };
}

/** A random movement for the next try from the provider: { challenge, token, expires_in }. */
async function fetchChallenge() {
  const response = await fetch(button.dataset.challenge, { credentials: 'same-origin' });
  const body = await response.json().catch(() => ({}));
  if (response.ok && body.challenge && body.token) return body;
  throw new Error(response.status === 429 ? refusal(response.status, body) : message('login:palm.errors.challenge'));
}

/** What a refusal means for the person, by the provider's code (src/http/routes/palmLogin.ts). */
function refusal(status, body) {
  if (body.error === 'not_recognised') return message('login:palm.notRecognised');
  if (body.error === 'too_many_attempts')
    return body.retry_after
      ? message('login:palm.errors.throttled', { seconds: body.retry_after })
      : message('login:palm.errors.locked');
  if (body.error === 'temporarily_unavailable') return message('login:palm.errors.temporarily_unavailable');
  if (status === 403) return message('login:palm.errors.not_offered');
  if (body.error === 'invalid_request') return message('login:palm.errors.invalid_request');
  return message('login:palm.errors.failed');
}

/** Guidance for the next try, by the reason the provider gave (capture:reject.*). */
function guidanceFor(reason) {
  const key = `capture:reject.${reason}`;
  return reason && hasMessage(key) ? message(key) : message('login:palm.holdStill');
}

/**
 * Sends one try (`payload()` makes the body afresh each time), waiting out a busy server; answers
 * 'done' (signed in or refused: the try is over) or 'again' (the server asks for a better try; its
 * guidance is shown).
 */
async function sendTry(payload, busy) {
  delete view.dataset.rejected; // this try's answer, not an earlier one's
  for (;;) {
    const { status, body, retryAfter } = await send(...(await payload()));
    const seconds = status === 503 ? busy.wait(retryAfter) : 0;
    if (seconds) {
      // Nothing was read or counted: the same try goes again once the server has room.
      say(message('login:palm.busy', { seconds }));
      await pause(seconds * 1000);
      continue;
    }
    if (status === 200 && body.redirectTo) {
      say(message('login:palm.recognised'), 'success');
      finish();
      window.location.assign(body.redirectTo);
      return 'done';
    }
    if (status === 422) {
      say(guidanceFor(body.reason));
      view.dataset.rejected = body.reason || 'capture_rejected';
      return 'again';
    }
    say(refusal(status, body), 'error');
    finish();
    return 'done';
  }
}

/** Today's capture, for browsers without the tracker: a few frames, a moment apart. */
async function manualCapture(reason) {
  say(message('login:palm.manual', { reason }));
  await pause(SETTLE_MS);
  const busy = busyRetries();
  for (let i = 0; running && i < FRAMES; i++) {
    try {
      if ((await sendTry(async () => [await grabFrame(video, { maxBytes }), 'image/jpeg'], busy)) === 'done') return;
    } catch (err) {
      say(String(err?.message || err), 'error');
      finish();
      return;
    }
    await pause(BETWEEN_FRAMES_MS);
  }
  if (running) {
    say(`${message('login:palm.noClearPicture')} ${feedback.textContent}`.trim(), 'error');
    finish();
  }
}

/**
 * One try with the challenge: the ready frame (grabbed now, the canvas is reused), a random
 * movement from the server, the frames taken while the hand follows it, all sent together.
 */
async function challengeTry(canvas, busy) {
  const ready = await grabFrame(canvas, readyLimits);
  const { challenge, token } = await fetchChallenge();
  view.dataset.challenge = challenge;
  const moving = await followChallenge({
    video,
    overlay,
    tracker,
    challenge,
    frames: CHALLENGE_FRAMES,
    durationMs: CHALLENGE_MS,
    jpeg: challengeLimits,
    onGuidance: showGuidance(view, say),
  });
  say(message('login:palm.checking'));
  const frames = await Promise.all([ready, ...moving].map(blobToBase64));
  const body = JSON.stringify({ challenge_token: token, frames });
  frames.fill('');
  return sendTry(async () => [body, 'application/json'], busy);
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
    onGuidance: showGuidance(view, say),
    async onCapture(canvas) {
      sent++;
      view.dataset.sent = String(sent);
      let next;
      try {
        next = requirePad
          ? await challengeTry(canvas, busy)
          : await sendTry(async () => [await grabFrame(canvas, { maxBytes }), 'image/jpeg'], busy);
      } catch (err) {
        say(String(err?.message || err), 'error');
        finish();
        return 'stop';
      }
      if (next === 'done') return 'stop';
      if (sent >= TRIES) {
        const failed =
          view.dataset.rejected === 'not_live' ? message('login:palm.notLive') : message('login:palm.noClearPicture');
        say(`${failed} ${feedback.textContent}`.trim(), 'error');
        finish();
        return 'stop';
      }
      // A sequence not shown live: the person needs time to read what to do differently.
      await pause(view.dataset.rejected === 'not_live' ? READ_MS : BETWEEN_FRAMES_MS);
      return 'continue';
    },
  });
}

async function signIn() {
  running = true;
  button.disabled = true;
  view.hidden = false;
  delete view.dataset.sent;
  say(message('login:palm.startingCamera'));
  // The tracker loads while the camera starts (once per page).
  const trackerReady = trackerFor(tracker);
  try {
    camera = await openCamera(video);
  } catch (err) {
    say(cameraProblem(err), 'error');
    finish();
    return;
  }
  say(message('capture:guidance.starting'));
  try {
    tracker = await trackerReady;
    view.dataset.trackerInitMs = String(Math.round(tracker.initMs));
  } catch (err) {
    view.dataset.tracker = 'manual';
    view.dataset.trackerError = String(err?.message || err);
    if (!running) return;
    if (requirePad) {
      // One frame cannot show liveness, and this application accepts nothing less.
      say(message('login:palm.noTrackerPad'), 'error');
      finish();
      return;
    }
    await manualCapture(message('login:palm.noTracker'));
    return;
  }
  if (running) liveCapture();
}

if (!cameraAvailable()) {
  button.disabled = true;
  button.title = message('login:palm.noCamera');
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
