/**
 * Readers sign people in through CIBA: the reader (an OIDC client) sends its capture envelope as
 * `login_hint_token`; the provider opens it, identifies the palm among the people who consented
 * to the reader's tenant, optionally checks the PIN (`user_code`), and completes the request at
 * once. The images live only inside processLoginHintToken. Failed palms slow the reader (a rate
 * limit, never a lock on the gate); wrong PINs count against the person (NIST SP 800-63B-4).
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
  checkLiveness,
  decodeImage,
  extractProbe,
  type ImageKind,
  type LivenessResult,
  type Probe,
  type RasterImage,
} from '../palm/index.js';
import { LIMITS, personSubject, readerSubject } from '../throttling/attemptLimits.js';
import { EnvelopeError, openEnvelope } from './envelope.js';
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

    let claims;
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
    try {
      const outcome = await attemptPalmSignIn<Probe[], string>(deps.bio.db, {
        channel: 'reader',
        actor: reader.clientId,
        tenantId: reader.tenantId,
        // The reader pays for failed palms: a queue of strangers slows it, never locks it.
        sources: [{ subject: readerSubject(reader.clientId), policy: LIMITS.reader }],
        precheck: () => precheckCaptures(images),
        read: async () => {
          const read = await readCaptures(images, claims.kind);
          if (!read.usable || !needPad) return read;
          // A client that needs PAD: frames not shown live are refused before any search, and it
          // costs an attempt. (A live hand held still cannot show liveness either.)
          const liveness = await livenessOf(images, claims.kind);
          if (liveness?.verdict !== 'live')
            return {
              usable: false,
              rejection:
                `liveness not shown (${liveness?.reasons.join(', ') || 'not checked'}): ` +
                'this application accepts palm sign-ins only with a liveness check',
            };
          return read;
        },
        compare: (probes) => identifyFirst(tenant, probes),
      });
      switch (outcome.kind) {
        case 'throttled':
          return throttleError(outcome, outcome.by === 'source' ? 'reader' : 'person');
        case 'unusable':
          await rejected(reader.clientId, reader.tenantId, 'capture_rejected');
          throw new errors.InvalidRequest(`capture rejected: ${outcome.rejection}`);
        case 'not_matched':
          throw new errors.UnknownUserId('palm not recognised');
        case 'matched':
          (ctx as unknown as Record<symbol, PalmSignIn>)[SIGN_IN] = {
            personId: outcome.personId,
            tenantId: reader.tenantId,
            readerId: reader.clientId,
            score: outcome.score,
            pin: false,
            // Passed above for a client that needs PAD; for any other, checked only once the palm
            // matched, so a stranger's frames cost no PAD, and marked in the tokens when shown live.
            pad: needPad || (await livenessOf(images, claims.kind))?.verdict === 'live',
          };
          return outcome.personId;
      }
    } finally {
      images.length = 0; // the captures go no further than this function
    }
  }

  /**
   * Before anything is reserved: when every capture is refused on its bytes and header alone, the
   * last refusal; null as soon as one passes.
   */
  function precheckCaptures(images: string[]): string | null {
    let lastRejection: string | null = null;
    for (const image of images) {
      try {
        checkImageHeader(Buffer.from(image, 'base64'), CAMERA_FRAME_LIMITS);
        return null;
      } catch (err) {
        if (err instanceof PalmImageError) lastRejection = err.message;
        else throw err;
      }
    }
    return lastRejection;
  }

  /** The usable captures of an envelope, or the engine's last reason to reject one. */
  async function readCaptures(images: string[], kind: ImageKind): Promise<Capture<Probe[], string>> {
    const probes: Probe[] = [];
    let lastRejection = '';
    for (const image of images) {
      try {
        probes.push((await extractProbe(Buffer.from(image, 'base64'), { kind, limits: CAMERA_FRAME_LIMITS })).probe);
      } catch (err) {
        if (err instanceof PalmImageError) lastRejection = err.message;
        else throw err;
      }
    }
    return probes.length ? { usable: true, probe: probes } : { usable: false, rejection: lastRejection };
  }

  /**
   * Presentation attack detection over the envelope's frames (src/palm/pad): null when it cannot
   * run (one frame, or palm crops: the hand landmarks need the whole hand).
   */
  async function livenessOf(images: string[], kind: ImageKind): Promise<LivenessResult | null> {
    if (images.length < 2 || kind === 'roi') return null;
    const frames: RasterImage[] = [];
    for (const image of images) {
      try {
        frames.push(await decodeImage(Buffer.from(image, 'base64'), CAMERA_FRAME_LIMITS));
      } catch (err) {
        if (!(err instanceof PalmImageError)) throw err;
      }
    }
    try {
      return await checkLiveness(frames);
    } finally {
      for (const f of frames) f.data.fill(0);
    }
  }

  /** The best of the captures, stopping at the first that matches. */
  async function identifyFirst(tenant: IdentifyingTenant, probes: Probe[]): Promise<Comparison> {
    let best: Comparison = { mode: 'identify', match: false, personId: null, score: 0 };
    for (const probe of probes) {
      const r = await identifyProbe(deps.bio, tenant, probe);
      if (r.match || r.score > best.score)
        best = { mode: 'identify', match: r.match, personId: r.match ? r.personId : null, score: r.score };
      if (r.match) break;
    }
    return best;
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
