import { join } from 'node:path';

/** The SQLite database file inside a data dir. */
export function databasePath(dataDir: string): string {
  return join(dataDir, 'loopgate.db');
}
