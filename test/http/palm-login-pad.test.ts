/**
 * Liveness (PAD) at the browser palm login, through the endpoints the page calls: a random
 * challenge bound to the interaction (GET /interaction/:uid/palm/challenge), then one try as JSON
 * {challenge_token, frames} (POST /interaction/:uid/palm). A client registered with
 * palmid_require_pad accepts only tries shown live: a single raw frame is refused before it is
 * read, a replayed still (the same frame repeated, or moved rigidly) is a rejected capture (422
 * not_live) and nothing signs in. Other clients sign in with a still, unchecked (amr palm only).
 * The dev set has no live video: the route's handling of a live verdict is tested with PAD's verdict
 * forced (and what it was asked checked); real verdicts are asserted only for refusals (stills, and
 * a SYNTHETIC closing hand, src/palm/devtools/live-sequence.ts, asked to turn instead).
 * A refusal says one generic message whatever PAD check failed; the reasons are in the audit log
 * only. The identified (first) frame must be part of PAD's track: a still of the enrolled person
 * spliced in front of another hand's frames does not sign in, nor does a palm crop as frame 0.
 * Whole-hand COEP dev photos and the hand models; skipped when absent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AMR_PAD } from '../../src/acr.js';
import { createPerson } from '../../src/accounts/people.js';
import { addTenant, recordConsent } from '../../src/accounts/tenants.js';
import { BiometricContext } from '../../src/biometrics/context.js';
import { enrolPalm } from '../../src/biometrics/enrolment.js';
import { FRAMES_PER_SIGN_IN } from '../../src/http/routes/palmLogin.js';
import { NOT_LIVE_MESSAGE } from '../../src/oidc/palmLogin.js';
import { CHALLENGE_SECONDS, PalmChallenges } from '../../src/oidc/palmChallenge.js';
import { locateRoi } from '../../src/palm/roi.js';
import { liveSequence } from '../../src/palm/devtools/live-sequence.js';
import { attackSequence } from '../../src/palm/devtools/pad-attacks.js';
import { handModelEntries } from '../../src/palm/hand/detector.js';
import type { RasterImage } from '../../src/palm/image.js';
import { UserAgent } from '../support/browserless.js';
import { discoverRp } from '../support/oidc.js';
import { databaseKinds, startTestServer, type TestServer } from '../support/server.js';

const pad = vi.hoisted(() => ({
  forceLive: false,
  asked: [] as { challenge: string | undefined; frames: number; passes: number | undefined }[],
}));
vi.mock('../../src/palm/pad/index.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/palm/pad/index.js')>();
  return {
    ...real,
    checkLiveness: (frames: RasterImage[], opts?: Parameters<typeof real.checkLiveness>[1]) => {
      pad.asked.push({ challenge: opts?.challenge, frames: frames.length, passes: opts?.passes?.length });
      return pad.forceLive
        ? Promise.resolve({ verdict: 'live', reasons: [], frames: frames.length, framesWithHand: frames.length })
        : real.checkLiveness(frames, opts);
    },
  };
});

const COEP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/palm/coep-hands');
const haveData = fs.existsSync(COEP) && handModelEntries() !== null;
const photoFile = (id: number, s: number) => path.join(COEP, `${String(id).padStart(3, '0')}_0${s}.jpg`);
const BODY_LIMIT = 64 * 1024; // the default PALMID_BODY_LIMIT, which the page's try must fit in

async function raster(file: string): Promise<RasterImage> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data) };
}

/**
 * A frame as the page sends it (views/static/palm-capture.js grabFrame): JPEG at most 640 wide,
 * lower quality then smaller until it fits `maxBytes`.
 */
async function pageJpeg(img: RasterImage, maxBytes: number): Promise<Buffer> {
  for (const scale of [1, 0.8, 0.64, 0.5]) {
    const width = Math.round(Math.min(640, img.width) * scale);
    for (const quality of [90, 80, 70, 60]) {
      const jpeg = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } })
        .resize({ width })
        .jpeg({ quality })
        .toBuffer();
      if (jpeg.length <= maxBytes) return jpeg;
    }
  }
  throw new Error('frame does not fit');
}

/** A try's frames within the body limit the way palm-login.js splits it: 40% the ready frame, the rest shared. */
async function tryFrames(frames: RasterImage[]): Promise<string[]> {
  const bytes = Math.floor(((BODY_LIMIT - 1024) * 3) / 4);
  const out: string[] = [];
  for (const [i, frame] of frames.entries()) {
    const budget = i === 0 ? Math.floor(bytes * 0.4) : Math.floor((bytes * 0.6) / (frames.length - 1));
    out.push((await pageJpeg(frame, budget)).toString('base64'));
  }
  return out;
}

describe.skipIf(!haveData).each(databaseKinds)('liveness at the browser palm login ($name)', (kind) => {
  let server: TestServer;
  let strict: { client_id: string; client_secret: string | undefined };
  let portal: { client_id: string; client_secret: string | undefined };
  let anaId: string;
  const redirectUri = 'http://127.0.0.1:9/cb';
  let lastAddress = 0;
  let still: RasterImage;
  let closing: RasterImage[];

  beforeAll(async () => {
    server = await startTestServer(kind, { PALMID_TRUST_PROXY: 'true' });
    await addTenant(server.db, { id: 'office', name: 'Office' });
    const ana = await createPerson(server.db, { email: 'ana@example.org', role: 'user' });
    anaId = ana.id;
    await recordConsent(server.db, ana.id, 'office', 1);
    await enrolPalm(new BiometricContext(server.db, server.master), {
      personId: ana.id,
      tenantId: 'office',
      hand: 'right',
      captures: [1, 2].map((s) => fs.readFileSync(photoFile(2, s))),
      kind: 'hand',
      minCaptures: 2,
    });
    strict = await server.addClient({ name: 'Bank', redirectUris: [redirectUri], tenant: 'office', requirePad: true });
    portal = await server.addClient({ name: 'Portal', redirectUris: [redirectUri], tenant: 'office' });
    still = await raster(photoFile(2, 3));
    const sequence = await liveSequence(still, 'browser-login', { frames: 4 });
    if (!sequence) throw new Error('no hand on the dev photo');
    closing = sequence;
  }, 240_000);
  afterAll(async () => server?.stop());

  async function startLogin(client: { client_id: string; client_secret: string | undefined }) {
    const rp = await discoverRp(server, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const agent = new UserAgent();
    const { response, url: page } = await agent.follow(url.href, server.issuer);
    const uid = /\/interaction\/([^/?#]+)$/.exec(page)![1]!;
    // each login from an address of its own: the not-live refusals cost the address attempts
    const address = `198.51.100.${++lastAddress}`;
    return { rp, verifier, agent, uid, address, html: await response.text() };
  }
  type Login = Awaited<ReturnType<typeof startLogin>>;

  const getChallenge = async (login: Login) => {
    const res = await login.agent.fetch(`${server.issuer}/interaction/${login.uid}/palm/challenge`);
    return { status: res.status, cache: res.headers.get('cache-control'), body: (await res.json()) as never };
  };
  /** A challenge token for this login asking for `wanted` (the server picks at random: ask until it does). */
  async function challengeFor(login: Login, wanted: 'close' | 'tilt'): Promise<string> {
    for (let i = 0; i < 40; i++) {
      const { body } = await getChallenge(login);
      const { challenge, token } = body as { challenge: string; token: string };
      if (challenge === wanted) return token;
    }
    throw new Error(`the server never asked for ${wanted}`);
  }
  const post = (login: Login, init: { type: string; body: string | Uint8Array }) =>
    login.agent.fetch(`${server.issuer}/interaction/${login.uid}/palm`, {
      method: 'POST',
      headers: { 'content-type': init.type, 'x-forwarded-for': login.address },
      body: init.body,
    });
  const sendTry = async (login: Login, token: string, frames: string[]) => {
    const res = await post(login, {
      type: 'application/json',
      body: JSON.stringify({ challenge_token: token, frames }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  async function finish(login: Login, redirectTo: string) {
    let { response, url } = await login.agent.follow(redirectTo, server.issuer);
    if ((await response.text()).includes('/confirm"')) {
      ({ url } = await login.agent.follow(
        `${server.issuer}/interaction/${/\/interaction\/([^/?#]+)/.exec(url)![1]}/confirm`,
        server.issuer,
        { method: 'POST' },
      ));
    }
    expect(url.startsWith(redirectUri)).toBe(true);
    return oidc.authorizationCodeGrant(login.rp, new URL(url), { pkceCodeVerifier: login.verifier });
  }
  const palmSignIns = () => server.db.prisma.auditEvent.count({ where: { action: 'signin.palm', subject: anaId } });
  /** The reasons the audit log holds for the last try not shown live (the client never sees them). */
  const lastNotLive = async () => {
    const event = await server.db.prisma.auditEvent.findFirst({
      where: { action: 'signin.not_live' },
      orderBy: { id: 'desc' },
    });
    return event?.detail as { reasons: string[]; channel: string; challenge: string } | undefined;
  };
  /** The generic refusal: no hint of which check failed. */
  const notLiveBody = (body: Record<string, unknown>) => {
    expect(body).toEqual({ error: 'capture_rejected', reason: 'not_live', error_description: NOT_LIVE_MESSAGE });
  };

  it('hands out a random challenge bound to the interaction, and refuses foreign, expired and altered tokens', async () => {
    const login = await startLogin(strict);
    // the page offers the palm to a client that requires PAD, on the challenge path only
    expect(login.html).toContain('id="palm"');
    expect(login.html).toContain('data-require-pad="true"');
    expect(login.html).toContain(`data-challenge="/interaction/${login.uid}/palm/challenge"`);
    const issued = await getChallenge(login);
    expect(issued.status).toBe(200);
    expect(issued.cache).toBe('no-store');
    expect(issued.body).toMatchObject({ challenge: expect.stringMatching(/^(close|tilt)$/), expires_in: 30 });
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add(((await getChallenge(login)).body as { challenge: string }).challenge);
    expect([...seen].sort()).toEqual(['close', 'tilt']); // both come up (chance of failing: 2^-29)

    const frames = await tryFrames([still, still]);
    const refusedWith = async (token: string) => {
      const res = await sendTry(login, token, frames);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body).toMatchObject({
        error: 'invalid_request',
        error_description: expect.stringMatching(/challenge/),
      });
    };
    // another interaction's token
    const other = await startLogin(strict);
    await refusedWith(((await getChallenge(other)).body as { token: string }).token);
    // expired: issued by the same key, its lifetime over
    const past = new PalmChallenges(server.master, () => Date.now() - (CHALLENGE_SECONDS + 1) * 1000);
    await refusedWith(past.issue(login.uid).token);
    // altered: the challenge changed in the payload, or the MAC itself
    const { token } = issued.body as { token: string };
    const [payload, mac] = token.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const swapped = Buffer.from(
      JSON.stringify({ ...claims, challenge: claims.challenge === 'close' ? 'tilt' : 'close' }),
    ).toString('base64url');
    await refusedWith(`${swapped}.${mac}`);
    await refusedWith(`${payload}.${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BB' : 'AA'}`);
    await refusedWith('');
    // a key of another installation
    const { MasterKey } = await import('../../src/crypto/masterKey.js');
    await refusedWith(new PalmChallenges(MasterKey.fromBytes(Buffer.alloc(32, 7))).issue(login.uid).token);
    // the valid token works (a still: not live, a rejected capture, not a 400)
    const valid = await sendTry(login, token, frames);
    expect(valid.status, JSON.stringify(valid.body)).toBe(422);
    expect(valid.body.reason).toBe('not_live');
  }, 120_000);

  it('refuses malformed tries before reading them', async () => {
    const login = await startLogin(portal);
    const token = ((await getChallenge(login)).body as { token: string }).token;
    for (const frames of [[], ['a', 'b', 'c', 'd', 'e', 'f'], ['not base64!'], [42]]) {
      const res = await sendTry(login, token, frames as string[]);
      expect(res.status, JSON.stringify(frames)).toBe(400);
    }
    // within the body limit in all: a larger try is refused unread
    const big = await sendTry(login, token, ['A'.repeat(BODY_LIMIT)]);
    expect(big.status).toBe(413);
  }, 60_000);

  it('refuses a single raw frame for a client that requires PAD, before reading it', async () => {
    const login = await startLogin(strict);
    const res = await post(login, { type: 'image/jpeg', body: new Uint8Array([0xff, 0xd8, 0xff, 0xd9]) });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      error: 'access_denied',
      error_description: expect.stringMatching(/liveness check/),
    });
  });

  it('refuses a replayed still for a client that requires PAD: 422 not_live, nobody signed in', async () => {
    const before = await palmSignIns();
    const repeated = await tryFrames([still, still, still, still]);
    const moved = await tryFrames(await attackSequence('rigid', [still], 4, 'browser-login'));
    for (const [name, frames] of [
      ['repeated', repeated],
      ['moved rigidly', moved],
    ] as const) {
      for (const challenge of ['close', 'tilt'] as const) {
        const login = await startLogin(strict);
        const res = await sendTry(login, await challengeFor(login, challenge), frames);
        expect(res.status, `${name} ${challenge}: ${JSON.stringify(res.body)}`).toBe(422);
        notLiveBody(res.body);
        const audited = await lastNotLive();
        expect(audited).toMatchObject({ channel: 'browser', challenge });
        expect(audited?.reasons).toEqual(expect.arrayContaining([expect.any(String)]));
      }
    }
    expect(await palmSignIns()).toBe(before);
  }, 180_000);

  it('signs a still in for a client without the requirement, unchecked: amr palm only', async () => {
    const login = await startLogin(portal);
    const res = await sendTry(login, await challengeFor(login, 'close'), await tryFrames([still, still, still]));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const tokens = await finish(login, res.body.redirectTo as string);
    expect(tokens.claims()).toMatchObject({ sub: anaId, acr: 'urn:palmid:acr:palm', amr: ['palm'] });
  }, 60_000);

  it('marks a try PAD shows live (verdict forced) with the PAD amr, checked against the token’s challenge', async () => {
    const frames = await tryFrames([still, still, still]);
    pad.forceLive = true;
    try {
      for (const client of [strict, portal]) {
        const login = await startLogin(client);
        pad.asked = [];
        const res = await sendTry(login, await challengeFor(login, 'tilt'), frames);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        // once, on every frame, with the token's challenge and the hands detected once (recognition's too)
        expect(pad.asked).toEqual([{ challenge: 'tilt', frames: 3, passes: 3 }]);
        const tokens = await finish(login, res.body.redirectTo as string);
        expect(tokens.claims()).toMatchObject({ sub: anaId, acr: 'urn:palmid:acr:palm', amr: ['palm', AMR_PAD] });
      }
      // a stranger's try costs no PAD for a client without the requirement (PAD only after a match)
      const stranger = await startLogin(portal);
      pad.asked = [];
      const unknown = await sendTry(
        stranger,
        await challengeFor(stranger, 'close'),
        await tryFrames([await raster(photoFile(30, 2)), still]),
      );
      expect(unknown.status).toBe(401);
      expect(pad.asked).toEqual([]);
    } finally {
      pad.forceLive = false;
    }
  }, 120_000);

  it('refuses a hand closing its fingers when the challenge asked to turn it', async () => {
    // The SYNTHETIC closing hand (live-sequence.ts) is not accepted as live under today's
    // thresholds even when 'close' was asked (its spread changes 2-5°, PAD.minSpreadChange is 6°),
    // so the accepted path is tested with the verdict forced above; here only a refusal
    // that must hold whatever the thresholds: the movement was not the one asked.
    const login = await startLogin(strict);
    const refused = await sendTry(login, await challengeFor(login, 'tilt'), await tryFrames(closing));
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    notLiveBody(refused.body);
    expect((await lastNotLive())?.reasons).toEqual(expect.arrayContaining(['challenge_not_followed']));
  }, 120_000);

  it("refuses the enrolled person's photo spliced in front of another person's moving hand (real verdict)", async () => {
    // frame 0 (identified) is Ana's still; the "movement" is another person's hand closing (synthetic)
    const other = await liveSequence(await raster(photoFile(30, 2)), 'splice', { frames: 4 });
    if (!other) throw new Error('no hand on the dev photo');
    const before = await palmSignIns();
    for (const challenge of ['close', 'tilt'] as const) {
      const login = await startLogin(strict);
      pad.asked = [];
      const res = await sendTry(
        login,
        await challengeFor(login, challenge),
        await tryFrames([still, ...other.slice(1)]),
      );
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      notLiveBody(res.body);
      expect(pad.asked).toEqual([{ challenge, frames: 4, passes: 4 }]);
    }
    expect(await palmSignIns()).toBe(before);
  }, 180_000);

  it('reads the ready frame as a whole hand: a palm crop as frame 0 is not identified (even with PAD forced live)', async () => {
    const roi = (await locateRoi(still, 'hand')).roi;
    const crop = (
      await sharp(Buffer.from(roi.data), { raw: { width: roi.width, height: roi.height, channels: 1 } })
        .png()
        .toBuffer()
    ).toString('base64');
    const frames = await tryFrames([still, still, still]);
    frames[0] = crop; // within the ready frame's share of the body
    const before = await palmSignIns();
    pad.forceLive = true;
    try {
      const login = await startLogin(strict);
      const res = await sendTry(login, await challengeFor(login, 'close'), frames);
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.reason).not.toBe('not_live'); // refused as a picture with no hand, before PAD
    } finally {
      pad.forceLive = false;
    }
    expect(await palmSignIns()).toBe(before);
  }, 120_000);

  it('spends the frame budget on the count of frames before the token is checked, and one unit per challenge', async () => {
    const login = await startLogin(portal);
    const five = ['AAAA', 'AAAA', 'AAAA', 'AAAA', 'AAAA'];
    for (let spent = 0; spent + 5 <= FRAMES_PER_SIGN_IN; spent += 5)
      expect((await sendTry(login, 'forged', five)).status).toBe(400);
    // the budget is spent by tries whose token was refused: nothing more, not even a challenge
    expect((await sendTry(login, 'forged', ['AAAA'])).status).toBe(429);
    expect((await getChallenge(login)).status).toBe(429);

    const drawing = await startLogin(portal);
    for (let i = 0; i < FRAMES_PER_SIGN_IN; i++) expect((await getChallenge(drawing)).status).toBe(200);
    expect((await getChallenge(drawing)).status).toBe(429);
  }, 120_000);
});
