/**
 * A tenant's staff (`palmid staff add|list|remove`): who may run that tenant's enrolment station
 * at /enrol. Platform administrators may run every tenant's station without being listed here.
 */
import type { Command } from 'commander';
import { findPerson, type PersonRecord } from '../../accounts/people.js';
import { addStaff, isStaffRole, listStaff, removeStaff, STAFF_ROLES } from '../../accounts/staff.js';
import { findTenant } from '../../accounts/tenants.js';
import { type CommandContext, withContext } from '../context.js';
import { UserError, print, printJson, printTable } from '../output.js';

async function personByRef(ctx: CommandContext, ref: string): Promise<PersonRecord> {
  const person = await findPerson(ctx.db, ref);
  if (!person) throw new UserError(`no person ${ref.includes('@') ? 'with email' : 'with id'} ${ref}`);
  return person;
}

async function knownTenant(ctx: CommandContext, id: string): Promise<void> {
  if (!(await findTenant(ctx.db, id))) throw new UserError(`unknown tenant ${id}`);
}

export function register(program: Command): void {
  const staff = program.command('staff').description("a tenant's staff: who may run its enrolment station (/enrol)");

  staff
    .command('add')
    .description("make a person a member of a tenant's staff (or change their role there)")
    .requiredOption('--tenant <id>', 'the tenant')
    .requiredOption('--person <person>', 'id or email address')
    .option('--role <role>', `${STAFF_ROLES.join(' or ')}`, 'staff')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      if (!isStaffRole(opts.role)) throw new UserError(`--role must be one of ${STAFF_ROLES.join(', ')}`, 2);
      await withContext(async (ctx) => {
        await knownTenant(ctx, opts.tenant);
        const person = await personByRef(ctx, opts.person);
        const { membership, created } = await addStaff(ctx.db, {
          personId: person.id,
          tenantId: opts.tenant,
          role: opts.role,
          actor: 'cli',
        });
        if (opts.json) printJson({ ...membership, created });
        else print(`${person.email} is ${membership.role} of ${opts.tenant}${created ? '' : ' (role updated)'}`);
      });
    });

  staff
    .command('list')
    .description('list staff members, by tenant')
    .option('--tenant <id>', 'only this tenant')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        if (opts.tenant) await knownTenant(ctx, opts.tenant);
        const members = await listStaff(ctx.db, opts.tenant ? { tenantId: opts.tenant } : {});
        if (opts.json) return printJson(members);
        printTable(
          members.map((m) => ({
            tenant: m.tenantId,
            person: m.personId,
            email: m.email,
            name: m.name ?? '',
            role: m.role,
            since: m.createdAt.toISOString(),
          })),
        );
      });
    });

  staff
    .command('remove')
    .description("remove a person from a tenant's staff")
    .requiredOption('--tenant <id>', 'the tenant')
    .requiredOption('--person <person>', 'id or email address')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        await knownTenant(ctx, opts.tenant);
        const person = await personByRef(ctx, opts.person);
        const removed = await removeStaff(ctx.db, { personId: person.id, tenantId: opts.tenant, actor: 'cli' });
        if (!removed) throw new UserError(`${person.email} is not staff of ${opts.tenant}`);
        if (opts.json) printJson({ personId: person.id, tenantId: opts.tenant, removed: true });
        else print(`${person.email} removed from the staff of ${opts.tenant}`);
      });
    });
}
