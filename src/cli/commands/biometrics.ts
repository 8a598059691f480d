/** Tenants, consent, enrolment, identification and erasure from the command line. */
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { findPersonById } from '../../accounts/people.js';
import {
  addTenant,
  currentNotice,
  findTenant,
  listTenants,
  recordConsent,
  withdrawConsent,
} from '../../accounts/tenants.js';
import { BiometricContext } from '../../biometrics/context.js';
import { enrolPalm } from '../../biometrics/enrolment.js';
import { identifyPalm } from '../../biometrics/identification.js';
import { erasePalmData, erasePalmDataAt, rekeyTenant } from '../../biometrics/lifecycle.js';
import { personByEmail, withContext } from '../context.js';
import { readBoundedFile } from '../files.js';
import { PalmidError } from '../../errors.js';
import { UserError, print, printJson, printTable } from '../output.js';

const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

function readImage(file: string): Uint8Array {
  return readBoundedFile(file, MAX_IMAGE_BYTES);
}

export function register(program: Command): void {
  const tenant = program.command('tenant').description('operators whose readers identify palms');
  tenant
    .command('add')
    .description('add a tenant (with version 1 of its biometric notice)')
    .requiredOption('--id <id>', 'short id, e.g. hq-office')
    .requiredOption('--name <name>', 'display name')
    .option('--retention-days <days>', 'delete palm data unused for this long (max 1095)', (v) => Number(v))
    .option('--target-fmr <rate>', 'target false match rate for 1:N (default 1e-5)', (v) => Number(v))
    .option('--notice-file <file>', 'text of the biometric notice (default: a generated one)')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      const notice = opts.noticeFile ? fs.readFileSync(opts.noticeFile, 'utf8') : undefined;
      await withContext(async (ctx) => {
        const created = await addTenant(ctx.db, {
          id: opts.id,
          name: opts.name,
          retentionDays: opts.retentionDays,
          targetFmr: opts.targetFmr,
          notice,
        });
        if (opts.json) printJson(created);
        else
          print(
            `tenant ${created.id} added (retention ${created.retentionDays} days, target FMR ${created.targetFmr})`,
          );
      });
    });
  tenant
    .command('list')
    .description('list tenants')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        const tenants = await listTenants(ctx.db);
        if (opts.json) printJson(tenants);
        else
          printTable(
            tenants.map((t) => ({
              id: t.id,
              name: t.name,
              retention_days: String(t.retentionDays),
              target_fmr: String(t.targetFmr),
              key_version: String(t.keyVersion),
              protection: t.templateProtection === 'projection' ? 'code' : 'transform (rekey)',
              palms: String(t.references),
            })),
          );
      });
    });
  tenant
    .command('rekey')
    .description(
      'renew every palm reference of a tenant under a new protection key (no re-enrolment); ' +
        'also converts a tenant still on the old linear transform to keyed codes',
    )
    .argument('<id>')
    .option('--json', 'print as JSON')
    .action(async (id: string, opts) => {
      await withContext(async (ctx) => {
        const result = await rekeyTenant(new BiometricContext(ctx.db, ctx.master), id);
        if (opts.json) printJson(result);
        else
          print(
            `tenant ${id}: ${result.references} reference(s) renewed under key version ${result.keyVersion}` +
              (result.unreadable ? `; ${result.unreadable} without a data key left behind` : ''),
          );
      });
    });

  program
    .command('consent')
    .description("show a tenant's biometric notice and record (--accept) or withdraw a person's consent")
    .requiredOption('--person <email>', 'the person')
    .requiredOption('--tenant <id>', 'the tenant')
    .option('--accept', 'the person has read the notice shown and consents')
    .option('--withdraw', 'withdraw consent (deletes their palm references at this tenant)')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        const person = await personByEmail(ctx, opts.person);
        const notice = await currentNotice(ctx.db, opts.tenant);
        if (opts.withdraw) {
          // The references go first, with the key that opened them destroyed (lifecycle.ts).
          await erasePalmDataAt(new BiometricContext(ctx.db, ctx.master), person.id, opts.tenant);
          await withdrawConsent(ctx.db, person.id, opts.tenant);
          return opts.json
            ? printJson({ withdrawn: true })
            : print('consent withdrawn; palm references at this tenant deleted');
        }
        if (!opts.accept) {
          if (opts.json) return printJson({ tenant: opts.tenant, noticeVersion: notice.version, text: notice.text });
          return print(
            `${notice.text}\n\n(notice version ${notice.version}; run again with --accept once the person agrees)`,
          );
        }
        const consent = await recordConsent(ctx.db, person.id, opts.tenant, notice.version);
        if (opts.json)
          printJson({ consent: consent.id, noticeVersion: consent.noticeVersion, grantedAt: consent.grantedAt });
        else print(`consent to notice version ${consent.noticeVersion} recorded at ${consent.grantedAt.toISOString()}`);
      });
    });

  program
    .command('enroll')
    .description('enrol a palm from several captures (the person must have consented to the tenant)')
    .requiredOption('--person <email>', 'the person')
    .addOption(new Option('--palm <hand>', 'which palm').choices(['left', 'right']).makeOptionMandatory())
    .requiredOption('--tenant <id>', 'the tenant')
    .addOption(new Option('--kind <kind>', 'what the images show').choices(['auto', 'roi', 'hand']).default('auto'))
    .option('--json', 'print as JSON')
    .argument('<images...>', 'captures of the palm (PNG, JPEG, BMP); 3 by default')
    .action(async (images: string[], opts) => {
      const captures = images.map(readImage);
      await withContext(async (ctx) => {
        const person = await personByEmail(ctx, opts.person);
        const result = await enrolPalm(new BiometricContext(ctx.db, ctx.master), {
          personId: person.id,
          tenantId: opts.tenant,
          hand: opts.palm,
          captures,
          kind: opts.kind,
        });
        if (opts.json) printJson({ person: person.email, ...result });
        else
          print(
            `${opts.palm} palm of ${person.email} ${result.replaced ? 're-enrolled' : 'enrolled'} at ${opts.tenant} ` +
              `from ${result.samples} captures (quality ${result.quality.toFixed(2)})`,
          );
      });
    });

  program
    .command('identify')
    .description("find the person a palm belongs to among a tenant's consented people")
    .requiredOption('--tenant <id>', 'the tenant')
    .addOption(new Option('--kind <kind>', 'what the images show').choices(['auto', 'roi', 'hand']).default('auto'))
    .option('--json', 'one JSON line per image: image, match, person, score, ms')
    .argument('<images...>', 'captures (PNG, JPEG, BMP)')
    .action(async (images: string[], opts) => {
      await withContext(async (ctx) => {
        // Checked before the images, so that an unknown tenant is one error rather than one per image.
        if (!(await findTenant(ctx.db, opts.tenant))) throw new UserError(`unknown tenant ${opts.tenant}`);
        const bio = new BiometricContext(ctx.db, ctx.master);
        let failures = 0;
        for (const image of images) {
          try {
            const r = await identifyPalm(bio, { tenantId: opts.tenant, capture: readImage(image), kind: opts.kind });
            const person = r.personId ? ((await findPersonById(ctx.db, r.personId))?.email ?? null) : null;
            if (opts.json)
              print(
                JSON.stringify({ image, match: r.match, person, score: Number(r.score.toFixed(4)), ms: r.ms.total }),
              );
            else
              print(
                `${image}: ${r.match ? `${person} (${r.hand} palm)` : 'no match'}  score ${r.score.toFixed(3)} ` +
                  `(threshold ${r.threshold.toFixed(3)})  ${r.ms.total} ms`,
              );
          } catch (err) {
            failures++;
            // A refusal meant for people (a rejected capture, an unreadable file) as its message; anything else named.
            const message = err instanceof PalmidError && err.expose ? err.message : String(err);
            if (opts.json)
              print(JSON.stringify({ image, match: false, person: null, score: 0, ms: 0, error: message }));
            else print(`${image}: rejected: ${message}`);
          }
        }
        if (failures === images.length) throw new UserError('no image could be processed');
      });
    });

  program
    .command('erase')
    .description(
      "delete a person's palm data everywhere and destroy the key that opened it " +
        '(crypto-shredding; see the README on the key store and backups)',
    )
    .requiredOption('--person <email>', 'the person')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        const person = await personByEmail(ctx, opts.person);
        const result = await erasePalmData(new BiometricContext(ctx.db, ctx.master), person.id, 'cli');
        if (opts.json) printJson({ person: person.email, ...result });
        else print(`palm data of ${person.email} erased (${result.references} reference(s))`);
      });
    });
}
