/**
 * The enrolment station at /enrol, run by a tenant's staff (tenant_member, src/accounts/staff.ts)
 * or a platform administrator: passkey sign-in (STATION_SESSION), the tenant and the station's
 * name (the "desk"), then per person: find or add them, the tenant's notice shown to them and
 * their consent recorded with its provenance, palm capture (views/static/palm-enrol.js, the
 * shared POST handler in src/http/palmEnrolment.ts), an optional payment card and loyalty
 * number, a done screen; "next person" forgets the person.
 *
 * The desk and the person live in a second signed cookie (DESK_COOKIE, path /enrol, SameSite
 * Strict) tied to the staff member who set it. Every request checks the staff member's right to
 * the desk's tenant again, so removing them from the staff takes effect at once. Every write is
 * a POST from the station's own origin.
 */
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { LocalCardVault } from '../../../adapters/card-vault.js';
import { CardError, findLoyaltyNumber, linkCard, setLoyaltyNumber } from '../../accounts/cards.js';
import {
  PersonExistsError,
  PersonInputError,
  type PersonRecord,
  createPerson,
  describePerson,
  findPersonByEmail,
  findPersonById,
  isValidEmail,
} from '../../accounts/people.js';
import { mayRunStation, stationTenants } from '../../accounts/staff.js';
import { TenantError, currentNotice, findActiveConsent, findTenant, recordConsent } from '../../accounts/tenants.js';
import { audit } from '../../audit/audit.js';
import type { BiometricContext } from '../../biometrics/context.js';
import type { FramePool } from '../../biometrics/framePool.js';
import { clientMessages, type Locale, translator } from '../../i18n/index.js';
import { renderView } from '../../views.js';
import type { RelyingParty } from '../../webauthn/relyingParty.js';
import type { Database } from '../../db/database.js';
import { readBody } from '../body.js';
import { HttpError } from '../errors.js';
import { pageLocale } from '../locale.js';
import { passkeySignInRoutes } from '../passkeySignIn.js';
import { ENROL_FRAMES, answerPalmEnrolment, consentsToCurrentNotice, palmEnrolmentLimit } from '../palmEnrolment.js';
import { allowHandTracker } from '../security.js';
import { type RatePolicy, takeFromSource } from '../../throttling/attemptLimits.js';
import { STATION_SESSION, clearPageSession, readPageSession, setPageSession } from '../signedSession.js';

/** Person look-ups (find, add) by one staff member: 60, then one every 30 s (120 an hour). */
export const STATION_LOOKUPS: RatePolicy = { burst: 60, refillMs: 30_000 };

export interface EnrolDeps {
  db: Database;
  bio: BiometricContext;
  frames: FramePool;
  rp: RelyingParty;
  bodyLimitBytes: number;
}

const CEREMONY_COOKIE = 'palmid_station_ceremony';
const DESK_COOKIE = 'palmid_station_desk';

/**
 * The station's setting: who set it, the tenant, the station's name, and the person being
 * enrolled: whether they were added here, the consent they gave on this screen, and the card
 * linked here (brand and last four only).
 */
interface Desk {
  staffId: string;
  tenantId: string;
  station: string;
  personId?: string | undefined;
  created?: boolean | undefined;
  consentId?: string | undefined;
  card?: { brand: string; last4: string } | undefined;
}

/** The desk without its person: what "next person" and choosing another person keep. */
const deskOnly = (desk: Desk): Desk => ({ staffId: desk.staffId, tenantId: desk.tenantId, station: desk.station });

interface Station {
  staff: PersonRecord;
  desk: Desk & { tenantName: string };
}

/** The messages palm-enrol.js needs: the enrolment's own, and the capture component's (guidance) under `capture`. */
export function enrolPageMessages(locale: Locale): Record<string, unknown> {
  return clientMessages(locale, 'enrol', 'capture');
}

/** A page of the station, never cached. */
function page(ctx: Context, view: string, data: Record<string, unknown>): void {
  ctx.set('cache-control', 'no-store');
  ctx.type = 'html';
  ctx.body = renderView(view, { locale: pageLocale(ctx), ...data });
}

function seeOther(ctx: Context, to: string): void {
  ctx.status = 303;
  ctx.redirect(to);
}

function readDesk(ctx: Context): Desk | undefined {
  const value = ctx.cookies.get(DESK_COOKIE, { signed: true });
  if (!value) return undefined;
  try {
    const desk = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Desk;
    return typeof desk.staffId === 'string' && typeof desk.tenantId === 'string' && typeof desk.station === 'string'
      ? desk
      : undefined;
  } catch {
    return undefined;
  }
}

function writeDesk(ctx: Context, desk: Desk): void {
  // Only the desk's own fields: not what a caller spread in beside them (the tenant's name).
  const { staffId, tenantId, station, personId, created, consentId, card } = desk;
  const value = { staffId, tenantId, station, personId, created, consentId, card };
  ctx.cookies.set(DESK_COOKIE, Buffer.from(JSON.stringify(value)).toString('base64url'), {
    signed: true,
    httpOnly: true,
    sameSite: 'strict',
    secure: ctx.secure,
    path: STATION_SESSION.path,
    maxAge: STATION_SESSION.seconds * 1000,
    overwrite: true,
  });
}

function clearDesk(ctx: Context): void {
  ctx.cookies.set(DESK_COOKIE, null, { path: STATION_SESSION.path, overwrite: true });
}

/** A text field of a form body, trimmed; '' when absent. */
function field(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  return typeof value === 'string' ? value.trim() : '';
}

export function enrolRoutes(deps: EnrolDeps): Router {
  const router = new Router({ prefix: '/enrol' });
  const vault = new LocalCardVault(deps.db, deps.bio.master.derive('card-vault'));

  const sameOrigin = async (ctx: Context, next: Next) => {
    if (ctx.method === 'POST' && ctx.get('origin') !== deps.rp.origin)
      throw new HttpError(403, 'access_denied', 'cross-origin request refused');
    // Browsers send `Origin: null` with form posts under `no-referrer`: keep the origin for our own.
    ctx.set('referrer-policy', 'same-origin');
    await next();
  };
  router.use(sameOrigin);

  async function signedInStaff(ctx: Context): Promise<PersonRecord | null> {
    const id = readPageSession(ctx, STATION_SESSION);
    return id ? findPersonById(deps.db, id) : null;
  }

  /** The staff member and their desk, still allowed at its tenant; undefined sends the caller to set one up. */
  async function station(ctx: Context): Promise<Station | undefined> {
    const staff = await signedInStaff(ctx);
    if (!staff) throw new HttpError(401, 'login_required', 'Sign in to the enrolment station first.');
    const desk = readDesk(ctx);
    if (!desk || desk.staffId !== staff.id) return undefined;
    const tenant = await findTenant(deps.db, desk.tenantId);
    if (!tenant || !(await mayRunStation(deps.db, staff, desk.tenantId))) return undefined;
    return { staff, desk: { ...desk, tenantName: tenant.name } };
  }

  /** A station with a person chosen, for the per-person steps; otherwise the caller is sent back. */
  async function withPerson(ctx: Context): Promise<(Station & { person: PersonRecord }) | undefined> {
    const current = await station(ctx);
    if (!current?.desk.personId) return undefined;
    const person = await findPersonById(deps.db, current.desk.personId);
    return person ? { ...current, person } : undefined;
  }

  /**
   * Whether the person accepted the tenant's current notice on this station's screen: the consent
   * this desk recorded is still their active one, to the notice now in force. The capture, the
   * palm, the card and the done page wait for it, whatever consent the person gave elsewhere.
   */
  async function consentedHere(current: Station & { person: PersonRecord }): Promise<boolean> {
    if (!current.desk.consentId) return false;
    const consent = await findActiveConsent(deps.db, current.person.id, current.desk.tenantId);
    return (
      consent?.id === current.desk.consentId &&
      (await consentsToCurrentNotice(deps.db, current.person.id, current.desk.tenantId))
    );
  }

  /** The person with consent given here; otherwise undefined and the page sent back to the notice. */
  async function consentedPerson(ctx: Context): Promise<(Station & { person: PersonRecord }) | undefined> {
    if (!(await stationOrSignIn(ctx))) return undefined;
    const current = await withPerson(ctx);
    if (!current) {
      seeOther(ctx, '/enrol/person');
      return undefined;
    }
    if (!(await consentedHere(current))) {
      seeOther(ctx, '/enrol/notice');
      return undefined;
    }
    return current;
  }

  /**
   * How the station names the person. An existing person found by email is shown by that email
   * only until they accept this tenant's notice: a tenant's staff learn no more of other tenants'
   * customers (their name) than the address they typed.
   */
  const shown = (current: Station & { person: PersonRecord }) =>
    current.desk.created || current.desk.consentId
      ? (current.person.name ?? current.person.email)
      : current.person.email;
  const barData = (s: Station) => ({ desk: s.desk, staffEmail: s.staff.email });

  router.get('/', async (ctx) => {
    const locale = pageLocale(ctx);
    const staff = await signedInStaff(ctx);
    if (!staff) return page(ctx, 'enrol-signin', { clientMessages: clientMessages(locale, 'enrol') });
    const current = await station(ctx);
    if (!current) return seeOther(ctx, '/enrol/desk');
    if (!current.desk.personId) return seeOther(ctx, '/enrol/person');
    return seeOther(ctx, '/enrol/notice');
  });

  passkeySignInRoutes(router, {
    ...deps,
    cookie: CEREMONY_COOKIE,
    path: STATION_SESSION.path,
    purpose: 'station',
    async admit(ctx, personId) {
      const person = await findPersonById(deps.db, personId);
      if (!person || !(await stationTenants(deps.db, person)).length) {
        await audit(deps.db, { action: 'station.refused', actor: personId });
        throw new HttpError(403, 'access_denied', 'This account is not on the staff of any tenant.');
      }
      setPageSession(ctx, STATION_SESSION, person.id);
      clearDesk(ctx);
      await audit(deps.db, { action: 'station.signin', actor: person.id });
      ctx.set('cache-control', 'no-store');
      return { redirectTo: '/enrol/desk' };
    },
  });

  router.post('/logout', async (ctx) => {
    const staff = await signedInStaff(ctx);
    clearPageSession(ctx, STATION_SESSION);
    clearDesk(ctx);
    if (staff) await audit(deps.db, { action: 'station.signout', actor: staff.id });
    seeOther(ctx, '/enrol');
  });

  router.get('/desk', async (ctx) => {
    const staff = await signedInStaff(ctx);
    if (!staff) return seeOther(ctx, '/enrol');
    const desk = readDesk(ctx);
    page(ctx, 'enrol-desk', {
      tenants: await stationTenants(deps.db, staff),
      current: desk?.staffId === staff.id ? desk : undefined,
    });
  });

  router.post('/desk', async (ctx) => {
    const staff = await signedInStaff(ctx);
    if (!staff) throw new HttpError(401, 'login_required', 'Sign in to the enrolment station first.');
    const body = await readBody(ctx, deps.bodyLimitBytes);
    const tenantId = field(body, 'tenant');
    const name = field(body, 'station').slice(0, 100);
    if (!tenantId || !(await mayRunStation(deps.db, staff, tenantId))) {
      await audit(deps.db, { action: 'station.refused', actor: staff.id, subject: tenantId || null });
      throw new HttpError(403, 'access_denied', 'You may not enrol people for this tenant.');
    }
    if (!name) throw new HttpError(400, 'invalid_request', 'Name this station.');
    writeDesk(ctx, { staffId: staff.id, tenantId, station: name });
    await audit(deps.db, { action: 'station.desk', actor: staff.id, subject: tenantId, detail: { station: name } });
    seeOther(ctx, '/enrol/person');
  });

  router.get('/person', async (ctx) => {
    const current = await stationOrSignIn(ctx);
    if (!current) return;
    page(ctx, 'enrol-person', { ...barData(current), declined: ctx.query.declined === '1' });
  });

  /** The station, or a redirect to sign in or set up the desk (for GET pages). */
  async function stationOrSignIn(ctx: Context): Promise<Station | undefined> {
    if (!(await signedInStaff(ctx))) {
      seeOther(ctx, '/enrol');
      return undefined;
    }
    const current = await station(ctx);
    if (!current) seeOther(ctx, '/enrol/desk');
    return current;
  }

  async function requireStation(ctx: Context): Promise<Station> {
    const current = await station(ctx);
    if (!current) throw new HttpError(403, 'access_denied', 'You may not enrol people for this tenant.');
    return current;
  }

  async function choosePerson(ctx: Context, current: Station, person: PersonRecord, created = false) {
    writeDesk(ctx, { ...deskOnly(current.desk), personId: person.id, created });
    seeOther(ctx, '/enrol/notice');
  }

  /**
   * A look-up says whether an address has an account: each costs the staff member one of a budget
   * (STATION_LOOKUPS), so that a station cannot be used to go through a list of addresses.
   */
  async function lookupAllowed(ctx: Context, current: Station, form: Record<string, unknown>): Promise<boolean> {
    if ((await takeFromSource(deps.db, `enrol-lookup:${current.staff.id}`, STATION_LOOKUPS)).allowed) return true;
    await audit(deps.db, {
      action: 'station.lookup_throttled',
      actor: current.staff.id,
      detail: { tenant: current.desk.tenantId, station: current.desk.station },
    });
    ctx.status = 429;
    page(ctx, 'enrol-person', { ...barData(current), ...form, error: text(ctx, 'enrol:person.tooManyLookups') });
    return false;
  }

  router.post('/person/find', async (ctx) => {
    const current = await requireStation(ctx);
    const body = await readBody(ctx, deps.bodyLimitBytes);
    const email = field(body, 'email');
    if (!isValidEmail(email)) {
      ctx.status = 400;
      return page(ctx, 'enrol-person', { ...barData(current), email, error: text(ctx, 'enrol:person.invalidEmail') });
    }
    if (!(await lookupAllowed(ctx, current, { email }))) return;
    const person = await findPersonByEmail(deps.db, email);
    if (person) {
      // The person's data export shows which station looked them up.
      await audit(deps.db, {
        action: 'station.person_found',
        actor: current.staff.id,
        subject: person.id,
        detail: { tenant: current.desk.tenantId, station: current.desk.station },
      });
      return choosePerson(ctx, current, person);
    }
    page(ctx, 'enrol-person', { ...barData(current), email, notFound: true });
  });

  router.post('/person/create', async (ctx) => {
    const current = await requireStation(ctx);
    const body = await readBody(ctx, deps.bodyLimitBytes);
    const input = { email: field(body, 'email'), name: field(body, 'name'), phone: field(body, 'phone') };
    // "Someone already has this address" answers as a look-up does.
    if (!(await lookupAllowed(ctx, current, { ...input, notFound: true }))) return;
    let person: PersonRecord;
    try {
      person = await createPerson(deps.db, { ...input, role: 'user', actor: current.staff.id, via: 'station' });
    } catch (err) {
      if (!(err instanceof PersonInputError || err instanceof PersonExistsError)) throw err;
      const key =
        err instanceof PersonExistsError
          ? 'enrol:person.exists'
          : err.message.startsWith('phone')
            ? 'enrol:person.invalidPhone'
            : err.message.startsWith('name')
              ? 'enrol:person.invalidName'
              : 'enrol:person.invalidEmail';
      ctx.status = 400;
      return page(ctx, 'enrol-person', { ...barData(current), ...input, notFound: true, error: text(ctx, key) });
    }
    await audit(deps.db, {
      action: 'station.person_created',
      actor: current.staff.id,
      subject: person.id,
      detail: { tenant: current.desk.tenantId, station: current.desk.station },
    });
    await choosePerson(ctx, current, person, true);
  });

  /** The notice, for the person to read and accept on the station's screen. */
  async function showNotice(ctx: Context, current: Station & { person: PersonRecord }, error?: string) {
    const notice = await currentNotice(deps.db, current.desk.tenantId);
    page(ctx, 'enrol-notice', {
      ...barData(current),
      notice,
      intro: text(ctx, 'enrol:notice.handOver', { person: shown(current), tenant: current.desk.tenantName }),
      acceptAction: '/enrol/consent',
      declineAction: '/enrol/next',
      error,
    });
  }

  router.get('/notice', async (ctx) => {
    if (!(await stationOrSignIn(ctx))) return;
    const current = await withPerson(ctx);
    if (!current) return seeOther(ctx, '/enrol/person');
    await showNotice(ctx, current);
  });

  router.post('/consent', async (ctx) => {
    const current = await withPerson(ctx);
    if (!current) throw new HttpError(400, 'invalid_request', 'Find or add the person first.');
    const body = await readBody(ctx, deps.bodyLimitBytes);
    if (field(body, 'accept') !== 'yes') throw new HttpError(400, 'invalid_request', 'The person did not accept.');
    let consentId: string;
    try {
      const consent = await recordConsent(
        deps.db,
        current.person.id,
        current.desk.tenantId,
        Number(field(body, 'notice_version')),
        { method: 'station', recordedById: current.staff.id, station: current.desk.station },
      );
      consentId = consent.id;
    } catch (err) {
      if (!(err instanceof TenantError)) throw err;
      ctx.status = 409;
      return showNotice(ctx, current, text(ctx, 'enrol:notice.changed'));
    }
    writeDesk(ctx, {
      ...deskOnly(current.desk),
      personId: current.person.id,
      created: current.desk.created,
      consentId,
    });
    seeOther(ctx, '/enrol/capture');
  });

  router.get('/capture', async (ctx) => {
    const current = await consentedPerson(ctx);
    if (!current) return;
    const locale = pageLocale(ctx);
    // The capture runs the hand tracker (WebAssembly) in the page.
    allowHandTracker(ctx);
    page(ctx, 'enrol-capture', {
      ...barData(current),
      lead: text(ctx, 'enrol:person.found', { person: shown(current) }),
      intro: text(ctx, 'enrol:palm.intro'),
      endpoint: '/enrol/palm',
      frames: ENROL_FRAMES,
      maxBytes: palmEnrolmentLimit(deps.bodyLimitBytes),
      next: '/enrol/extras',
      nextLabel: text(ctx, 'enrol:palm.continue'),
      clientMessages: enrolPageMessages(locale),
    });
  });

  router.post('/palm', async (ctx) => {
    const current = await withPerson(ctx);
    if (!current) throw new HttpError(400, 'invalid_request', 'Find or add the person first.');
    if (!(await consentedHere(current))) {
      ctx.status = 403;
      ctx.set('cache-control', 'no-store');
      ctx.body = {
        error: 'consent_required',
        error_description: 'The person must accept the notice on this screen first.',
      };
      return;
    }
    const answer = await answerPalmEnrolment(ctx, deps, {
      personId: current.person.id,
      tenantId: current.desk.tenantId,
      staffId: current.staff.id,
    });
    if (answer)
      await audit(deps.db, {
        action: answer.outcome === 'enrolled' ? 'station.palm_enrolled' : 'station.duplicate_refused',
        actor: current.staff.id,
        subject: current.person.id,
        detail: { tenant: current.desk.tenantId, station: current.desk.station, hand: answer.hand },
      });
  });

  async function showExtras(ctx: Context, current: Station & { person: PersonRecord }, error?: string) {
    page(ctx, 'enrol-extras', {
      ...barData(current),
      loyalty: await findLoyaltyNumber(deps.db, current.person.id, current.desk.tenantId),
      error,
    });
  }

  router.get('/extras', async (ctx) => {
    const current = await consentedPerson(ctx);
    if (!current) return;
    await showExtras(ctx, current);
  });

  router.post('/extras', async (ctx) => {
    const current = await withPerson(ctx);
    if (!current) throw new HttpError(400, 'invalid_request', 'Find or add the person first.');
    // A card or a loyalty number only for the person at the desk, who accepted the notice here.
    if (!(await consentedHere(current)))
      throw new HttpError(403, 'access_denied', 'The person has not accepted the notice here.');
    const body = await readBody(ctx, deps.bodyLimitBytes);
    if (field(body, 'action') !== 'skip') {
      const number = field(body, 'card_number');
      const expiry = field(body, 'card_expiry');
      const loyalty = field(body, 'loyalty');
      try {
        if (number || expiry) {
          const m = /^(\d{1,2})\s*\/\s*(\d{2}|\d{4})$/.exec(expiry);
          if (!number) return refuseExtras('expiryWithoutNumber');
          if (!m) return refuseExtras('invalid_expiry');
          // The number goes to the vault; only its brand and last four digits are kept (and audited).
          const card = await linkCard(deps.db, vault, current.person.id, {
            number,
            expMonth: Number(m[1]),
            expYear: Number(m[2]),
          });
          writeDesk(ctx, { ...current.desk, card: { brand: card.brand, last4: card.last4 } });
          await audit(deps.db, {
            action: 'station.card_linked',
            actor: current.staff.id,
            subject: current.person.id,
            detail: { tenant: current.desk.tenantId, brand: card.brand, last4: card.last4 },
          });
        }
        if (loyalty) {
          await setLoyaltyNumber(deps.db, current.person.id, current.desk.tenantId, loyalty);
          await audit(deps.db, {
            action: 'station.loyalty_set',
            actor: current.staff.id,
            subject: current.person.id,
            detail: { tenant: current.desk.tenantId },
          });
        }
      } catch (err) {
        if (err instanceof CardError) return refuseExtras(err.reason);
        throw err;
      }
    }
    seeOther(ctx, '/enrol/done');

    async function refuseExtras(reason: string) {
      ctx.status = 400;
      await showExtras(ctx, current!, text(ctx, `enrol:extras.${reason}`));
    }
  });

  router.get('/done', async (ctx) => {
    const current = await consentedPerson(ctx);
    if (!current) return;
    const described = await describePerson(deps.db, current.person.id);
    page(ctx, 'enrol-done', {
      ...barData(current),
      summary: text(ctx, 'enrol:done.summary', {
        person: shown(current),
        tenant: current.desk.tenantName,
      }),
      palms: (described?.palms ?? []).filter((p) => p.tenant === current.desk.tenantId).map((p) => p.hand),
      // Only the card linked here: a person's cards are not per tenant, and others are none of this tenant's business.
      cards: current.desk.card ? [current.desk.card] : [],
      loyalty: await findLoyaltyNumber(deps.db, current.person.id, current.desk.tenantId),
    });
  });

  // The next person: the current one is forgotten, the desk stays.
  router.post('/next', async (ctx) => {
    const current = await requireStation(ctx);
    const body = await readBody(ctx, deps.bodyLimitBytes);
    // The person said no to the notice: nothing was recorded or captured; the refusal is audited.
    const declined = field(body, 'declined') === 'yes' && current.desk.personId;
    if (declined)
      await audit(deps.db, {
        action: 'station.consent_declined',
        actor: current.staff.id,
        subject: current.desk.personId,
        detail: { tenant: current.desk.tenantId, station: current.desk.station },
      });
    writeDesk(ctx, deskOnly(current.desk));
    seeOther(ctx, declined ? '/enrol/person?declined=1' : '/enrol/person');
  });

  return router;
}

/** A page string in the request's language, for text the route composes (errors, intros). */
function text(ctx: Context, key: string, vars: Record<string, unknown> = {}): string {
  return translator(pageLocale(ctx))(key, vars);
}
