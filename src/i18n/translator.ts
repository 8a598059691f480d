/**
 * Translations with i18next: one JSON file per language and namespace under locales/<lang>/<ns>.json,
 * loaded once at start. A missing key in French falls back to English, and the tests check that no
 * namespace has one (test/i18n/catalogues.test.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import i18next, { type TFunction } from 'i18next';
import { packageRoot } from '../paths.js';
import { DEFAULT_LOCALE, type Locale, SUPPORTED_LOCALES } from './locales.js';

export const localesDir = path.join(packageRoot, 'locales');

type Catalogue = Record<string, Record<string, unknown>>;

/** locales/<lang>/<ns>.json for every supported language. */
export function loadCatalogues(): Record<Locale, Catalogue> {
  const out = {} as Record<Locale, Catalogue>;
  for (const locale of SUPPORTED_LOCALES) {
    const dir = path.join(localesDir, locale);
    const catalogue: Catalogue = {};
    for (const file of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (!file.endsWith('.json')) continue;
      catalogue[file.slice(0, -5)] = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    }
    out[locale] = catalogue;
  }
  return out;
}

const catalogues = loadCatalogues();
const instance = i18next.createInstance();
void instance.init({
  resources: catalogues,
  lng: DEFAULT_LOCALE,
  fallbackLng: DEFAULT_LOCALE,
  supportedLngs: [...SUPPORTED_LOCALES],
  ns: Object.keys(catalogues[DEFAULT_LOCALE]),
  defaultNS: 'common',
  fallbackNS: 'common',
  // Eta escapes every <%= %> value itself; escaping here too would double it.
  interpolation: { escapeValue: false },
  returnNull: false,
  initAsync: false,
});

/** A translate function bound to one language (`t('account:title')`, `t('save')` for common). */
export function translator(locale: Locale): TFunction {
  return instance.getFixedT(locale);
}

function namespaceMessages(locale: Locale, ns: string): Record<string, unknown> {
  return { ...(catalogues[DEFAULT_LOCALE][ns] ?? {}), ...(catalogues[locale][ns] ?? {}) };
}

/**
 * The messages of a page's scripts in one language (sent as JSON): the first namespace's at the top
 * (`message('key')`), each further one under its name (`message('capture:key')`, views/static/messages.js).
 */
export function clientMessages(locale: Locale, ns: string, ...more: string[]): Record<string, unknown> {
  const messages = namespaceMessages(locale, ns);
  for (const extra of more) messages[extra] = namespaceMessages(locale, extra);
  return messages;
}
