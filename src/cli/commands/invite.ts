import { Option, type Command } from 'commander';
import { createInvitation, invitationUrl } from '../../accounts/invitations.js';
import { isValidEmail } from '../../accounts/people.js';
import { withContext } from '../context.js';
import { UserError, parseDuration, print, printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('invite')
    .description('create a one-time link with which a person registers a passkey')
    .option('--email <email>', 'bind the invitation to this email (a new person is added at once, without passkey)')
    .addOption(new Option('--role <role>', 'role of the new person').choices(['user', 'admin']).default('user'))
    .option('--add-passkey', 'the --email person already has a passkey (or is an administrator): add one more')
    .option('--expires <duration>', 'validity, e.g. 30m, 12h, 7d', '7d')
    .option('--json', 'print the invitation as JSON')
    .action(async (opts) => {
      const ttlSeconds = parseDuration(opts.expires);
      if (opts.email && !isValidEmail(opts.email)) throw new UserError(`invalid email ${opts.email}`, 2);
      await withContext(async (ctx) => {
        const invitation = await createInvitation(ctx.db, {
          email: opts.email,
          role: opts.role,
          ttlSeconds,
          actor: 'cli',
          addPasskey: opts.addPasskey === true,
        });
        const url = invitationUrl(ctx.config.issuer, invitation.token);
        if (opts.json)
          printJson({
            url,
            email: invitation.email,
            role: invitation.role,
            expires_at: invitation.expiresAt.toISOString(),
            person_id: invitation.personId,
            person_created: invitation.personCreated,
            passkeys: invitation.passkeys,
          });
        else
          print(
            `${url}\n(valid until ${invitation.expiresAt.toISOString()}, once)\n` +
              (invitation.personCreated ? `person ${invitation.email} added (${invitation.personId})\n` : '') +
              (invitation.passkeys
                ? `adds a passkey to ${invitation.email}, who has ${invitation.passkeys} passkey(s)\n`
                : ''),
          );
      });
    });
}
