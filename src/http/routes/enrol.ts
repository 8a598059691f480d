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
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { LocalCardVault } from '../../../adapters/card-vault.js';
import { CardError, findLoyaltyNumber, linkCard, listCards, setLoyaltyNumber } from '../../accounts/cards.js';
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
import { finishAuthentication, startAuthentication } from '../../webauthn/authentication.js';
import type { RelyingParty } from '../../webauthn/relyingParty.js';
import type { Database } from '../../db/database.js';
import { readBody } from '../body.js';
import { HttpError } from '../errors.js';
import { pageLocale } from '../locale.js';
import { ENROL_FRAMES, answerPalmEnrolment, palmEnrolmentLimit } from '../palmEnrolment.js';
import { allowHandTracker } from '../security.js';
import { STATION_SESSION, clearPageSession, readPageSession, setPageSession } from '../signedSession.js';

export interface EnrolDeps {
  db: Database;
  bio: BiometricContext;
  frames: FramePool;
  rp: RelyingParty;
  bodyLimitBytes: number;
}

const CEREMONY_COOKIE = 'palmid_station_ceremony';
const DESK_COOKIE = 'palmid_station_desk';

/** The station's setting: who set it, the tenant, the station's name, and the person being enrolled. */
interface Desk {
  staffId: string;
  tenantId: string;
  station: string;
  personId?: string | undefined;
}

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
  ctx.cookies.set(DESK_COOKIE, Buffer.from(JSON.stringify(desk)).toString('base64url'), {
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

  const shown = (person: PersonRecord) => person.name ?? person.email;
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

  router.post('/passkey/options', async (ctx) => {
    const ceremony = randomBytes(16).toString('base64url');
    ctx.cookies.set(CEREMONY_COOKIE, ceremony, {
      httpOnly: true,
      sameSite: 'strict',
      path: STATION_SESSION.path,
      maxAge: 5 * 60 * 1000,
      secure: ctx.secure,
    });
    ctx.set('cache-control', 'no-store');
    ctx.body = await startAuthentication(deps.db, deps.rp, `station:${ceremony}`);
  });

  router.post('/passkey/verify', async (ctx) => {
    const ceremony = ctx.cookies.get(CEREMONY_COOKIE);
    if (!ceremony) throw new HttpError(400, 'invalid_request', 'The sign-in expired; try again.');
    const body = await readBody(ctx, deps.bodyLimitBytes);
    const signIn = await finishAuthentication(deps.db, deps.rp, `station:${ceremony}`, body);
    ctx.cookies.set(CEREMONY_COOKIE, null, { path: STATION_SESSION.path });
    const person = await findPersonById(deps.db, signIn.personId);
    if (!person || !(await stationTenants(deps.db, person)).length) {
      await audit(deps.db, { action: 'station.refused', actor: signIn.personId });
      throw new HttpError(403, 'access_denied', 'This account is not on the staff of any tenant.');
    }
    setPageSession(ctx, STATION_SESSION, person.id);
    clearDesk(ctx);
    await audit(deps.db, { action: 'station.signin', actor: person.id });
    ctx.set('cache-control', 'no-store');
    ctx.body = { redirectTo: '/enrol/desk' };
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

  async function choosePerson(ctx: Context, current: Station, person: PersonRecord) {
    writeDesk(ctx, { ...current.desk, personId: person.id });
    seeOther(ctx, '/enrol/notice');
  }

  router.post('/person/find', async (ctx) => {
    const current = await requireStation(ctx);
    const body = await readBody(ctx, deps.bodyLimitBytes);
    const email = field(body, 'email');
    if (!isValidEmail(email)) {
      ctx.status = 400;
      return page(ctx, 'enrol-person', { ...barData(current), email, error: text(ctx, 'enrol:person.invalidEmail') });
    }
    const person = await findPersonByEmail(deps.db, email);
    if (person) return choosePerson(ctx, current, person);
    page(ctx, 'enrol-person', { ...barData(current), email, notFound: true });
  });

  router.post('/person/create', async (ctx) => {
    const current = await requireStation(ctx);
    const body = await readBody(ctx, deps.bodyLimitBytes);
    const input = { email: field(body, 'email'), name: field(body, 'name'), phone: field(body, 'phone') };
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
    await choosePerson(ctx, current, person);
  });

  /** The notice, for the person to read and accept on the station's screen. */
  async function showNotice(ctx: Context, current: Station & { person: PersonRecord }, error?: string) {
    const notice = await currentNotice(deps.db, current.desk.tenantId);
    page(ctx, 'enrol-notice', {
      ...barData(current),
      notice,
      intro: text(ctx, 'enrol:notice.handOver', { person: shown(current.person), tenant: current.desk.tenantName }),
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
    try {
      await recordConsent(deps.db, current.person.id, current.desk.tenantId, Number(field(body, 'notice_version')), {
        method: 'station',
        recordedById: current.staff.id,
        station: current.desk.station,
      });
    } catch (err) {
      if (!(err instanceof TenantError)) throw err;
      ctx.status = 409;
      return showNotice(ctx, current, text(ctx, 'enrol:notice.changed'));
    }
    seeOther(ctx, '/enrol/capture');
  });

  router.get('/capture', async (ctx) => {
    if (!(await stationOrSignIn(ctx))) return;
    const current = await withPerson(ctx);
    if (!current) return seeOther(ctx, '/enrol/person');
    const consent = await findActiveConsent(deps.db, current.person.id, current.desk.tenantId);
    const notice = await currentNotice(deps.db, current.desk.tenantId);
    if (consent?.noticeVersion !== notice.version) return seeOther(ctx, '/enrol/notice');
    const locale = pageLocale(ctx);
    // The capture runs the hand tracker (WebAssembly) in the page.
    allowHandTracker(ctx);
    page(ctx, 'enrol-capture', {
      ...barData(current),
      lead: text(ctx, 'enrol:person.found', { person: shown(current.person) }),
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
    const enrolled = await answerPalmEnrolment(ctx, deps, {
      personId: current.person.id,
      tenantId: current.desk.tenantId,
    });
    if (enrolled)
      await audit(deps.db, {
        action: 'station.palm_enrolled',
        actor: current.staff.id,
        subject: current.person.id,
        detail: { tenant: current.desk.tenantId, station: current.desk.station, hand: enrolled.hand },
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
    if (!(await stationOrSignIn(ctx))) return;
    const current = await withPerson(ctx);
    if (!current) return seeOther(ctx, '/enrol/person');
    await showExtras(ctx, current);
  });

  router.post('/extras', async (ctx) => {
    const current = await withPerson(ctx);
    if (!current) throw new HttpError(400, 'invalid_request', 'Find or add the person first.');
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
    if (!(await stationOrSignIn(ctx))) return;
    const current = await withPerson(ctx);
    if (!current) return seeOther(ctx, '/enrol/person');
    const described = await describePerson(deps.db, current.person.id);
    const cards = await listCards(deps.db, current.person.id);
    page(ctx, 'enrol-done', {
      ...barData(current),
      summary: text(ctx, 'enrol:done.summary', {
        person: shown(current.person),
        tenant: current.desk.tenantName,
      }),
      palms: (described?.palms ?? []).filter((p) => p.tenant === current.desk.tenantId).map((p) => p.hand),
      cards: cards.map((c) => ({ brand: c.brand, last4: c.last4 })),
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
    writeDesk(ctx, { staffId: current.desk.staffId, tenantId: current.desk.tenantId, station: current.desk.station });
    seeOther(ctx, declined ? '/enrol/person?declined=1' : '/enrol/person');
  });

  return router;
}

/** A page string in the request's language, for text the route composes (errors, intros). */
function text(ctx: Context, key: string, vars: Record<string, unknown> = {}): string {
  return translator(pageLocale(ctx))(key, vars);
}
