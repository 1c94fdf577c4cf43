import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/configSchema.js';
import { openSqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';
import { requireDataDir } from './requireDataDir.js';
import { databasePath } from './dataDirFiles.js';

/**
 * The store a command works on: the PostgreSQL database of `--database-url` (migrated on
 * open), else the SQLite database in the data dir, as before.
 * @param options.existingDataDir SQLite only: refuse a data dir that holds no database yet
 *   (commands other than `serve`/`mcp` never create one)
 * @throws LoopgateError E_CLI_DATA_DIR_MISSING, E_STORE_UNREACHABLE, E_STORE_MIGRATION
 */
export async function openStore(
  config: Config,
  options: { existingDataDir: boolean; logger?: Logger },
): Promise<Store> {
  if (config.databaseUrl) {
    // Loaded only here: an SQLite deployment never loads `pg`.
    const { openPostgresStore } = await import('../store/postgresStore.js');
    return openPostgresStore(config.databaseUrl, {
      onIdleError: (error) =>
        options.logger?.warn({ err: { message: error.message } }, 'database connection lost'),
    });
  }
  const dataDir = options.existingDataDir
    ? requireDataDir(config.dataDir)
    : resolve(config.dataDir);
  return openSqliteStore(databasePath(dataDir));
}
