import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, untrustedProxyWarning } from '../../src/config.js';
import { startTestServer, type TestServer } from '../support/server.js';

const TOKEN = `${'m'.repeat(16) + 'e'.repeat(16)}t`;
const PROMETHEUS = /^# HELP palmid_http_requests_total/m;

const scrape = (url: string, token?: string) =>
  fetch(`${url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

/** /metrics is for the operator's scraper: never public, only with a token or on a port of its own. */
describe('Prometheus metrics exposure', () => {
  describe('with nothing configured', () => {
    let server: TestServer;
    beforeAll(async () => (server = await startTestServer({ name: 'pglite' })), 60_000);
    afterAll(async () => server?.stop());

    it('serves no metrics on the public port', async () => {
      const res = await scrape(server.url);
      expect(res.status).toBe(404);
      expect(await res.text()).not.toMatch(PROMETHEUS);
      expect(server.metricsUrl).toBeUndefined();
    });
  });

  describe('with PALMID_METRICS_TOKEN', () => {
    let server: TestServer;
    beforeAll(
      async () => (server = await startTestServer({ name: 'pglite' }, { PALMID_METRICS_TOKEN: TOKEN })),
      60_000,
    );
    afterAll(async () => server?.stop());

    it('refuses a scrape without the token, or with another one', async () => {
      for (const token of [undefined, 'not-the-token', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
        const res = await scrape(server.url, token);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expect(await res.text()).not.toMatch(PROMETHEUS);
      }
    });

    it('serves them with the token', async () => {
      const res = await scrape(server.url, TOKEN);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toMatch(PROMETHEUS);
    });
  });

  describe('with PALMID_METRICS_PORT', () => {
    let server: TestServer;
    beforeAll(
      async () =>
        (server = await startTestServer({ name: 'pglite' }, { PALMID_METRICS_PORT: '0', PALMID_METRICS_TOKEN: TOKEN })),
      60_000,
    );
    afterAll(async () => server?.stop());

    it('serves them on the metrics port (loopback) only, not on the public one, even with the token', async () => {
      expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await scrape(server.url, TOKEN)).status).toBe(404);
      const res = await scrape(server.metricsUrl!, TOKEN);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(PROMETHEUS);
      expect((await scrape(server.metricsUrl!)).status).toBe(401); // the token still applies there
    });

    it('serves nothing else of palmid on the metrics port', async () => {
      for (const p of ['/healthz', '/.well-known/openid-configuration', '/admin', '/jwks']) {
        expect((await fetch(`${server.metricsUrl}${p}`)).status, p).toBe(404);
      }
    });
  });

  it('refuses a short token at start', () => {
    expect(() => loadConfig({ PALMID_METRICS_TOKEN: 'short' })).toThrow(/PALMID_METRICS_TOKEN/);
  });
});

describe('the warning about an untrusted TLS proxy', () => {
  it('warns when the issuer is https and PALMID_TRUST_PROXY is off', () => {
    expect(untrustedProxyWarning({ issuer: 'https://id.example.org', trustProxy: false })).toMatch(
      /PALMID_TRUST_PROXY.*Secure/s,
    );
  });
  it('stays quiet when the proxy is trusted, or when palmid is reached over plain http', () => {
    expect(untrustedProxyWarning({ issuer: 'https://id.example.org', trustProxy: true })).toBeUndefined();
    expect(untrustedProxyWarning({ issuer: 'http://localhost:3000', trustProxy: false })).toBeUndefined();
  });
});
