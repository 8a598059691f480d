// Passkey registration from an invitation (or the first administrator's setup link).
(function () {
  const form = document.getElementById('register');
  const status = document.getElementById('status');
  const { startRegistration, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;
  function show(message, isError) {
    status.textContent = message;
    status.className = isError ? 'status error' : 'status';
  }
  if (!browserSupportsWebAuthn()) {
    show('This browser does not support passkeys.', true);
    return;
  }
  form.addEventListener('submit', async function (event) {
    event.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    show('Follow your device’s prompt…');
    try {
      const optionsResponse = await fetch(form.dataset.options, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: form.email.value, name: form.name.value }),
      });
      const options = await optionsResponse.json();
      if (!optionsResponse.ok) throw new Error(options.error_description || 'Could not start registration.');
      const attestation = await startRegistration({ optionsJSON: options.publicKey });
      const verify = await fetch(form.dataset.verify, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ceremony: options.ceremony, response: attestation }),
      });
      const result = await verify.json();
      if (!verify.ok) throw new Error(result.error_description || 'Registration failed.');
      form.hidden = true;
      show('Your passkey is registered. You can now sign in with it.');
      document.body.dataset.registered = 'true';
    } catch (err) {
      show(
        err && err.name === 'NotAllowedError' ? 'Registration was cancelled or timed out.' : String(err.message || err),
        true,
      );
      button.disabled = false;
    }
  });
})();
