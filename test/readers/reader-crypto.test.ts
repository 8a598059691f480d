import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as jose from 'jose';
import type { JWK } from 'jose';
import Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { compiledModule, staticRoutes } from '../../src/http/routes/static.js';
import * as envelope from '../../src/readers/envelope.js';
import { openEnvelope } from '../../src/readers/envelope.js';
// The kiosk page's own code (served compiled at /static/reader-crypto.js), run here on Node's
// WebCrypto with the jose package (the page gets jose's browser build from /static/jose/index.js).
import { readerCrypto } from '../../src/readers/readerCrypto.js';

const { clientAssertion, sealEnvelope } = readerCrypto(jose);

/** The browser reader's JWS and JWE must be what the provider (jose) accepts. */
describe("the kiosk's envelope and client assertion (jose on WebCrypto)", () => {
  async function keys() {
    const reader = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const readerPublic = { ...(await jose.exportJWK(reader.publicKey)), kid: 'kiosk-1', alg: 'ES256' };
    const capture = await jose.generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
    const capturePrivate = {
      ...(await jose.exportJWK(capture.privateKey)),
      kid: 'cap-1',
      alg: 'ECDH-ES',
      use: 'enc',
    } as JWK;
    const capturePublic = {
      ...(await jose.exportJWK(capture.publicKey)),
      kid: 'cap-1',
      alg: 'ECDH-ES',
      use: 'enc',
    } as JWK;
    return { reader, readerPublic, capturePrivate, capturePublic };
  }

  it('seals an envelope that openEnvelope decrypts and verifies, images intact', async () => {
    const k = await keys();
    const image = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256);
    const token = await sealEnvelope({
      readerId: 'rdr_1',
      issuer: 'http://localhost:3000',
      readerKey: k.reader.privateKey,
      kid: 'kiosk-1',
      captureKey: k.capturePublic,
      images: [image],
      kind: 'hand',
    });
    expect(token.split('.')).toHaveLength(5);
    expect(token.split('.')[1]).toBe(''); // direct key agreement: no encrypted key
    expect(jose.decodeProtectedHeader(token)).toMatchObject({
      alg: 'ECDH-ES',
      enc: 'A256GCM',
      cty: 'JWT',
      kid: 'cap-1',
      epk: { kty: 'EC', crv: 'P-256' },
    });
    const claims = await openEnvelope(token, {
      captureKeys: [k.capturePrivate],
      readerId: 'rdr_1',
      readerKeys: [k.readerPublic],
      issuer: 'http://localhost:3000',
    });
    expect(claims).toMatchObject({ iss: 'rdr_1', aud: 'http://localhost:3000', kind: 'hand' });
    expect(Buffer.from(claims.images[0]!, 'base64')).toEqual(Buffer.from(image));
    expect(claims.exp - claims.iat).toBe(30);
    const { plaintext } = await jose.compactDecrypt(token, await jose.importJWK(k.capturePrivate, 'ECDH-ES'));
    const inner = await jose.compactVerify(new TextDecoder().decode(plaintext), k.reader.publicKey);
    expect(inner.protectedHeader).toEqual({ alg: 'ES256', typ: 'palm-capture+jwt', kid: 'kiosk-1' });

    // Another reader's key, or another capture key, is refused.
    const other = await keys();
    await expect(
      openEnvelope(token, {
        captureKeys: [k.capturePrivate],
        readerId: 'rdr_1',
        readerKeys: [other.readerPublic],
        issuer: 'http://localhost:3000',
      }),
    ).rejects.toMatchObject({ failure: 'bad_signature' });
    await expect(
      openEnvelope(token, {
        captureKeys: [other.capturePrivate],
        readerId: 'rdr_1',
        readerKeys: [k.readerPublic],
        issuer: 'http://localhost:3000',
      }),
    ).rejects.toMatchObject({ failure: 'undecryptable' });
  });

  it('signs a private_key_jwt client assertion jose verifies', async () => {
    const k = await keys();
    const assertion = await clientAssertion({
      clientId: 'rdr_1',
      audience: 'http://localhost:3000',
      readerKey: k.reader.privateKey,
      kid: 'kiosk-1',
    });
    const { payload, protectedHeader } = await jose.jwtVerify(assertion, k.reader.publicKey, {
      issuer: 'rdr_1',
      audience: 'http://localhost:3000',
      subject: 'rdr_1',
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'kiosk-1', typ: 'JWT' });
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
  });
});

/**
 * One sealer: the page gets src/readers/readerCrypto.ts compiled, and the Node side (CLI reader,
 * tests) uses the same module through src/readers/envelope.ts.
 */
describe('/static/reader-crypto.js: the reader module the page runs', () => {
  async function served(): Promise<{ type: string | null; code: string }> {
    const app = new Koa().use(staticRoutes().routes());
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const response = await fetch(
        `http://127.0.0.1:${(server.address() as AddressInfo).port}/static/reader-crypto.js`,
      );
      expect(response.status).toBe(200);
      return { type: response.headers.get('content-type'), code: await response.text() };
    } finally {
      server.close();
    }
  }

  it('is src/readers/readerCrypto.ts compiled, and seals an envelope openEnvelope accepts', async () => {
    const { type, code } = await served();
    expect(type).toBe('text/javascript; charset=utf-8');
    expect(code).not.toMatch(/^import /m); // jose is passed in: the page resolves nothing
    expect(code).not.toMatch(/sourceMappingURL/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-reader-crypto-'));
    try {
      const file = path.join(dir, 'reader-crypto.mjs');
      fs.writeFileSync(file, code);
      const page = (await import(
        /* @vite-ignore */ pathToFileURL(file).href
      )) as typeof import('../../src/readers/readerCrypto.js');
      const node = await import('../../src/readers/readerCrypto.js');
      // The same module: the same exports, the same envelope type and budget.
      expect(Object.keys(page).sort()).toEqual(Object.keys(node).sort());
      for (const [name, value] of Object.entries(node))
        if (typeof value !== 'function') expect(page[name as keyof typeof page], name).toEqual(value);
      expect(envelope.ENVELOPE_TYPE).toBe(page.ENVELOPE_TYPE);
      expect(envelope.MAX_IMAGES).toBe(page.MAX_IMAGES);
      expect(envelope.MAX_ENVELOPE_LIFETIME_SECONDS).toBe(page.MAX_ENVELOPE_LIFETIME_SECONDS);

      const reader = await jose.generateKeyPair('ES256', { extractable: true });
      const capture = await jose.generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
      const capturePublic = { ...(await jose.exportJWK(capture.publicKey)), kid: 'cap-1', use: 'enc', alg: 'ECDH-ES' };
      const capturePrivate = { ...(await jose.exportJWK(capture.privateKey)), kid: 'cap-1' } as JWK;
      const readerPublic = { ...(await jose.exportJWK(reader.publicKey)), kid: 'r-1' } as JWK;
      const open = (token: string) =>
        openEnvelope(token, {
          captureKeys: [capturePrivate],
          readerId: 'rdr_1',
          readerKeys: [readerPublic],
          issuer: 'http://localhost:3000',
        });
      const image = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 31) % 256);
      const input = {
        readerId: 'rdr_1',
        issuer: 'http://localhost:3000',
        readerKey: reader.privateKey,
        kid: 'r-1',
        captureKey: capturePublic,
        images: [image],
        kind: 'hand' as const,
      };
      // The page's sealer (WebCrypto key) and the Node path (envelope.ts, a private JWK) alike.
      const fromPage = await open(await page.readerCrypto(jose).sealEnvelope(input));
      const fromNode = await open(
        await envelope.sealEnvelope({
          ...input,
          readerKey: { ...(await jose.exportJWK(reader.privateKey)), kid: 'r-1' },
        }),
      );
      for (const claims of [fromPage, fromNode]) {
        expect(claims).toMatchObject({ iss: 'rdr_1', aud: 'http://localhost:3000', kind: 'hand' });
        expect(claims.exp - claims.iat).toBe(page.DEFAULT_ENVELOPE_LIFETIME_SECONDS);
        expect(Buffer.from(claims.images[0]!, 'base64')).toEqual(Buffer.from(image));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("from dist/ serves tsc's output as it is, less its source-map comment", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-compiled-'));
    try {
      fs.writeFileSync(path.join(dir, 'm.js'), 'export const a = 1;\n//# sourceMappingURL=m.js.map\n');
      fs.writeFileSync(path.join(dir, 'm.ts'), 'export const a: number = 2;\n');
      expect((await compiledModule(pathToFileURL(path.join(dir, 'm.js')))).toString()).toBe('export const a = 1;\n');
      // Without a compiled file (running from the sources), the TypeScript beside it, compiled.
      fs.rmSync(path.join(dir, 'm.js'));
      expect((await compiledModule(pathToFileURL(path.join(dir, 'm.js')))).toString().trim()).toBe(
        'export const a = 2;',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
