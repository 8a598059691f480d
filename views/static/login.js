// Passkey sign-in on the login page: discoverable credential, user verification required.
(function () {
  const button = document.getElementById('passkey');
  const status = document.getElementById('status');
  const { startAuthentication, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;
  function show(message, isError) {
    status.textContent = message;
    status.className = isError ? 'status error' : 'status';
  }
  if (!browserSupportsWebAuthn()) {
    show('This browser does not support passkeys.', true);
    button.disabled = true;
    return;
  }
  button.addEventListener('click', async function () {
    button.disabled = true;
    show('Waiting for your passkey…');
    try {
      const optionsResponse = await fetch(button.dataset.options, { method: 'POST', credentials: 'same-origin' });
      if (!optionsResponse.ok)
        throw new Error((await optionsResponse.json()).error_description || 'Could not start sign-in.');
      const assertion = await startAuthentication({ optionsJSON: await optionsResponse.json() });
      const verify = await fetch(button.dataset.verify, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(assertion),
      });
      const result = await verify.json();
      if (!verify.ok) throw new Error(result.error_description || 'Sign-in failed.');
      show('Signed in.');
      window.location.assign(result.redirectTo);
    } catch (err) {
      show(
        err && err.name === 'NotAllowedError' ? 'Sign-in was cancelled or timed out.' : String(err.message || err),
        true,
      );
      button.disabled = false;
    }
  });
})();
