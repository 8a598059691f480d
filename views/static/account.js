// The account page: adding a passkey (WebAuthn registration for the person signed in). Every
// other change is a plain form.
import { message } from '/static/messages.js';
import { postJson, statusLine } from '/static/passkey.js';

const form = document.getElementById('add-passkey');
const show = statusLine(document.getElementById('status'));
const { startRegistration, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;

if (form) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!browserSupportsWebAuthn()) {
      show(message('script.unsupported'), true);
      return;
    }
    const button = form.querySelector('button');
    button.disabled = true;
    show(message('script.waiting'));
    try {
      const options = await postJson(form.dataset.options, {}, message('script.failed'));
      const attestation = await startRegistration({ optionsJSON: options.publicKey });
      const result = await postJson(
        form.dataset.verify,
        { ceremony: options.ceremony, response: attestation, name: form.elements.name.value },
        message('script.failed'),
      );
      show(message('script.added'));
      window.location.assign(result.redirectTo);
    } catch (err) {
      show(err && err.name === 'NotAllowedError' ? message('script.cancelled') : String(err.message || err), true);
      button.disabled = false;
    }
  });
}
