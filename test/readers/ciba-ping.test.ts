import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { importJWK, type JWK } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { sealEnvelope } from '../../src/readers/envelope.js';
import { addReader, type ReaderCredentials } from '../../src/readers/registry.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/tongji-roi');
const haveData = fs.existsSync(DATA);
const sample = (palm: number, s: number) =>
  fs.readFileSync(path.join(DATA, `${String(palm).padStart(3, '0')}_${String(s).padStart(2, '0')}.bmp`));
let haveOpenssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  haveOpenssl = false;
}

/**
 * CIBA ping delivery: the reader's notification endpoint (https, as CIBA requires; here a
 * local server with a certificate made for the test) receives the auth_req_id with the reader's
 * client_notification_token, then the reader fetches its tokens. openid-client plays the reader.
 */
describe.skipIf(!haveData || !haveOpenssl).each(databaseKinds)('CIBA ping delivery to a reader ($name)', (kind) => {
  let server: TestServer;
  let endpoint: https.Server;
  let endpointUrl: string;
  let anaId: string;
  let reader: ReaderCredentials;
  let tmp: string;
  const pings: { authorization: string | undefined; body: { auth_req_id?: string } }[] = [];
  let pingStatus = 204;
  let sawDispatcher = false;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-ping-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        path.join(tmp, 'key.pem'),
        '-out',
        path.join(tmp, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const cert = fs.readFileSync(path.join(tmp, 'cert.pem'));
    endpoint = https.createServer({ key: fs.readFileSync(path.join(tmp, 'key.pem')), cert }, (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        pings.push({ authorization: req.headers.authorization, body: JSON.parse(body || '{}') });
        res.writeHead(pingStatus).end();
      });
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    endpointUrl = `https://localhost:${(endpoint.address() as AddressInfo).port}/ciba`;

    // The provider's outgoing requests trust the test's certificate (in production:
    // NODE_EXTRA_CA_CERTS), and reach a loopback address only because the test allows it.
    const trustingFetch: typeof fetch = async (url, init) => {
      const options = init as RequestInit & { dispatcher?: unknown };
      if (options.dispatcher) sawDispatcher = true;
      return new Promise<Response>((resolve, reject) => {
        const req = https.request(
          String(url),
          {
            method: options.method ?? 'GET',
            headers: Object.fromEntries(new Headers(options.headers).entries()),
            ca: cert,
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(new Response(null, { status: res.statusCode ?? 500 })));
          },
        );
        req.on('error', reject);
        req.end(options.body as string | undefined);
      });
    };
    server = await startTestServer(kind, { PALMID_NOTIFY_PRIVATE_NETWORKS: 'true' }, { fetch: trustingFetch });
    await addTenant(server.db, { id: 'office', name: 'Office' });
    const ana = await createPerson(server.db, { email: 'ana@example.org', role: 'user' });
    anaId = ana.id;
    await recordConsent(server.db, ana.id, 'office', 1);
    await enrolPalm(new BiometricContext(server.db, server.master), {
      personId: ana.id,
      tenantId: 'office',
      hand: 'right',
      captures: [1, 2, 3].map((s) => sample(5, s)),
      kind: 'roi',
    });
    reader = await addReader(server.db, server.provider(), {
      tenantId: 'office',
      name: 'Door',
      deliveryMode: 'ping',
      notificationEndpoint: endpointUrl,
    });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await new Promise((resolve) => endpoint?.close(resolve));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function startSignIn(token: string) {
    const key = (await importJWK(reader.key, 'ES256')) as CryptoKey;
    const config = await oidc.discovery(
      new URL(server.issuer),
      reader.client_id,
      { token_endpoint_auth_signing_alg: 'ES256' },
      oidc.PrivateKeyJwt({ key, kid: reader.key.kid }),
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
    const jwks = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: JWK[] };
    const envelope = await sealEnvelope({
      readerId: reader.client_id,
      issuer: server.issuer,
      readerKey: reader.key,
      captureKey: jwks.keys.find((k) => k.use === 'enc')!,
      images: [sample(5, 12)],
      kind: 'roi',
    });
    const started = await oidc.initiateBackchannelAuthentication(config, {
      scope: 'openid email',
      login_hint_token: envelope,
      client_notification_token: token,
    });
    return { config, started };
  }

  it('notifies the reader with its token and the auth_req_id, then hands out the tokens', async () => {
    const token = 'door-notification-token-1';
    const { config, started } = await startSignIn(token);
    // palmid completes the request before it answers: the ping has arrived by now.
    expect(pings.at(-1)).toEqual({ authorization: `Bearer ${token}`, body: { auth_req_id: started.auth_req_id } });
    expect(sawDispatcher).toBe(false); // PALMID_NOTIFY_PRIVATE_NETWORKS lifted the SSRF guard
    const tokens = await oidc.genericGrantRequest(config, 'urn:openid:params:grant-type:ciba', {
      auth_req_id: started.auth_req_id,
    });
    expect(tokens.claims()).toMatchObject({ sub: anaId, acr: 'urn:palmid:acr:palm', amr: ['palm'] });
  });

  it('still hands out the tokens when the notification endpoint fails, and records the failed ping', async () => {
    pingStatus = 500;
    try {
      const { config, started } = await startSignIn('door-notification-token-2');
      const tokens = await oidc.genericGrantRequest(config, 'urn:openid:params:grant-type:ciba', {
        auth_req_id: started.auth_req_id,
      });
      expect(tokens.claims()?.sub).toBe(anaId);
      expect(
        await server.db.prisma.auditEvent.count({ where: { action: 'signin.ping_failed', actor: reader.client_id } }),
      ).toBe(1);
    } finally {
      pingStatus = 204;
    }
  });
});
