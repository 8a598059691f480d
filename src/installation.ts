/**
 * What the server and every command that touches data open first, the same way: the master key,
 * the key store wrapping people's data keys (attached to the database), and agreement between
 * that store and the database.
 */
import type { Config } from './config.js';
import { KeyStore, attachKeyStore } from './crypto/keyStore.js';
import { loadMasterKey, type MasterKey } from './crypto/masterKey.js';
import { PersonDataKeys } from './biometrics/dataKeys.js';
import type { Database } from './db/database.js';
import type { Logger } from './log.js';

export async function openInstallationKeys(config: Config, db: Database, log: Logger): Promise<MasterKey> {
  const master = loadMasterKey({
    envValue: config.masterKey,
    dataDir: config.dataDir,
    keyStoreDir: config.keyStoreDir,
    embedded: db.kind === 'pglite',
    log,
  });
  const keyStore = attachKeyStore(
    db,
    KeyStore.forInstallation({ dir: config.keyStoreDir, dataDir: config.dataDir, master, log }),
  );
  await new PersonDataKeys(db, master, keyStore).prepare(log);
  return master;
}
