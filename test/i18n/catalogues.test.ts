import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { localesDir } from '../../src/i18n/translator.js';
import { fromAcceptLanguage, fromUiLocales, negotiateLocale, SUPPORTED_LOCALES } from '../../src/i18n/locales.js';
import { formatDateTime } from '../../src/i18n/dates.js';
import { renderView } from '../../src/views.js';

/** Every key path of a catalogue ("a.b.c"), with its value. */
function keys(value: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      for (const [kk, vv] of keys(v, prefix ? `${prefix}.${k}` : k)) out.set(kk, vv);
    }
  } else out.set(prefix, String(value));
  return out;
}

const read = (locale: string, ns: string) =>
  JSON.parse(fs.readFileSync(path.join(localesDir, locale, `${ns}.json`), 'utf8')) as unknown;

describe('translations', () => {
  const namespaces = fs.readdirSync(path.join(localesDir, 'en')).filter((f) => f.endsWith('.json'));

  it('every language has every namespace and every key English has, and no other', () => {
    for (const locale of SUPPORTED_LOCALES) {
      for (const file of namespaces) {
        const ns = file.slice(0, -5);
        const english = keys(read('en', ns));
        const other = keys(read(locale, ns));
        expect([...other.keys()].sort(), `${locale}/${ns}`).toEqual([...english.keys()].sort());
        for (const [key, value] of other) expect(value.trim(), `${locale}/${ns}:${key}`).not.toBe('');
      }
      expect(fs.readdirSync(path.join(localesDir, locale)).sort()).toEqual([...namespaces].sort());
    }
  });

  it('keeps the same {{placeholders}} in every language', () => {
    const placeholders = (s: string) => [...s.matchAll(/\{\{\s*(\w+)[^}]*\}\}/g)].map((m) => m[1]).sort();
    for (const file of namespaces) {
      const ns = file.slice(0, -5);
      const english = keys(read('en', ns));
      for (const locale of SUPPORTED_LOCALES) {
        for (const [key, value] of keys(read(locale, ns))) {
          expect(placeholders(value), `${locale}/${ns}:${key}`).toEqual(placeholders(english.get(key) ?? ''));
        }
      }
    }
  });
});

describe('choosing the language', () => {
  it('takes ui_locales first, then the person’s choice, then Accept-Language, then English', () => {
    expect(negotiateLocale({ uiLocales: 'de fr-CA en', acceptLanguage: 'en' })).toBe('fr');
    expect(negotiateLocale({ uiLocales: 'de', chosen: 'fr', acceptLanguage: 'en' })).toBe('fr');
    expect(negotiateLocale({ chosen: 'xx', acceptLanguage: 'de, fr;q=0.8, en;q=0.5' })).toBe('fr');
    expect(negotiateLocale({ acceptLanguage: 'de' })).toBe('en');
    expect(negotiateLocale({})).toBe('en');
  });

  it('reads Accept-Language weights, ignores q=0 and malformed parts', () => {
    expect(fromAcceptLanguage('en;q=0.4, fr-FR;q=0.9')).toBe('fr');
    expect(fromAcceptLanguage('fr;q=0, en;q=0.1')).toBe('en');
    expect(fromAcceptLanguage(';;;,q=,fr;q=abc')).toBeUndefined();
    expect(fromUiLocales(42)).toBeUndefined();
  });

  it('writes dates in the language, not as raw ISO UTC', () => {
    const when = new Date('2026-11-29T16:05:00Z');
    expect(formatDateTime(when, 'fr')).toMatch(/29 nov\. 2026.*16:05/);
    expect(formatDateTime(when, 'en')).toMatch(/Nov 29, 2026.*04:05/);
  });

  it('renders a page in the chosen language, with its lang attribute', () => {
    const html = renderView('message', { title: 'x', message: 'y', locale: 'fr' });
    expect(html).toContain('<html lang="fr">');
  });
});
