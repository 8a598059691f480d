/**
 * Readers sign people in through CIBA: the reader (an OIDC client) sends its capture envelope as
 * `login_hint_token`; the provider opens it, identifies the palm among the people who consented
 * to the reader's tenant, optionally checks the PIN (`user_code`), and completes the request at
 * once. The images live only inside processLoginHintToken. Failed palms slow the reader (a rate
 * limit, never a lock on the gate); wrong PINs count against the person (NIST SP 800-63B-4).
 *
 * Liveness (PAD, src/palm/pad): the PAD amr is given only when the frame the person was identified
 * on is the first frame of a track PAD shows live (identifiedFirst), so a still of someone else
 * cannot be spliced in front of a live hand. Why frames were not shown live goes to the audit log
 * only; the reader gets one message (a replay attacker learns nothing about which check failed).
 * The envelope's base64 text is emptied out of the claims after use and left to the garbage
 * collector (strings cannot be zeroed); the decoded pixels are zeroed.
 */
import type { JWK } from 'jose';
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { audit } from '../audit/audit.js';
import type { BiometricContext } from '../biometrics/context.js';
import type { Database } from '../db/database.js';
import { identifyingTenant, type IdentifyingTenant } from '../accounts/tenants.js';
import { identifyProbe } from '../biometrics/identification.js';
import {
  attemptPalmSignIn,
  attemptSecret,
  auditSignIn,
  type Capture,
  type Comparison,
  type Throttled,
} from '../biometrics/signInAttempt.js';
import { clientMetadata, requiresPad } from '../clients/metadata.js';
import { ACR_PALM, ACR_PALM_PIN, palmAmr } from '../acr.js';
import {
  CAMERA_FRAME_LIMITS,
  PalmImageError,
  checkImageHeader,
  type Challenge,
  checkLiveness,
  decodeImage,
  extractProbeFromImage,
  handPasses,
  type ImageKind,
  type LandmarkPass,
  type LivenessResult,
  type Probe,
  type RasterImage,
} from '../palm/index.js';
import { LIMITS, personSubject, readerSubject } from '../throttling/attemptLimits.js';
import { type CaptureClaims, EnvelopeError, openEnvelope } from './envelope.js';
import { verifyPin } from './pin.js';
import { findReader } from './registry.js';

type CibaFeature = NonNullable<NonNullable<Configuration['features']>['ciba']>;

interface PalmSignIn {
  personId: string;
  tenantId: string;
  readerId: string;
  score: number;
  pin: boolean;
  /** the envelope's frames passed presentation attack detection */
  pad: boolean;
}

const SIGN_IN = Symbol('palmSignIn');

/** An envelope's frames, decoded once, and their hand landmark passes (null: palm crops or no models). */
interface DecodedFrames {
  images: RasterImage[];
  /** the envelope index of each decoded image (a frame the decoder refused is left out) */
  indices: number[];
  passes: (LandmarkPass | null)[] | null;
  /** the decoder's last reason to refuse a frame */
  rejection: CaptureRejection;
}

/** Why no frame of an envelope was usable: the engine's reason code, and its words for the reader. */
interface CaptureRejection {
  reason: string;
  message: string;
}

function signInOf(ctx: KoaContextWithOIDC): PalmSignIn {
  const s = (ctx as unknown as Record<symbol, PalmSignIn | undefined>)[SIGN_IN];
  if (!s) throw new errors.InvalidRequest('no palm capture in this request');
  return s;
}

function throttleError(verdict: Throttled, who: string): never {
  throw new errors.AccessDenied(
    verdict.locked
      ? `too many failed attempts for this ${who}: blocked until an administrator or a passkey sign-in resets it`
      : `too many failed attempts for this ${who}: retry in ${verdict.retryAfterSeconds ?? 1} s`,
  );
}

function pinRequired(ctx: KoaContextWithOIDC): boolean {
  const requested = String(ctx.oidc.params?.acr_values ?? '').split(' ');
  return requested.includes(ACR_PALM_PIN) || clientMetadata<boolean>(ctx.oidc.client!, 'palmid_require_pin') === true;
}

export function cibaFeature(deps: { bio: BiometricContext; issuer: string; captureKeys: () => JWK[] }): CibaFeature {
  return {
    enabled: true,
    deliveryModes: ['poll', 'ping'],

    async processLoginHint() {
      throw new errors.InvalidRequest(
        'readers identify people by their palm: send the capture envelope as login_hint_token',
      );
    },

    async validateBindingMessage(_ctx, bindingMessage) {
      // Shown on the reader's display: short, plain characters only.
      if (bindingMessage !== undefined && !/^[\w .:#+\-/!?]{1,20}$/u.test(String(bindingMessage))) {
        throw new errors.InvalidBindingMessage('binding_message: 1 to 20 letters, digits, spaces or .:#+-/!?');
      }
    },

    async validateRequestContext(_ctx, requestContext) {
      if (requestContext !== undefined && String(requestContext).length > 500)
        throw new errors.InvalidRequest('request_context is too long');
    },

    async processLoginHintToken(ctx, token) {
      try {
        return await identifyCapture(ctx, token);
      } finally {
        // oidc-provider stores the request's parameters with the CIBA request: the envelope
        // (the captures, encrypted to a key the provider holds) must not be among them.
        forgetParam(ctx, 'login_hint_token');
      }
    },

    async verifyUserCode(ctx, account, userCode) {
      try {
        await checkUserCode(ctx, account, userCode);
      } finally {
        forgetParam(ctx, 'user_code'); // nor the PIN
      }
    },

    async triggerAuthenticationDevice(ctx, request, account, client) {
      const signIn = signInOf(ctx);
      const provider = ctx.oidc.provider;
      const grant = new provider.Grant({ accountId: account.accountId, clientId: client.clientId });
      if (request.scope) grant.addOIDCScope(request.scope);
      const grantId = await grant.save();
      try {
        await provider.backchannelResult(request, grantId, {
          acr: signIn.pin ? ACR_PALM_PIN : ACR_PALM,
          amr: palmAmr(signIn),
          authTime: Math.floor(Date.now() / 1000),
        });
      } catch (err) {
        // Ping delivery: the result is saved before the notification is sent, so a reader that
        // could not be notified still gets its tokens by asking; only the ping is lost.
        const saved = await provider.BackchannelAuthenticationRequest.find(request.jti, { ignoreExpiration: true });
        if (!saved?.grantId) throw err;
        await audit(deps.bio.db, {
          action: 'signin.ping_failed',
          actor: signIn.readerId,
          subject: account.accountId,
          detail: { error: (err as Error).message },
        });
      }
      // The request is complete before the reader hears back: poll after the shortest interval allowed.
      (ctx.body as Record<string, unknown>).interval = 1;
      await auditSignIn(deps.bio.db, {
        actor: signIn.readerId,
        personId: account.accountId,
        tenantId: signIn.tenantId,
        channel: 'reader',
        mode: 'identify',
        score: signIn.score,
        pin: signIn.pin,
      });
    },
  };

  async function identifyCapture(ctx: KoaContextWithOIDC, token: unknown): Promise<string> {
    const client = ctx.oidc.client!;
    const reader = await findReader(deps.bio.db, client.clientId);
    if (!reader || reader.revokedAt)
      throw new errors.UnauthorizedClient('only registered readers may send palm captures');

    let claims: CaptureClaims;
    try {
      claims = await openEnvelope(String(token), {
        captureKeys: deps.captureKeys(),
        readerId: reader.clientId,
        readerKeys: ((client as unknown as { jwks?: { keys: JWK[] } }).jwks?.keys ?? []) as JWK[],
        issuer: deps.issuer,
      });
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      await rejected(reader.clientId, reader.tenantId, err.failure);
      if (err.failure === 'expired') throw new errors.ExpiredLoginHintToken(err.message);
      throw new errors.InvalidRequest(`invalid capture envelope: ${err.message}`);
    }

    // Each envelope once: the jti is recorded until the envelope would have expired anyway.
    if (!(await firstUseOfEnvelope(deps.bio.db, claims.jti, reader.clientId, claims.exp + 60))) {
      await rejected(reader.clientId, reader.tenantId, 'replayed');
      throw new errors.InvalidRequest('invalid capture envelope: it was already used');
    }

    const tenant = await identifyingTenant(deps.bio.db, reader.tenantId);
    if (!tenant) throw new errors.UnauthorizedClient("the reader's tenant no longer exists");
    const images = claims.images;
    const challenge = claims.pad?.challenge;
    // A client that needs PAD: an envelope that cannot show liveness (one frame, or palm crops with
    // no hand landmarks) is refused before any palm is read; it is the reader's setup, not an attempt.
    const needPad = requiresPad(client);
    if (needPad && (images.length < 2 || claims.kind === 'roi')) {
      images.length = 0;
      await rejected(reader.clientId, reader.tenantId, 'pad_required');
      throw new errors.AccessDenied(
        'this application accepts palm sign-ins only with a liveness check (PAD): the reader must send ' +
          'several frames of the whole hand, not one frame or palm crops',
      );
    }
    // Without a challenge a recording made in advance passes whatever it shows: refused unread too.
    if (needPad && !challenge) {
      images.length = 0;
      await rejected(reader.clientId, reader.tenantId, 'pad_challenge_missing');
      throw new errors.AccessDenied(
        'this application requires a liveness challenge (PAD): the reader must ask the hand for a movement ' +
          'and send it as pad.challenge',
      );
    }
    // Each frame is decoded and run through the hand models once: recognition and liveness share them.
    const held: {
      frames?: DecodedFrames;
      liveness?: Promise<LivenessResult | null>;
      /** the envelope index of the frame that matched */
      matched?: number;
    } = {};
    const livenessOnce = (): Promise<LivenessResult | null> => {
      held.liveness ??= held.frames ? livenessOf(held.frames, challenge) : Promise.resolve(null);
      return held.liveness;
    };
    try {
      const outcome = await attemptPalmSignIn<ReadProbes, CaptureRejection>(deps.bio.db, {
        channel: 'reader',
        actor: reader.clientId,
        tenantId: reader.tenantId,
        // The reader pays for failed palms: a queue of strangers slows it, never locks it.
        sources: [{ subject: readerSubject(reader.clientId), policy: LIMITS.reader }],
        precheck: () => precheckCaptures(images),
        read: async () => {
          held.frames = await decodeCaptures(images, claims.kind);
          // A client that needs PAD: only the ready frame (images[0]) is identified, the frame PAD
          // ties to the moving hand; any other could be a still spliced in (module comment).
          const read = await readCaptures(held.frames, claims.kind, needPad);
          if (!read.usable || !needPad) return read;
          // Frames not shown live are refused before any search, and it costs an attempt. (A live
          // hand held still cannot show liveness either.)
          const shown = await livenessOnce();
          if (shown?.verdict !== 'live') {
            await notLive(reader.clientId, reader.tenantId, true, challenge, shown);
            return { usable: false, rejection: { reason: 'not_live', message: NOT_LIVE } };
          }
          return read;
        },
        compare: async (read) => {
          const found = await identifyFirst(tenant, read.probes);
          held.matched = found.index >= 0 ? read.indices[found.index] : undefined;
          return found.comparison;
        },
      });
      switch (outcome.kind) {
        case 'throttled':
          return throttleError(outcome, outcome.by === 'source' ? 'reader' : 'person');
        case 'unusable':
          await rejected(reader.clientId, reader.tenantId, 'capture_rejected');
          throw new errors.InvalidRequest(`capture rejected: ${outcome.rejection.message}`);
        case 'not_matched':
          throw new errors.UnknownUserId('palm not recognised');
        case 'matched': {
          // Passed above for a client that needs PAD; for any other, checked only once the palm
          // matched, so a stranger's frames cost no PAD, and marked in the tokens when shown live
          // with the matched frame the track's first (identifiedFirst).
          let pad = needPad;
          if (!pad && held.matched === 0) {
            const shown = await livenessOnce();
            pad = shown?.verdict === 'live';
            if (shown && !pad) await notLive(reader.clientId, reader.tenantId, false, challenge, shown);
          }
          (ctx as unknown as Record<symbol, PalmSignIn>)[SIGN_IN] = {
            personId: outcome.personId,
            tenantId: reader.tenantId,
            readerId: reader.clientId,
            score: outcome.score,
            pin: false,
            pad,
          };
          return outcome.personId;
        }
      }
    } finally {
      images.length = 0; // the captures go no further than this function
      wipe(held.frames); // and the decoded frames neither
    }
  }

  /**
   * Before anything is reserved: when every capture is refused on its bytes and header alone, the
   * last refusal; null as soon as one passes.
   */
  function precheckCaptures(images: string[]): CaptureRejection | null {
    let lastRejection: CaptureRejection | null = null;
    for (const image of images) {
      try {
        checkImageHeader(Buffer.from(image, 'base64'), CAMERA_FRAME_LIMITS);
        return null;
      } catch (err) {
        if (err instanceof PalmImageError) lastRejection = { reason: err.reason, message: err.message };
        else throw err;
      }
    }
    return lastRejection;
  }

  /**
   * The envelope's frames decoded (those the decoder refuses left out, with its last reason) and,
   * for whole hands with the models installed, each one's hand landmark pass: once per frame.
   */
  async function decodeCaptures(images: string[], kind: ImageKind): Promise<DecodedFrames> {
    const decoded: RasterImage[] = [];
    const indices: number[] = [];
    let rejection: CaptureRejection = { reason: 'no_frame', message: 'no frame could be read' };
    for (const [i, image] of images.entries()) {
      try {
        decoded.push(await decodeImage(Buffer.from(image, 'base64'), CAMERA_FRAME_LIMITS));
        indices.push(i);
      } catch (err) {
        if (err instanceof PalmImageError) rejection = { reason: err.reason, message: err.message };
        else throw err;
      }
    }
    const passes = kind === 'roi' || decoded.length === 0 ? null : await handPasses(decoded);
    return { images: decoded, indices, passes, rejection };
  }

  /**
   * The usable captures of an envelope (with their envelope indices), or the engine's last reason
   * to reject one. `firstOnly`: the ready frame (images[0]) alone.
   */
  async function readCaptures(
    frames: DecodedFrames,
    kind: ImageKind,
    firstOnly: boolean,
  ): Promise<Capture<ReadProbes, CaptureRejection>> {
    const probes: Probe[] = [];
    const indices: number[] = [];
    let lastRejection = frames.rejection;
    for (const [i, img] of frames.images.entries()) {
      if (firstOnly && frames.indices[i] !== 0) break;
      try {
        const hand = frames.passes ? { hand: frames.passes[i]! } : {};
        probes.push((await extractProbeFromImage(img, { kind, ...hand })).probe);
        indices.push(frames.indices[i]!);
      } catch (err) {
        if (err instanceof PalmImageError) lastRejection = { reason: err.reason, message: err.message };
        else throw err;
      }
    }
    return probes.length ? { usable: true, probe: { probes, indices } } : { usable: false, rejection: lastRejection };
  }

  /**
   * Presentation attack detection over the envelope's frames (src/palm/pad), with the challenge
   * the reader asked, if any: null when it cannot run (one frame, or palm crops: the hand
   * landmarks need the whole hand).
   */
  async function livenessOf(frames: DecodedFrames, challenge: Challenge | undefined): Promise<LivenessResult | null> {
    if (frames.images.length < 2 || !frames.passes) return null;
    // A frame the decoder refused breaks the track: a hand could be swapped behind it.
    if (frames.indices.some((index, i) => index !== i))
      return { verdict: 'not_live', reasons: ['discontinuous'], frames: frames.images.length, framesWithHand: 0 };
    return checkLiveness(frames.images, { challenge, passes: frames.passes, identifiedFirst: true });
  }

  /** The best of the captures, stopping at the first that matches (index: which probe; -1 none). */
  async function identifyFirst(
    tenant: IdentifyingTenant,
    probes: Probe[],
  ): Promise<{ comparison: Comparison; index: number }> {
    let best: Comparison = { mode: 'identify', match: false, personId: null, score: 0 };
    for (const [i, probe] of probes.entries()) {
      const r = await identifyProbe(deps.bio, tenant, probe);
      if (r.match || r.score > best.score)
        best = {
          mode: 'identify',
          match: r.match,
          personId: r.match ? r.personId : null,
          score: r.score,
          threshold: r.threshold,
        };
      if (r.match) return { comparison: best, index: i };
    }
    return { comparison: best, index: -1 };
  }

  /** Why frames were not shown live, for the operator only (the reader gets NOT_LIVE). */
  async function notLive(
    readerId: string,
    tenantId: string,
    required: boolean,
    challenge: Challenge | undefined,
    shown: LivenessResult | null,
  ) {
    await audit(deps.bio.db, {
      action: 'signin.not_live',
      actor: readerId,
      subject: tenantId,
      detail: {
        channel: 'reader',
        tenant: tenantId,
        required,
        ...(challenge ? { challenge } : {}),
        reasons: shown ? [...shown.reasons] : ['not_checked'],
        frames: shown?.frames ?? 0,
        framesWithHand: shown?.framesWithHand ?? 0,
      },
    });
  }

  async function checkUserCode(ctx: KoaContextWithOIDC, account: { accountId: string }, userCode: string | undefined) {
    const signIn = signInOf(ctx);
    if (userCode === undefined || userCode === '') {
      if (pinRequired(ctx)) throw new errors.MissingUserCode('this sign-in needs the PIN (user_code)');
      return;
    }
    const checked = await attemptSecret(
      deps.bio.db,
      {
        subject: personSubject(account.accountId),
        policy: LIMITS.pin,
        actor: signIn.readerId,
        personId: account.accountId,
      },
      () => verifyPin(deps.bio.db, account.accountId, userCode),
    );
    if (checked.kind === 'throttled') throttleError(checked, 'person');
    if (checked.kind === 'wrong') throw new errors.InvalidUserCode('wrong PIN');
    signIn.pin = true;
  }

  function forgetParam(ctx: KoaContextWithOIDC, name: string) {
    const params = ctx.oidc.params as Record<string, unknown> | undefined;
    if (params) params[name] = undefined; // toPlainObject() drops undefined values
  }

  async function rejected(readerId: string, tenantId: string, reason: string) {
    await audit(deps.bio.db, {
      action: 'signin.envelope_rejected',
      actor: readerId,
      subject: tenantId,
      detail: { reason },
    });
  }
}

/** An envelope's usable probes and the envelope index of each. */
interface ReadProbes {
  probes: Probe[];
  indices: number[];
}

/**
 * The one refusal of frames not shown live, whatever check failed (the audit log says which).
 * "liveness not shown" is what readers and the kiosk page recognise.
 */
const NOT_LIVE =
  'liveness not shown: this application accepts palm sign-ins only with a liveness check. ' +
  'We could not confirm a live hand: do the movement shown, in one go';

/** Zero the pixels of decoded frames. */
function wipe(frames: DecodedFrames | undefined): void {
  for (const f of frames?.images ?? []) f.data.fill(0);
}

/** Records an envelope's jti (until `expiresAt`, epoch seconds); false if it was seen before (a replay). */
async function firstUseOfEnvelope(db: Database, jti: string, readerId: string, expiresAt: number): Promise<boolean> {
  const fresh = await db.query(
    `INSERT INTO envelope_replay (jti, reader_id, expires_at) VALUES ($1, $2, to_timestamp($3))
     ON CONFLICT (jti) DO NOTHING RETURNING jti`,
    [jti, readerId, expiresAt],
  );
  return fresh.length > 0;
}

/** The jtis of envelopes that have expired anyway (the maintenance job). */
export async function purgeEnvelopeReplays(db: Database): Promise<void> {
  await db.query('DELETE FROM envelope_replay WHERE expires_at < now()');
}
