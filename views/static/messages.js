// The page's words for its scripts, in the page's language: the server renders them as JSON in
// <script type="application/json" id="palmid-messages"> (views/layout.eta, `clientMessages`), and
// scripts read them here. `{{name}}` in a message is replaced by vars.name.
let messages;

function load() {
  if (messages) return messages;
  const element = document.getElementById('palmid-messages');
  try {
    messages = element ? JSON.parse(element.textContent || '{}') : {};
  } catch {
    messages = {};
  }
  return messages;
}

/** The message for `key` ("a.b" for nested keys); the key itself when the page lacks it. */
export function message(key, vars = {}) {
  let value = load();
  for (const part of key.split('.')) value = value && typeof value === 'object' ? value[part] : undefined;
  if (typeof value !== 'string') return key;
  return value.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name) => (name in vars ? String(vars[name]) : ''));
}

/** The page's language (the <html lang>), for Intl formatting in the browser. */
export function pageLocale() {
  return document.documentElement.lang || 'en';
}
