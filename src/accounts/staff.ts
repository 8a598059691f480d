/**
 * A tenant's staff (tenant_member): the people who may run that tenant's enrolment station.
 * Membership is per tenant, so a member of one tenant can never enrol anyone at another; platform
 * administrators (person.role 'admin') may run any tenant's station without a membership.
 */
import { audit } from '../audit/audit.js';
import type { Database } from '../db/database.js';
import { type PersonRecord, findPersonById } from './people.js';
import { findTenant, TenantError } from './tenants.js';

export const STAFF_ROLES = ['staff', 'admin'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];

export function isStaffRole(value: unknown): value is StaffRole {
  return typeof value === 'string' && (STAFF_ROLES as readonly string[]).includes(value);
}

export interface Membership {
  personId: string;
  email: string;
  name: string | null;
  tenantId: string;
  tenantName: string;
  role: StaffRole;
  createdAt: Date;
}

const MEMBERSHIP_SELECT = {
  personId: true,
  tenantId: true,
  role: true,
  createdAt: true,
  person: { select: { email: true, name: true } },
  tenant: { select: { name: true } },
} as const;

type MembershipRow = {
  personId: string;
  tenantId: string;
  role: string;
  createdAt: Date;
  person: { email: string; name: string | null };
  tenant: { name: string };
};

function membership(row: MembershipRow): Membership {
  return {
    personId: row.personId,
    email: row.person.email,
    name: row.person.name,
    tenantId: row.tenantId,
    tenantName: row.tenant.name,
    role: isStaffRole(row.role) ? row.role : 'staff',
    createdAt: row.createdAt,
  };
}

/** Makes the person a member of the tenant's staff, or changes their role there. */
export async function addStaff(
  db: Database,
  input: { personId: string; tenantId: string; role?: StaffRole; actor?: string },
): Promise<{ membership: Membership; created: boolean }> {
  const role = input.role ?? 'staff';
  if (!isStaffRole(role)) throw new TenantError(`a staff role is one of ${STAFF_ROLES.join(', ')}`);
  if (!(await findTenant(db, input.tenantId))) throw new TenantError(`unknown tenant ${input.tenantId}`);
  if (!(await findPersonById(db, input.personId))) throw new TenantError(`unknown person ${input.personId}`);
  const existing = await db.prisma.tenantMember.findUnique({
    where: { personId_tenantId: { personId: input.personId, tenantId: input.tenantId } },
  });
  const row = await db.prisma.tenantMember.upsert({
    where: { personId_tenantId: { personId: input.personId, tenantId: input.tenantId } },
    create: { personId: input.personId, tenantId: input.tenantId, role },
    update: { role },
    select: MEMBERSHIP_SELECT,
  });
  await audit(db, {
    action: existing ? 'staff.role_changed' : 'staff.added',
    actor: input.actor ?? null,
    subject: input.personId,
    detail: { tenant: input.tenantId, role },
  });
  return { membership: membership(row), created: !existing };
}

/** Members of one tenant's staff, or of every tenant, by tenant then email. */
export async function listStaff(db: Database, filter: { tenantId?: string } = {}): Promise<Membership[]> {
  const rows = await db.prisma.tenantMember.findMany({
    where: filter.tenantId ? { tenantId: filter.tenantId } : {},
    orderBy: [{ tenantId: 'asc' }, { person: { email: 'asc' } }],
    select: MEMBERSHIP_SELECT,
  });
  return rows.map(membership);
}

/** Ends a membership; false when there was none. */
export async function removeStaff(
  db: Database,
  input: { personId: string; tenantId: string; actor?: string },
): Promise<boolean> {
  const { count } = await db.prisma.tenantMember.deleteMany({
    where: { personId: input.personId, tenantId: input.tenantId },
  });
  if (count)
    await audit(db, {
      action: 'staff.removed',
      actor: input.actor ?? null,
      subject: input.personId,
      detail: { tenant: input.tenantId },
    });
  return count > 0;
}

export async function findMembership(db: Database, personId: string, tenantId: string): Promise<Membership | null> {
  const row = await db.prisma.tenantMember.findUnique({
    where: { personId_tenantId: { personId, tenantId } },
    select: MEMBERSHIP_SELECT,
  });
  return row ? membership(row) : null;
}

/**
 * The tenants whose station this person may run: their memberships, or every tenant for a
 * platform administrator. Oldest tenant first.
 */
export async function stationTenants(db: Database, person: PersonRecord): Promise<Array<{ id: string; name: string }>> {
  if (person.role === 'admin')
    return db.prisma.tenant.findMany({ orderBy: { createdAt: 'asc' }, select: { id: true, name: true } });
  const rows = await db.prisma.tenantMember.findMany({
    where: { personId: person.id },
    orderBy: { tenant: { createdAt: 'asc' } },
    select: { tenant: { select: { id: true, name: true } } },
  });
  return rows.map((r) => r.tenant);
}

/** Whether this person may enrol people at this tenant's station. */
export async function mayRunStation(db: Database, person: PersonRecord, tenantId: string): Promise<boolean> {
  if (person.role === 'admin') return Boolean(await findTenant(db, tenantId));
  return (await findMembership(db, person.id, tenantId)) !== null;
}
