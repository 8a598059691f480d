// "Sign in with your palm" on the login page: a few frames from the camera, each sent to the
// provider, which answers with guidance, a refusal, or where the sign-in continues.
import { busyRetries, cameraAvailable, cameraProblem, grabFrame, openCamera, pause } from './palm-capture.js';

const FRAMES = 5;
const BETWEEN_FRAMES_MS = 400;
const SETTLE_MS = 800; // let exposure and focus settle before the first frame

const button = document.getElementById('palm');
const view = document.getElementById('palm-capture');
const video = document.getElementById('palm-video');
const feedback = document.getElementById('palm-feedback');
const stopButton = document.getElementById('palm-stop');
let camera;
let running = false;

function say(message, tone) {
  feedback.textContent = message;
  feedback.className = `status${tone ? ` ${tone}` : ''}`;
  view.dataset.state = tone || 'capturing';
}

function finish() {
  running = false;
  if (camera) camera.stop();
  camera = undefined;
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

async function signIn() {
  running = true;
  button.disabled = true;
  view.hidden = false;
  say('Starting the camera…');
  try {
    camera = await openCamera(video);
  } catch (err) {
    say(cameraProblem(err), 'error');
    finish();
    return;
  }
  say('Hold your open palm inside the outline, fingers slightly apart.');
  await pause(SETTLE_MS);
  let hint = '';
  const busy = busyRetries();
  for (let i = 0; running && i < FRAMES; i++) {
    let result;
    try {
      result = await send(await grabFrame(video, { maxBytes: Number(button.dataset.maxBytes) || 65536 }));
    } catch (err) {
      say(String(err?.message || err), 'error');
      break;
    }
    const { status, body, retryAfter } = result;
    const seconds = status === 503 ? busy.wait(retryAfter) : 0;
    if (seconds) {
      // Nothing was read or counted: the same try goes again once the server has room.
      say(`Many people are signing in right now: trying again in ${seconds} s…`);
      await pause(seconds * 1000);
      i--;
      continue;
    }
    if (status === 200 && body.redirectTo) {
      say('Recognised. Signing you in…', 'success');
      finish();
      window.location.assign(body.redirectTo);
      return;
    }
    if (status === 422) {
      hint = body.error_description || 'Hold your palm still inside the outline.';
      say(hint);
      await pause(BETWEEN_FRAMES_MS);
      continue;
    }
    say(
      body.error === 'not_recognised'
        ? 'Palm not recognised. Try again, or sign in with a passkey.'
        : body.error_description || 'Palm sign-in failed.',
      'error',
    );
    finish();
    return;
  }
  if (running) say(`No clear picture of your palm. ${hint}`.trim(), 'error');
  finish();
}

if (!cameraAvailable()) {
  button.disabled = true;
  button.title = 'This browser cannot use a camera here.';
} else {
  button.addEventListener('click', () => {
    if (!running) void signIn();
  });
  stopButton.addEventListener('click', () => {
    finish();
    view.hidden = true;
  });
}
