import { Option, type Command } from 'commander';
import { findTenant } from '../../accounts/tenants.js';
import { ACCOUNT_CLIENT_ID, ensureAccountClient, setAccountClientTenant } from '../../oidc/accountClient.js';
import { AUTH_METHODS, addClient, listClients, removeClient } from '../../oidc/clients.js';
import { withContext } from '../context.js';
import { UserError, print, printJson, printTable } from '../output.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function register(program: Command): void {
  const client = program.command('client').description('manage relying parties (OpenID clients)');

  client
    .command('add')
    .description('register a client; its secret is printed once')
    .requiredOption('--name <name>', 'display name shown on the consent page')
    .option('--redirect-uri <uri>', 'allowed redirect URI (repeatable)', collect, [])
    .option('--post-logout-redirect-uri <uri>', 'allowed post-logout redirect URI (repeatable)', collect, [])
    .option(
      '--grant-types <list>',
      'comma-separated: authorization_code,refresh_token,client_credentials,' +
        'urn:ietf:params:oauth:grant-type:token-exchange',
      'authorization_code,refresh_token',
    )
    .addOption(
      new Option('--auth-method <method>', 'token endpoint authentication')
        .choices([...AUTH_METHODS])
        .default('client_secret_basic'),
    )
    .addOption(
      new Option('--subject-type <type>', 'sub claim per client sector (pairwise) or shared (public)')
        .choices(['public', 'pairwise'])
        .default('public'),
    )
    .option('--jwks-uri <uri>', 'where the client publishes its keys (private_key_jwt)')
    .option(
      '--exchange-audience <uri>',
      'an API this client may exchange palm sign-in tokens for (repeatable; needs the token-exchange grant)',
      collect,
      [],
    )
    .option(
      '--exchange-scope <scope>',
      'a scope it may ask for by token exchange: loyalty, payment, openid, email, profile (repeatable)',
      collect,
      [],
    )
    .option(
      '--exchange-from <reader_client_id>',
      'exchange only tokens of this reader of its tenant (repeatable; default: every reader of the tenant)',
      collect,
      [],
    )
    .option(
      '--tenant <id>',
      'offer "Sign in with your palm" at the login, searching the people who consented to this tenant; ' +
        "with token exchange, the tenant whose readers' tokens it may exchange",
    )
    .option(
      '--require-pad',
      'refuse palm sign-ins whose liveness was not checked (tokens without the amr urn:palmid:amr:pad)',
    )
    .option('--json', 'print client_id and client_secret as JSON')
    .action(async (opts) => {
      const grantTypes = String(opts.grantTypes)
        .split(',')
        .map((s: string) => s.trim())
        .filter(Boolean);
      await withContext(async (ctx) => {
        const { client: created, clientSecret } = await addClient(ctx.db, await ctx.provider(), {
          name: opts.name,
          redirectUris: opts.redirectUri,
          postLogoutRedirectUris: opts.postLogoutRedirectUri,
          grantTypes,
          authMethod: opts.authMethod,
          subjectType: opts.subjectType,
          jwksUri: opts.jwksUri,
          exchangeAudiences: opts.exchangeAudience,
          exchangeScopes: opts.exchangeScope,
          exchangeSubjectClients: opts.exchangeFrom,
          tenant: opts.tenant,
          requirePad: Boolean(opts.requirePad),
        });
        if (opts.json) {
          printJson({ ...created, client_secret: clientSecret ?? null });
        } else {
          print(`client_id:     ${created.client_id}\n`);
          if (clientSecret)
            print(`client_secret: ${clientSecret}\n\nThe secret is shown only now; palmid keeps only its hash.\n`);
        }
      });
    });

  client
    .command('list')
    .description('list registered clients')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        const clients = await listClients(ctx.db);
        if (opts.json) printJson(clients);
        else
          printTable(
            clients.map((c) => ({
              client_id: c.client_id,
              name: c.client_name,
              grants: c.grant_types.join(','),
              auth: c.token_endpoint_auth_method,
              sub: c.subject_type,
              tenant: c.tenant ?? '',
            })),
          );
      });
    });

  client
    .command('remove')
    .description('remove a client and revoke everything issued to it')
    .argument('<client_id>')
    .option('--json', 'print the result as JSON')
    .action(async (clientId: string, opts) => {
      await withContext(async (ctx) => {
        const removed = await removeClient(ctx.db, clientId);
        if (!removed) throw new UserError(`no client with id ${clientId}`);
        if (opts.json) printJson({ client_id: clientId, removed: true });
        else print(`removed ${clientId}\n`);
      });
    });

  // The account page's own client (src/oidc/accountClient.ts): palm sign-in to /account searches
  // the tenant named here; without one, the page takes passkeys only.
  client
    .command('account')
    .description(`the account page's client (${ACCOUNT_CLIENT_ID}): which tenant's palms may sign in to /account`)
    .addOption(new Option('--tenant <id>', 'offer palm sign-in, searching this tenant').conflicts('passkeysOnly'))
    .option('--passkeys-only', 'offer passkeys only (no palm sign-in to the account page)')
    .option('--json', 'print the result as JSON')
    .action(async (opts) => {
      await withContext(async (ctx) => {
        if (opts.tenant && !(await findTenant(ctx.db, opts.tenant)))
          throw new UserError(`unknown tenant ${opts.tenant}`);
        await ensureAccountClient(ctx.db, ctx.config.issuer);
        if (opts.tenant || opts.passkeysOnly) await setAccountClientTenant(ctx.db, opts.tenant ?? null);
        const tenant = (await listClients(ctx.db)).find((c) => c.client_id === ACCOUNT_CLIENT_ID)?.tenant ?? null;
        if (opts.json) printJson({ client_id: ACCOUNT_CLIENT_ID, tenant });
        else
          print(
            tenant ? `palm sign-in to /account searches tenant ${tenant}\n` : 'the account page takes passkeys only\n',
          );
      });
    });
}
