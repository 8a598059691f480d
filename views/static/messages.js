// The page's words for its scripts, in the page's language: the server renders them as JSON in
// <script type="application/json" id="palmid-messages"> (views/layout.eta, `clientMessages`), and
// scripts read them here. `{{name}}` in a message is replaced by vars.name.
//
// Keys: 'a.b' in the page's first namespace; 'ns:a.b' in namespace ns, which a page that needs
// several carries under its name (clientMessages(locale, 'login', 'capture')); a page with ns as
// its only namespace has it at the top.
let messages;

function load() {
  if (messages) return messages;
  if (typeof document === 'undefined') {
    messages = outsideBrowser();
    return messages;
  }
  const element = document.getElementById('palmid-messages');
  try {
    messages = element ? JSON.parse(element.textContent || '{}') : {};
  } catch {
    messages = {};
  }
  return messages;
}

/**
 * Outside a browser (the unit tests import the pages' modules in Node): the English catalogues,
 * each namespace under its name, read from locales/en. In a page this is never reached.
 */
function outsideBrowser() {
  const fs = globalThis.process?.getBuiltinModule?.('node:fs');
  if (!fs) return {};
  const dir = new URL('../../locales/en/', import.meta.url);
  const out = {};
  for (const file of fs.readdirSync(dir)) {
    if (file.endsWith('.json')) out[file.slice(0, -5)] = JSON.parse(fs.readFileSync(new URL(file, dir), 'utf8'));
  }
  return out;
}

function lookup(key) {
  const all = load();
  const colon = key.indexOf(':');
  let value = all;
  let path = key;
  if (colon >= 0) {
    const ns = key.slice(0, colon);
    path = key.slice(colon + 1);
    value = all[ns] && typeof all[ns] === 'object' ? all[ns] : all;
  }
  for (const part of path.split('.')) value = value && typeof value === 'object' ? value[part] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** Whether the page has a message for `key`. */
export function hasMessage(key) {
  return lookup(key) !== undefined;
}

/** The message for `key` ("a.b" for nested keys, "ns:a.b" in another namespace); the key itself when the page lacks it. */
export function message(key, vars = {}) {
  const value = lookup(key);
  if (value === undefined) return key;
  return value.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name) => (Object.hasOwn(vars, name) ? String(vars[name]) : ''));
}

/** The page's language (the <html lang>), for Intl formatting in the browser. */
export function pageLocale() {
  return typeof document === 'undefined' ? 'en' : document.documentElement.lang || 'en';
}
