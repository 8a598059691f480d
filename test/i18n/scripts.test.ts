import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientMessages } from '../../src/i18n/translator.js';
import { viewsDir } from '../../src/views.js';
import { GUIDANCE } from '../../views/static/palm-capture.js';
import { hasMessage, message } from '../../views/static/messages.js';

/** The pages' scripts whose words are in the catalogues (the i18n lane's). */
const SCRIPTS = ['palm-capture.js', 'palm-login.js', 'kiosk.js', 'login.js', 'passkey.js', 'register.js'];
const english = (ns: string) =>
  JSON.parse(fs.readFileSync(path.join(viewsDir, '..', 'locales', 'en', `${ns}.json`), 'utf8')) as Record<
    string,
    unknown
  >;
const at = (value: unknown, dotted: string) =>
  dotted
    .split('.')
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), value);

describe('the scripts’ words', () => {
  it('every message key a script names exists in the English catalogue (and so in French: parity)', () => {
    let checked = 0;
    for (const script of SCRIPTS) {
      const source = fs.readFileSync(path.join(viewsDir, 'static', script), 'utf8');
      for (const [, key] of source.matchAll(/'((?:common|login|capture|kiosk|invite):[\w.]+)'/g)) {
        const [ns, dotted] = key!.split(':') as [string, string];
        // a string, or a group of them (palm-capture.js names the guidance by its prefix)
        expect(['string', 'object'], `${script}: ${key}`).toContain(typeof at(english(ns), dotted));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it('a page with several namespaces gets the first at the top and the others under their names', () => {
    const fr = clientMessages('fr', 'login', 'capture');
    expect(at(fr, 'passkey.waiting')).toBe('En attente de votre clé d’accès…');
    expect(at(fr, 'capture.guidance.too_far')).toBe('Rapprochez votre main de la caméra.');
    expect(clientMessages('en', 'kiosk')).not.toHaveProperty('capture');
  });

  it('outside a browser the scripts read English (the unit tests import them in Node)', () => {
    expect(message('capture:guidance.no_hand')).toMatch(/^No hand seen/);
    expect(GUIDANCE.too_close).toBe(at(english('capture'), 'guidance.too_close'));
    expect(message('login:palm.busy', { seconds: 3 })).toBe(
      'Many people are signing in right now: trying again in 3 s…',
    );
    expect(hasMessage('login:palm.nothing')).toBe(false);
    expect(message('login:palm.nothing')).toBe('login:palm.nothing');
  });
});
