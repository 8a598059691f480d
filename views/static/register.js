// Passkey registration from an invitation (or the first administrator's setup link).
import { message } from './messages.js';
import { failureMessage, postJson, statusLine } from './passkey.js';

const form = document.getElementById('register');
const show = statusLine(document.getElementById('status'));
const { startRegistration, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;

if (!browserSupportsWebAuthn()) {
  show(message('common:passkey.unsupported'), true);
} else {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    show(message('invite:register.prompt'));
    try {
      const options = await postJson(form.dataset.options, { email: form.email.value, name: form.name.value });
      const attestation = await startRegistration({ optionsJSON: options.publicKey });
      await postJson(form.dataset.verify, { ceremony: options.ceremony, response: attestation });
      form.hidden = true;
      show(message('invite:register.done'));
      document.body.dataset.registered = 'true';
    } catch (err) {
      show(failureMessage(err, 'registration', 'invite:register.failed'), true);
      button.disabled = false;
    }
  });
}
