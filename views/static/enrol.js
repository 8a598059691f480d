// The enrolment station's sign-in: a staff member's passkey (discoverable credential). The words
// come from the page (enrol namespace, /static/messages.js).
import { message } from './messages.js';

const button = document.getElementById('passkey');
const status = document.getElementById('status');
const { startAuthentication, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;

function show(text, isError) {
  status.textContent = text;
  status.className = isError ? 'status error' : 'status';
}

async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error_description || message('station.signinFailed'));
  return answer;
}

if (!browserSupportsWebAuthn()) {
  show(message('station.noPasskeys'), true);
  button.disabled = true;
} else {
  button.addEventListener('click', async () => {
    button.disabled = true;
    show(message('station.signingIn'));
    try {
      const options = await post(button.dataset.options);
      const assertion = await startAuthentication({ optionsJSON: options });
      const result = await post(button.dataset.verify, assertion);
      show(message('station.signedIn'));
      window.location.assign(result.redirectTo);
    } catch (err) {
      show(err?.name === 'NotAllowedError' ? message('station.signinCancelled') : String(err?.message || err), true);
      button.disabled = false;
    }
  });
}
