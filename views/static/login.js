// Passkey sign-in on the login page: discoverable credential, user verification required.
import { failureMessage, postJson, statusLine } from './passkey.js';

const button = document.getElementById('passkey');
const show = statusLine(document.getElementById('status'));
const { startAuthentication, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;

if (!browserSupportsWebAuthn()) {
  show('This browser does not support passkeys.', true);
  button.disabled = true;
} else {
  button.addEventListener('click', async () => {
    button.disabled = true;
    show('Waiting for your passkey…');
    try {
      const options = await postJson(button.dataset.options, undefined, 'Could not start sign-in.');
      const assertion = await startAuthentication({ optionsJSON: options });
      const result = await postJson(button.dataset.verify, assertion, 'Sign-in failed.');
      show('Signed in.');
      window.location.assign(result.redirectTo);
    } catch (err) {
      show(failureMessage(err, 'Sign-in'), true);
      button.disabled = false;
    }
  });
}
