// Passkey registration from an invitation (or the first administrator's setup link).
import { failureMessage, postJson, statusLine } from './passkey.js';

const form = document.getElementById('register');
const show = statusLine(document.getElementById('status'));
const { startRegistration, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;

if (!browserSupportsWebAuthn()) {
  show('This browser does not support passkeys.', true);
} else {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    show('Follow your device’s prompt…');
    try {
      const options = await postJson(
        form.dataset.options,
        { email: form.email.value, name: form.name.value },
        'Could not start registration.',
      );
      const attestation = await startRegistration({ optionsJSON: options.publicKey });
      await postJson(
        form.dataset.verify,
        { ceremony: options.ceremony, response: attestation },
        'Registration failed.',
      );
      form.hidden = true;
      show('Your passkey is registered. You can now sign in with it.');
      document.body.dataset.registered = 'true';
    } catch (err) {
      show(failureMessage(err, 'Registration'), true);
      button.disabled = false;
    }
  });
}
