// The camera for palm capture: open it into a <video>, grab still frames as JPEG that fit a byte
// budget. The preview is mirrored by the stylesheet (people expect a mirror); the frames never
// are: a mirrored right palm would look like a left one.

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
  if (name === 'NotAllowedError' || name === 'SecurityError')
    return 'The camera is blocked: allow it for this site and try again.';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'No camera found on this device.';
  if (name === 'NotReadableError') return 'The camera is busy in another application.';
  return 'The camera could not be started.';
}

/**
 * The current frame as JPEG of at most maxBytes, maxWidth wide, maxSide on its longer side and
 * maxPixels in all: full size first, then lower quality, then smaller (the engine normalises the
 * palm's scale, so a smaller frame loses little).
 */
export async function grabFrame(video, { maxBytes, maxWidth = 960, maxSide = Infinity, maxPixels = Infinity }) {
  const width = video.videoWidth;
  const height = video.videoHeight;
  if (!width || !height) throw new Error('The camera has not delivered a picture yet.');
  const widest = Math.floor(
    Math.min(width, maxWidth, (maxSide * width) / Math.max(width, height), Math.sqrt((maxPixels * width) / height)),
  );
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d');
  for (const scale of [1, 0.8, 0.64, 0.5]) {
    const w = Math.round(widest * scale);
    canvas.width = w;
    canvas.height = Math.round((height * w) / width);
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    for (const quality of [0.9, 0.8, 0.7, 0.6]) {
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
      if (blob && blob.size <= maxBytes) {
        context.clearRect(0, 0, canvas.width, canvas.height);
        return blob;
      }
    }
  }
  context.clearRect(0, 0, canvas.width, canvas.height);
  throw new Error('The picture is too large to send.');
}
