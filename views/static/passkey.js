// What passkey sign-in (login.js) and registration (register.js) share: the status line, the
// ceremony's requests to palmid, and what a failure tells the person.

/** The page's status line: `show(message, isError)`. */
export function statusLine(element) {
  return (message, isError) => {
    element.textContent = message;
    element.className = isError ? 'status error' : 'status';
  };
}

/** POST to palmid (same origin), JSON back; a refusal throws its error_description, or `fallback`. */
export async function postJson(url, body, fallback) {
  const response = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const result = await response.json();
  if (!response.ok) throw new Error(result.error_description || fallback);
  return result;
}

/** A failed ceremony in words; `action` names it for the browser's cancel or timeout. */
export function failureMessage(err, action) {
  return err && err.name === 'NotAllowedError' ? `${action} was cancelled or timed out.` : String(err.message || err);
}
