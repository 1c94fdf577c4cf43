import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** What to tell someone whose machine lacks PostgreSQL. */
export const postgresInstallHint =
  'The PostgreSQL tests need the PostgreSQL server binaries (initdb, pg_ctl). Install them ' +
  '(Debian/Ubuntu: `sudo apt-get install postgresql`; macOS: `brew install postgresql`) or set ' +
  'LOOPGATE_TEST_PG_BIN to the folder that holds initdb and pg_ctl.';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The folder holding `initdb` and `pg_ctl`: `LOOPGATE_TEST_PG_BIN`, else the newest of Debian's
 * `/usr/lib/postgresql/<major>/bin`, else the folder of an `initdb` on the PATH; null when none.
 */
export function findPostgresBinDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const has = (dir: string) =>
    isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'pg_ctl'));
  const fromEnv = env['LOOPGATE_TEST_PG_BIN'];
  if (fromEnv) return has(fromEnv) ? fromEnv : null;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const majors = readdirSync(debian)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    for (const major of majors) {
      const dir = join(debian, major, 'bin');
      if (has(dir)) return dir;
    }
  }
  for (const dir of (env['PATH'] ?? '').split(':')) {
    if (dir && has(dir)) return dir;
  }
  return null;
}
