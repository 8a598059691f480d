/**
 * The backchannel authentication request's body is read with its own, larger limit (a reader's PAD
 * sequence does not fit oidc-provider's 56 KB): explicit bounds, and every other endpoint keeps
 * oidc-provider's own parser and limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BACKCHANNEL_BODY_BYTES } from '../../src/readers/envelope.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('backchannel authentication body', () => {
  let server: TestServer;
  let metadata: { backchannel_authentication_endpoint: string; token_endpoint: string };
  beforeAll(async () => {
    server = await startTestServer({ name: 'pglite' });
    metadata = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json();
  }, 120_000);
  afterAll(async () => server?.stop());

  /** A form body of exactly `bytes` bytes. */
  const post = (url: string, bytes: number) => {
    const head = 'client_id=nobody&login_hint_token=';
    const body = head + 'a'.repeat(bytes - head.length);
    expect(body.length).toBe(bytes);
    return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  };

  it('reads a body of a PAD sequence at the backchannel endpoint, up to its explicit limit', async () => {
    // 300 KB: past oidc-provider's own limit, within the backchannel's: read, and answered by the provider
    const read = await post(metadata.backchannel_authentication_endpoint, 300 * 1024);
    expect(read.status).toBe(401);
    expect((await read.json()).error).toBe('invalid_client');
    const atLimit = await post(metadata.backchannel_authentication_endpoint, MAX_BACKCHANNEL_BODY_BYTES);
    expect(atLimit.status).toBe(401);
    const tooLarge = await post(metadata.backchannel_authentication_endpoint, MAX_BACKCHANNEL_BODY_BYTES + 1);
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('keeps the configured limit everywhere else', async () => {
    const token = await post(metadata.token_endpoint, 300 * 1024);
    expect(token.status).toBe(413);
    expect((await token.json()).error).toBe('invalid_request');
  });
});
