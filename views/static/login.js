// Passkey sign-in on the login page: discoverable credential, user verification required.
import { message } from './messages.js';
import { failureMessage, postJson, statusLine } from './passkey.js';

const button = document.getElementById('passkey');
const show = statusLine(document.getElementById('status'));
const { startAuthentication, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;

if (!browserSupportsWebAuthn()) {
  show(message('common:passkey.unsupported'), true);
  button.disabled = true;
} else {
  button.addEventListener('click', async () => {
    button.disabled = true;
    show(message('login:passkey.waiting'));
    try {
      const options = await postJson(button.dataset.options);
      const assertion = await startAuthentication({ optionsJSON: options });
      const result = await postJson(button.dataset.verify, assertion);
      show(message('login:passkey.signedIn'));
      window.location.assign(result.redirectTo);
    } catch (err) {
      show(failureMessage(err, 'signin', 'login:passkey.failed'), true);
      button.disabled = false;
    }
  });
}
