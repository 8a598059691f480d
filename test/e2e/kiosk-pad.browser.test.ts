/**
 * Liveness at the kiosk, in Chromium with a fake camera: the tracker takes the ready frame, asks a
 * random challenge (close the fingers, or turn the hand), sends the frames taken while the person
 * follows it in one envelope with `pad.challenge`; a reader whose client requires PAD refuses a
 * replayed still (the camera shows a photo that never moves) and the kiosk says "Not live".
 * Needs `npm run build` (the page's reader-crypto.js) and the COEP dev hands (skipped when absent);
 * the fake camera's video is written under os.tmpdir() and deleted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHALLENGES_FROM_OPEN_HAND } from '../../src/palm/index.js';
import { issueActivationCode } from '../../src/readers/activation.js';
import { addReader } from '../../src/readers/registry.js';
import { CHROMIUM, launchWithCamera, photoVideo } from '../support/fakeCamera.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { enrolAnaAtOffice } from '../support/browser.js';

const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const ready = fs.existsSync(CHROMIUM) && fs.existsSync(COEP);
const photo = (id: number, s: number) => path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`);
const WAIT = 120_000;

describe.skipIf(!ready)('kiosk liveness challenge (Chromium, fake camera)', () => {
  let server: TestServer;
  let videos: string;
  let browser: Browser;

  beforeAll(async () => {
    videos = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-kiosk-pad-'));
    await photoVideo(photo(2, 3), path.join(videos, 'still.y4m'));
    server = await startTestServer({ name: 'pglite' });
    await enrolAnaAtOffice(server);
    browser = await launchWithCamera(path.join(videos, 'still.y4m'));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (videos) fs.rmSync(videos, { recursive: true, force: true });
  });

  it('asks a random challenge and refuses a replayed still at a reader that requires PAD: "Not live"', {
    timeout: 300_000,
  }, async () => {
    const reader = await addReader(server.db, server.provider(), {
      tenantId: 'office',
      name: 'Strict lobby',
      requirePad: true,
    });
    const { code } = await issueActivationCode(server.db, reader.client_id);
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(WAIT);
    const envelopes: number[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.endsWith('/backchannel')) envelopes.push((r.postData() ?? '').length);
    });
    await page.goto(`${server.issuer}/kiosk`);
    expect(JSON.parse((await page.locator('#kiosk').getAttribute('data-challenges'))!)).toEqual([
      ...CHALLENGES_FROM_OPEN_HAND,
    ]);
    await page.locator('#activation-code').fill(code);
    await page.locator('#activate-button').click();
    await page.locator('#reader').waitFor({ state: 'visible' });
    // the tracker sees the still, takes the ready frame, asks the challenge, then sends
    await page.waitForFunction(() => document.getElementById('reader')!.dataset.tracker === 'live', undefined, {
      timeout: WAIT,
    });
    const result = await page.waitForFunction(() => {
      const text = document.getElementById('result')!.textContent!;
      return /Welcome|Not recognised|Not live/.test(text) && text;
    });
    expect(String(await result.jsonValue())).toMatch(/^Not live/);
    const view = page.locator('#reader');
    expect(await view.getAttribute('data-outcome')).toBe('not_live');
    expect(CHALLENGES_FROM_OPEN_HAND).toContain(await view.getAttribute('data-challenge'));
    expect(await page.locator('#kiosk-status').textContent()).toMatch(/did not move as asked/);
    // one envelope: the ready frame and the challenge frames together, past oidc-provider's 56 KB body
    expect(envelopes.length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...envelopes)).toBeGreaterThan(56 * 1024);
  });
});
