/** Readers (palm sign-in devices), PINs and lock-outs. */
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { setPin } from '../../readers/pin.js';
import { readerSignIn, type ReaderKeyFile } from '../../readers/client.js';
import { CHALLENGES } from '../../palm/index.js';
import { issueActivationCode } from '../../readers/activation.js';
import { addReader, listReaders, revokeReader } from '../../readers/registry.js';
import { GREETINGS } from '../../readers/greeting.js';
import { personSubject, readerSubject, resetHintedPalmCounts, resetThrottle } from '../../throttling/attemptLimits.js';
import { personByEmail, readSecretLine, withContext } from '../context.js';
import { UserError, print, printJson, printTable } from '../output.js';
import { normaliseEmail } from '../../accounts/people.js';

export function register(program: Command): void {
  const reader = program
    .command('reader')
    .description('palm readers: OpenID clients of a tenant that sign people in by CIBA');

  reader
    .command('add')
    .description('register a reader and write its private key (JWK) for the device')
    .requiredOption('--tenant <id>', 'the tenant the reader belongs to')
    .requiredOption('--name <name>', 'a name, e.g. "Gate 3"')
    .option('--location <label>', 'where it stands')
    .addOption(new Option('--delivery <mode>', 'CIBA token delivery').choices(['poll', 'ping']).default('poll'))
    .option('--notification-endpoint <url>', 'for ping delivery: where the provider pings the reader')
    .option('--require-pin', 'every sign-in at this reader needs the PIN step-up')
    .option(
      '--require-pad',
      'refuse sign-ins whose frames did not pass liveness (PAD): needs several frames per envelope',
    )
    .addOption(
      new Option('--greeting <greeting>', 'how the reader greets a recognised person on its screen')
        .choices([...GREETINGS])
        .default('first_name'),
    )
    .option('--key-out <file>', 'write the reader key file here (mode 0600) instead of printing it')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      if (opts.keyOut && fs.existsSync(opts.keyOut))
        throw new UserError(`${opts.keyOut} exists; not overwriting a key file`, 2);
      await withContext(async (ctx) => {
        const credentials = await addReader(ctx.db, await ctx.provider(), {
          tenantId: opts.tenant,
          name: opts.name,
          location: opts.location,
          deliveryMode: opts.delivery,
          notificationEndpoint: opts.notificationEndpoint,
          requirePin: Boolean(opts.requirePin),
          requirePad: Boolean(opts.requirePad),
          greeting: opts.greeting,
        });
        const keyFile = { ...credentials, issuer: ctx.config.issuer };
        if (opts.keyOut)
          fs.writeFileSync(opts.keyOut, `${JSON.stringify(keyFile, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
        // A browser (kiosk) reader makes its own key instead: it activates once with this code.
        const activation = await issueActivationCode(ctx.db, credentials.client_id);
        const kiosk = kioskActivation(ctx.config.issuer, activation);
        if (opts.json)
          printJson({
            ...(opts.keyOut
              ? { client_id: credentials.client_id, tenant: credentials.tenant, key_file: opts.keyOut }
              : keyFile),
            ...kiosk,
          });
        else if (opts.keyOut)
          print(
            `reader ${credentials.client_id} added to ${credentials.tenant}; key written to ${opts.keyOut}\n` +
              kioskText(kiosk),
          );
        else
          print(
            `reader ${credentials.client_id} added to ${credentials.tenant}. ` +
              'Its key file (keep it on the device only):\n' +
              `${JSON.stringify(keyFile, null, 2)}\n${kioskText(kiosk)}`,
          );
      });
    });

  reader
    .command('activation')
    .description('a new one-time code with which a kiosk (browser) reader installs its own key')
    .argument('<client_id>')
    .option('--json', 'print as JSON')
    .action(async (clientId: string, opts) => {
      await withContext(async (ctx) => {
        const activation = await issueActivationCode(ctx.db, clientId);
        const kiosk = kioskActivation(ctx.config.issuer, activation);
        if (opts.json) printJson({ client_id: clientId, ...kiosk });
        else print(kioskText(kiosk));
      });
    });

  reader
    .command('list')
    .description('list readers')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        const readers = await listReaders(ctx.db);
        if (opts.json) printJson(readers);
        else
          printTable(
            readers.map((r) => ({
              client_id: r.clientId,
              tenant: r.tenantId,
              name: r.name,
              location: r.location ?? '',
              status: r.revokedAt ? `revoked ${r.revokedAt.toISOString()}` : 'active',
            })),
          );
      });
    });

  reader
    .command('revoke')
    .description('revoke a reader: refused from the next request on')
    .argument('<client_id>')
    .option('--json', 'print as JSON')
    .action(async (clientId: string, opts) => {
      await withContext(async (ctx) => {
        if (!(await revokeReader(ctx.db, clientId))) throw new UserError(`no active reader ${clientId}`);
        if (opts.json) printJson({ client_id: clientId, revoked: true });
        else print(`reader ${clientId} revoked`);
      });
    });

  reader
    .command('signin')
    .description('sign a person in as a reader would: capture envelope, CIBA, tokens')
    .requiredOption('--issuer <url>', "the provider's issuer URL")
    .requiredOption('--reader-key <file>', 'the key file from `palmid reader add`')
    .option('--pin <pin>', 'the PIN, for step-up (sent as user_code)')
    .option('--acr <acr>', 'acr_values to ask for, e.g. urn:palmid:acr:palm+pin')
    .addOption(new Option('--kind <kind>', 'what the images show').choices(['roi', 'hand']).default('roi'))
    .option('--binding-message <text>', 'a short code shown on the reader')
    .addOption(
      new Option(
        '--challenge <challenge>',
        'liveness: what the hand was asked to do after the first image (the ready frame); the others show it',
      ).choices([...CHALLENGES]),
    )
    .option('--json', 'print ok, error, sub, email, acr, amr, ms as JSON')
    .argument('<images...>', 'captures (PNG, JPEG, BMP); with --challenge, the ready frame first')
    .action(async (images: string[], opts) => {
      let keyFile: ReaderKeyFile;
      try {
        keyFile = JSON.parse(fs.readFileSync(opts.readerKey, 'utf8')) as ReaderKeyFile;
      } catch {
        throw new UserError(`cannot read the reader key file ${opts.readerKey}`, 2);
      }
      if (!keyFile.client_id || !keyFile.key?.d) throw new UserError(`${opts.readerKey} is not a reader key file`, 2);
      if (opts.challenge && (images.length < 2 || opts.kind !== 'hand'))
        throw new UserError(
          '--challenge needs --kind hand and several images: the ready frame, then the hand following it',
          2,
        );
      const captures = images.map((file) => {
        try {
          return fs.readFileSync(file);
        } catch {
          throw new UserError(`cannot read ${file}`, 2);
        }
      });
      const result = await readerSignIn({
        issuer: opts.issuer,
        reader: keyFile,
        images: captures,
        kind: opts.kind,
        pin: opts.pin,
        acr: opts.acr,
        bindingMessage: opts.bindingMessage,
        ...(opts.challenge ? { challenge: opts.challenge } : {}),
      });
      if (opts.json) print(JSON.stringify(result));
      else if (result.ok)
        print(
          `signed in: ${result.email ?? result.sub}  acr ${result.acr}  amr ${result.amr?.join(',')}  ${result.ms} ms`,
        );
      else
        print(
          `refused: ${result.error}` +
            (result.error_description ? ` (${result.error_description})` : '') +
            `  ${result.ms} ms`,
        );
      if (!result.ok) throw new UserError('', 1, { silent: true });
    });

  const pin = program.command('pin').description("a person's PIN for step-up at readers");
  pin
    .command('set')
    .description('set a PIN (read from standard input: 4 to 12 digits)')
    .requiredOption('--person <email>', 'the person')
    .action(async (opts) => {
      const value = await readSecretLine('PIN');
      await withContext(async (ctx) => {
        const person = await personByEmail(ctx, opts.person);
        await setPin(ctx.db, person.id, value);
        print(`PIN set for ${person.email}`);
      });
    });

  program
    .command('unlock')
    .description('clear the failed-attempt lock-out of a person or a reader')
    .option('--person <email>', 'the person')
    .option('--reader <client_id>', 'the reader')
    .action(async (opts) => {
      if (!opts.person && !opts.reader) throw new UserError('give --person or --reader', 2);
      await withContext(async (ctx) => {
        if (opts.person) {
          const person = await personByEmail(ctx, opts.person);
          await resetThrottle(ctx.db, personSubject(person.id));
          await resetHintedPalmCounts(ctx.db, normaliseEmail(person.email));
        }
        if (opts.reader) await resetThrottle(ctx.db, readerSubject(opts.reader));
        print('unlocked');
      });
    });
}

interface KioskActivation {
  activation_code: string;
  activation_expires_at: string;
  kiosk_url: string;
}

function kioskActivation(issuer: string, activation: { code: string; expiresAt: Date }): KioskActivation {
  return {
    activation_code: activation.code,
    activation_expires_at: activation.expiresAt.toISOString(),
    kiosk_url: `${issuer.replace(/\/$/, '')}/kiosk`,
  };
}

function kioskText(k: KioskActivation): string {
  return (
    `Kiosk activation code: ${k.activation_code} (one use, until ${k.activation_expires_at}): ` +
    `open ${k.kiosk_url} on the tablet and enter it.`
  );
}
