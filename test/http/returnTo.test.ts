import { describe, expect, it } from 'vitest';
import { accountReturnPath } from '../../src/http/returnTo.js';

describe('where the account sign-in may return to', () => {
  it('keeps a path of the account pages, with its query', () => {
    expect(accountReturnPath('/account/enrol?tenant=shop-b')).toBe('/account/enrol?tenant=shop-b');
    expect(accountReturnPath('/account/enrol/done?tenant=a%20b')).toBe('/account/enrol/done?tenant=a%20b');
  });

  it('refuses anything that could leave the account pages or the site', () => {
    for (const value of [
      undefined,
      ['/account/enrol'],
      '',
      '/account',
      '/accountx/enrol',
      '/admin',
      '//evil.example/account/',
      'https://evil.example/account/enrol',
      '/account/../admin',
      '/account/%2e%2e/admin',
      '/account/enrol\\..\\..\\admin',
      '/account/\\evil.example',
      '/account/enrol\r\nSet-Cookie: x=1',
      '/account/callback?code=x&state=y',
      `/account/${'a'.repeat(600)}`,
    ])
      expect(accountReturnPath(value), String(value)).toBeUndefined();
  });
});
