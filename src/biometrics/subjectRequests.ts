/**
 * Carrying out a data-subject request (src/accounts/subjectRequests.ts) with the same services the
 * account page and the CLI use: an erasure removes the person and all their data, palm data first
 * with its key destroyed (personRemoval.ts); a withdrawal ends the consent at one tenant and erases
 * the palm references there; an export builds the person's data file (accountData.ts), handed to
 * the caller to deliver, never stored.
 */
import type { CardVault } from '../../adapters/card-vault.js';
import { exportAccount } from '../accounts/accountData.js';
import { closeSubjectRequest, findSubjectRequest, SubjectRequestError } from '../accounts/subjectRequests.js';
import { findPersonById } from '../accounts/people.js';
import { withdrawConsent } from '../accounts/tenants.js';
import type { BiometricContext } from './context.js';
import { erasePalmDataAt } from './lifecycle.js';
import { removePersonAndData } from './personRemoval.js';

export async function carryOutSubjectRequest(
  bio: BiometricContext,
  id: string,
  options: { vault: CardVault; handledBy: string },
) {
  const request = await findSubjectRequest(bio.db, id);
  if (!request) throw new SubjectRequestError(`no request ${id}`);
  if (request.status !== 'open') throw new SubjectRequestError(`request ${id} is already ${request.status}`);
  const person = await findPersonById(bio.db, request.personId);
  if (!person) {
    // Already erased (by the person, or another request): nothing is left to export or withdraw.
    const closed = await closeSubjectRequest(bio.db, id, {
      status: 'done',
      outcome: 'nothing held: the account had already been erased',
      handledBy: options.handledBy,
    });
    return { ...closed, export: null };
  }
  switch (request.kind) {
    case 'erasure': {
      const removed = await removePersonAndData(bio, request.personId, {
        vault: options.vault,
        actor: options.handledBy,
      });
      const outcome =
        `account erased: ${removed.palmReferences} palm references (data key destroyed), ${removed.passkeys} passkeys, ` +
        `${removed.consents} consents, ${removed.cards} cards, ${removed.invitations} invitations; sessions and tokens revoked`;
      return {
        ...(await closeSubjectRequest(bio.db, id, { status: 'done', outcome, handledBy: options.handledBy })),
        export: null,
      };
    }
    case 'withdrawal': {
      const tenantId = request.tenantId!;
      const erased = await erasePalmDataAt(bio, request.personId, tenantId);
      await withdrawConsent(bio.db, request.personId, tenantId);
      const outcome = `consent at ${tenantId} withdrawn; ${erased.references} palm references there erased`;
      return {
        ...(await closeSubjectRequest(bio.db, id, { status: 'done', outcome, handledBy: options.handledBy })),
        export: null,
      };
    }
    case 'export': {
      const data = await exportAccount(bio.db, request.personId);
      const outcome = 'export produced and handed to the requester';
      return {
        ...(await closeSubjectRequest(bio.db, id, { status: 'done', outcome, handledBy: options.handledBy })),
        export: data,
      };
    }
    default:
      throw new SubjectRequestError(`unknown request kind ${request.kind}`);
  }
}
