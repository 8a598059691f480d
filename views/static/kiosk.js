// The kiosk reader: a tablet in a browser that signs people in by their palm, exactly as a
// hardware reader does (the reference for device makers). Once activated with a one-time code it
// holds its own ES256 key as a non-extractable WebCrypto key in IndexedDB. Its camera stays on and
// the hand tracker (palm-capture.js) scans each person without a tap: a ready hand's best frame is
// sealed in the capture envelope (signed by that key, encrypted to the provider's capture key),
// sent with CIBA, and the tokens collected. "Scan my palm" stays as the fallback.
//
// Liveness: after the ready frame the person is asked a random challenge (close the fingers, or
// turn the hand); the frames taken while they follow it go in the same envelope, the ready frame
// first, with `pad.challenge`, and the provider checks the hand moved as asked (a photo or a
// screen held up does not). Without the tracker (the button) one frame goes, as before.
import {
  busyRetries,
  cameraAvailable,
  cameraProblem,
  followChallenge,
  grabFrame,
  loadHandTracker,
  openCamera,
  pause,
  showGuidance,
  startLiveCapture,
} from './palm-capture.js';
import * as jose from './jose/index.js';
// The kiosk's words (kiosk namespace, and capture for the guidance), in the page's language.
import { message } from './messages.js';
// src/readers/readerCrypto.ts, compiled: the same code as palmid's own CLI reader.
import { readerCrypto } from './reader-crypto.js';

const { clientAuthentication, sealEnvelope } = readerCrypto(jose);

const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
const FRAMES_PER_PERSON = 3;
/** Frames taken while the person follows the challenge (after the ready frame). */
const CHALLENGE_FRAMES = 3;
const RESULT_SHOWN_MS = 6000;

const root = document.getElementById('kiosk');
// What one frame may be (bytes, width, pixels): the server's envelope budget, rendered into the page.
const frameLimits = JSON.parse(root.dataset.frame);
// The challenges a ready (open) hand may be asked (CHALLENGES_FROM_OPEN_HAND), rendered into the page.
const challenges = JSON.parse(root.dataset.challenges || '[]');
/** One frame of a sequence of `count`: within the frame budget, and all of them within the envelope's. */
const sequenceLimits = (count) => ({
  ...frameLimits,
  maxBytes: Math.min(frameLimits.maxBytes, Math.floor(frameLimits.maxTotalBytes / count)),
});
/** A challenge picked at random (crypto.getRandomValues: a replayed recording cannot know it in advance). */
function randomChallenge() {
  if (!challenges.length) return undefined;
  const [n] = crypto.getRandomValues(new Uint32Array(1));
  return challenges[n % challenges.length];
}
const status = document.getElementById('kiosk-status');
const form = document.getElementById('activation');
const codeInput = document.getElementById('activation-code');
const readerView = document.getElementById('reader');
const readerName = document.getElementById('reader-name');
const video = document.getElementById('kiosk-video');
const overlay = document.getElementById('kiosk-overlay');
const result = document.getElementById('result');
const scanButton = document.getElementById('scan');

// ---- the reader's identity, kept in this browser only -----------------------------------------

function database() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open('palmid-kiosk', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('reader');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function store(mode, action) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const request = action(db.transaction('reader', mode).objectStore('reader'));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  } finally {
    db.close();
  }
}

const loadReader = () => store('readonly', (s) => s.get('this'));
const saveReader = (reader) => store('readwrite', (s) => s.put(reader, 'this'));
const forgetReader = () => store('readwrite', (s) => s.delete('this'));

// ---- the provider ------------------------------------------------------------------------------

let provider;

async function discover() {
  if (provider) return provider;
  const metadata = await (await fetch('/.well-known/openid-configuration')).json();
  const jwks = await (await fetch(metadata.jwks_uri)).json();
  const captureKey = jwks.keys.find((k) => k.use === 'enc' && k.alg === 'ECDH-ES');
  if (!captureKey) throw new Error(message('kiosk:noCaptureKey'));
  provider = { metadata, captureKey };
  return provider;
}

/** A request authenticated by the reader's key (private_key_jwt); answers the parsed JSON. */
async function clientPost(reader, url, params) {
  const { metadata } = await discover();
  const authentication = await clientAuthentication({
    clientId: reader.clientId,
    audience: metadata.issuer,
    readerKey: reader.privateKey,
    kid: reader.kid,
  });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...params, ...authentication }),
  });
  const body = await response
    .json()
    .catch(() => ({ error: 'server_error', error_description: `HTTP ${response.status}` }));
  const retryAfter = Number(response.headers.get('retry-after'));
  return retryAfter && body.retry_after === undefined ? { ...body, retry_after: retryAfter } : body;
}

/**
 * Envelope → backchannel authentication → tokens → who it is. `frames`: the ready frame first,
 * then, with a challenge, the frames taken while the person followed it.
 */
async function palmSignIn(reader, frames, challenge) {
  const { metadata, captureKey } = await discover();
  const images = await Promise.all(frames.map(async (f) => new Uint8Array(await f.arrayBuffer())));
  const envelope = await sealEnvelope({
    readerId: reader.clientId,
    issuer: metadata.issuer,
    readerKey: reader.privateKey,
    kid: reader.kid,
    captureKey,
    images,
    kind: 'hand',
    ...(challenge ? { pad: { challenge } } : {}),
  });
  for (const image of images) image.fill(0);
  let started;
  const busy = busyRetries();
  for (;;) {
    started = await clientPost(reader, metadata.backchannel_authentication_endpoint, {
      scope: 'openid email profile',
      login_hint_token: envelope,
    });
    // A server busy with other sign-ins did not open the envelope: the same one goes again after Retry-After.
    const seconds = started.error === 'temporarily_unavailable' ? busy.wait(started.retry_after) : 0;
    if (!seconds) break;
    await pause(seconds * 1000);
  }
  if (started.error) return started;
  // palmid completes the request before answering: ask at once, poll only if told to wait.
  let interval = Number(started.interval) || 5;
  let tokens;
  for (let i = 0; i < 12; i++) {
    tokens = await clientPost(reader, metadata.token_endpoint, {
      grant_type: CIBA_GRANT,
      auth_req_id: started.auth_req_id,
    });
    if (tokens.error === 'slow_down') interval += 5;
    else if (tokens.error !== 'authorization_pending') break;
    await pause(interval * 1000);
  }
  if (tokens.error) return tokens;
  // Received straight from the token endpoint of this origin: no signature check needed to read it (OIDC Core 3.1.3.7).
  const claims = jose.decodeJwt(tokens.id_token);
  let person = {};
  try {
    const userinfo = await fetch(metadata.userinfo_endpoint, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    if (userinfo.ok) person = await userinfo.json();
  } catch {
    // the name is a courtesy: the sign-in itself succeeded
  }
  // Only what the reader's greeting setting lets the provider release (src/readers/greeting.ts): never the email.
  return { ok: true, sub: claims.sub, name: person.given_name || person.name };
}

// ---- the screens --------------------------------------------------------------------------------

function say(message, tone) {
  status.textContent = message;
  status.className = `status${tone === 'error' ? ' error' : ''}`;
}

function showResult(text, tone) {
  result.textContent = text;
  result.className = `result ${tone}`;
  readerView.dataset.state = tone === 'welcome' ? 'success' : 'error';
}

async function showActivation(text) {
  readerView.hidden = true;
  form.hidden = false;
  say(text || message('kiosk:notReader'));
  codeInput.focus();
}

function showReader(reader) {
  form.hidden = true;
  readerView.hidden = false;
  readerName.textContent = reader.name;
  say(message('kiosk:ready'));
  if (cameraAvailable()) void startReading(reader);
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = document.getElementById('activate-button');
  button.disabled = true;
  say(message('kiosk:activating'));
  try {
    // The private key is made here and cannot be exported, not even by this page.
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    const publicJwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const response = await fetch(root.dataset.activate, {
      method: 'POST',
      credentials: 'omit',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        code: codeInput.value,
        key: { kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x, y: publicJwk.y },
      }),
    });
    const body = await response.json();
    if (!response.ok)
      throw new Error(message(body.error === 'invalid_grant' ? 'kiosk:activationInvalid' : 'kiosk:activationFailed'));
    const reader = {
      clientId: body.client_id,
      tenant: body.tenant,
      name: body.name,
      kid: body.kid,
      privateKey: pair.privateKey,
    };
    await saveReader(reader);
    codeInput.value = '';
    showReader(reader);
  } catch (err) {
    say(String(err?.message || err), 'error');
  } finally {
    button.disabled = false;
  }
});

let scanning = false; // a person's frame is with the provider
let camera;
let live;
let tracker;
let scans = 0;
let clearResult;
let answered = false; // a person was answered and no hand has left the view since

/** What the provider said about one frame, shown to the person; answers whether to try another frame. */
async function answer(outcome) {
  clearTimeout(clearResult);
  answered = true;
  delete readerView.dataset.outcome;
  live?.next();
  if (outcome.ok) {
    showResult(
      outcome.name ? message('kiosk:welcomeName', { name: outcome.name }) : message('kiosk:welcome'),
      'welcome',
    );
    say(message('kiosk:signedIn'));
  } else if (notLive(outcome)) {
    // The hand did not move as asked (or a photo / a screen was held up): said plainly, no retry.
    showResult(message('kiosk:notLiveResult'), 'refused');
    readerView.dataset.outcome = 'not_live';
    say(message('kiosk:notLive'), 'error');
  } else if (outcome.error === 'unknown_user_id' || outcome.error === 'invalid_request') {
    showResult(message('kiosk:notRecognised'), 'refused');
    say(
      outcome.error === 'unknown_user_id'
        ? message('kiosk:palmNotRecognised')
        : unusable(outcome)
          ? message('kiosk:holdStill')
          : message('kiosk:scanFailed', { error: outcome.error }),
      'error',
    );
  } else if (outcome.error === 'invalid_client' || outcome.error === 'unauthorized_client') {
    await stopReading();
    await forgetReader();
    await showActivation(message('kiosk:revoked'));
    return;
  } else {
    showResult(message('kiosk:notRecognised'), 'refused');
    say(message('kiosk:scanFailed', { error: outcome.error }), 'error');
  }
  clearResult = setTimeout(() => {
    if (!scanning) {
      result.textContent = '';
      readerView.dataset.state = '';
    }
  }, RESULT_SHOWN_MS);
}

/** Liveness was required and not shown (src/readers/ciba.ts: "capture rejected: liveness not shown (…)"). */
const notLive = (outcome) =>
  outcome.error === 'invalid_request' && /liveness not shown/.test(outcome.error_description || '');
const unusable = (outcome) =>
  outcome.error === 'invalid_request' && /capture rejected/.test(outcome.error_description || '') && !notLive(outcome);

/** One frame to the provider (envelope, CIBA, tokens): the button's way, without the tracker. */
async function scanFrame(reader, source) {
  scans++;
  readerView.dataset.scans = String(scans);
  return palmSignIn(reader, [await grabFrame(source, sequenceLimits(1))]);
}

/**
 * The tracker's way: the ready frame, then a random challenge followed on camera, all in one
 * envelope. Without a challenge to ask, the ready frame alone.
 */
async function scanSequence(reader, canvas) {
  scans++;
  readerView.dataset.scans = String(scans);
  const challenge = randomChallenge();
  const limits = sequenceLimits(challenge ? 1 + CHALLENGE_FRAMES : 1);
  // The ready frame first: the canvas is reused by the tracker.
  const ready = await grabFrame(canvas, limits);
  if (!challenge) return palmSignIn(reader, [ready]);
  readerView.dataset.challenge = challenge;
  const following = await followChallenge({
    video,
    overlay,
    tracker,
    challenge,
    frames: CHALLENGE_FRAMES,
    jpeg: limits,
    onGuidance: showGuidance(readerView, say),
  });
  say(message('kiosk:checking'));
  return palmSignIn(reader, [ready, ...following], challenge);
}

/** The button, and the only way where the tracker cannot run: a few frames a moment apart. */
async function manualScan(reader) {
  scanning = true;
  scanButton.disabled = true;
  result.textContent = '';
  readerView.dataset.state = 'capturing';
  try {
    say(message('kiosk:holdOpen'));
    if (!camera) {
      try {
        camera = await openCamera(video);
      } catch (err) {
        say(cameraProblem(err), 'error');
        return;
      }
      await pause(800);
    }
    let outcome;
    for (let i = 0; i < FRAMES_PER_PERSON; i++) {
      outcome = await scanFrame(reader, video);
      // A frame the engine could not use: take another one.
      if (!unusable(outcome)) break;
      say(message('kiosk:holdStill'));
      await pause(300);
    }
    await answer(outcome);
  } catch (err) {
    say(String(err?.message || err), 'error');
  } finally {
    scanning = false;
    scanButton.disabled = false;
  }
}

/**
 * The reader at rest: the camera stays on and the tracker watches for a hand; a ready hand is
 * scanned without a tap, then the reader waits for that hand to leave before the next person.
 * "No hand seen" is guidance (the status line); "Not recognised" is the provider's answer (the
 * result line).
 */
async function startReading(reader) {
  readerView.dataset.tracker = 'starting';
  try {
    camera = await openCamera(video);
  } catch (err) {
    say(cameraProblem(err), 'error');
    readerView.dataset.tracker = 'manual';
    return;
  }
  say(message('capture:guidance.starting'));
  try {
    tracker = tracker || (await loadHandTracker());
    readerView.dataset.trackerInitMs = String(Math.round(tracker.initMs));
  } catch (err) {
    readerView.dataset.tracker = 'manual';
    readerView.dataset.trackerError = String(err?.message || err);
    say(message('kiosk:noTracker'));
    return;
  }
  readerView.dataset.tracker = 'live';
  let tries = 0;
  live = startLiveCapture({
    video,
    overlay,
    tracker,
    waitForLeave: answered,
    onGuidance(assessment) {
      readerView.dataset.guidance = assessment.state;
      if (assessment.state === 'no_hand') answered = false;
      if (!scanning) say(assessment.message);
    },
    async onCapture(canvas) {
      // Someone is being scanned on the button already: this hand is theirs.
      if (scanning) return 'next';
      scanning = true;
      result.textContent = '';
      readerView.dataset.state = 'capturing';
      say(message('kiosk:checking'));
      try {
        const outcome = await scanSequence(reader, canvas);
        tries++;
        if (unusable(outcome) && tries < FRAMES_PER_PERSON) {
          say(message('kiosk:holdStill'));
          return 'continue';
        }
        tries = 0;
        await answer(outcome);
        return live ? 'next' : 'stop';
      } catch (err) {
        say(String(err?.message || err), 'error');
        return 'next';
      } finally {
        scanning = false;
      }
    },
  });
}

async function stopReading() {
  const running = live;
  live = undefined;
  if (running) await running.stop();
  if (camera) camera.stop();
  camera = undefined;
}

scanButton.addEventListener('click', async () => {
  if (scanning) return;
  // With the tracker: this frame, whatever the guidance says.
  if (live) return live.capture();
  const reader = await loadReader();
  if (!reader) return showActivation();
  await manualScan(reader);
});

/** Frames tracked and per second, for measurement (tests and benchmarks read them). */
window.palmCapture = { frames: () => live?.frames() ?? 0, fps: () => live?.fps() ?? 0 };

(async () => {
  if (!window.isSecureContext || !crypto.subtle || !window.indexedDB) {
    say(message('kiosk:needsHttps'), 'error');
    return;
  }
  if (!cameraAvailable()) say(message('kiosk:noCamera'), 'error');
  const reader = await loadReader().catch(() => undefined);
  if (reader) showReader(reader);
  else await showActivation();
})();
