/**
 * Removing a person with all their data, in the one order that leaves nothing readable: their
 * sessions and tokens end (no enrolment can start from one meanwhile), their palm data is erased
 * with the key that opened it destroyed, then the person and everything else that refers to them
 * goes (accounts/people.ts deletePerson, which refuses if palm data reappeared). `palmid person
 * remove` and the account page's "delete my account" both run this.
 */
import type { CardVault } from '../../adapters/card-vault.js';
import {
  countAdministrators,
  deletePerson,
  findPersonById,
  PersonRemovalError,
  revokeAccess,
} from '../accounts/people.js';
import type { BiometricContext } from './context.js';
import { erasePalmData } from './lifecycle.js';

/** The last administrator stays (the console needs one); `palmid person remove --force` may still remove them. */
export class LastAdministratorError extends PersonRemovalError {}

export async function removePersonAndData(
  bio: BiometricContext,
  personId: string,
  options: { vault: CardVault; actor: string; allowLastAdministrator?: boolean },
) {
  const person = await findPersonById(bio.db, personId);
  if (!person) throw new PersonRemovalError(`no person with id ${personId}`);
  // Without an administrator nobody can run the console; a new one needs the setup link.
  if (person.role === 'admin' && !options.allowLastAdministrator && (await countAdministrators(bio.db)) <= 1)
    throw new LastAdministratorError('the last administrator cannot be removed');
  await revokeAccess(bio.db, personId);
  const erased = await erasePalmData(bio, personId, options.actor);
  const removed = await deletePerson(bio.db, personId, { vault: options.vault, actor: options.actor });
  return { palmReferences: erased.references, ...removed };
}
