/**
 * A throwaway PostgreSQL cluster for the tests and the benchmark (plain JavaScript, so that
 * `bench/` can use it without a compiler; types in postgres.d.mts).
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  chownSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

/** What to tell someone whose machine lacks PostgreSQL. */
export const postgresInstallHint =
  'The PostgreSQL tests need the PostgreSQL server binaries (initdb, pg_ctl). Install them ' +
  '(Debian/Ubuntu: `sudo apt-get install postgresql`; macOS: `brew install postgresql`) or set ' +
  'LOOPGATE_TEST_PG_BIN to the folder that holds initdb and pg_ctl.';
function isExecutable(path) {
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
export function findPostgresBinDir(env = process.env) {
  const has = (dir) => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'pg_ctl'));
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

const run = promisify(execFile);
/** Bounds, not timings: a machine under load may take this long, a healthy one far less. */
const startTimeoutSeconds = 180;
function postgresUser() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) {
    throw new Error(
      `Tests run as root, and initdb refuses root, but there is no "postgres" user to run it as. ${postgresInstallHint}`,
    );
  }
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
function tail(path) {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}
/**
 * Starts a throwaway PostgreSQL cluster: `initdb` (as the `postgres` user when run as root)
 * into a temp dir, `pg_ctl start` on a free 127.0.0.1 port with its unix socket in that dir,
 * fsync off. Host connections need the superuser's password (scram-sha-256), so every URL
 * the tests use holds a password. Fails, naming how to install PostgreSQL, where it is missing.
 */
export async function startThrowawayPostgres() {
  const bin = findPostgresBinDir();
  if (!bin) throw new Error(postgresInstallHint);
  const owner = postgresUser();
  // Run as root, the cluster belongs to `postgres`, which must be able to reach its folder.
  const dir = mkdtempSync(join(owner ? '/tmp' : tmpdir(), 'loopgate-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const passwordFile = join(dir, 'password');
  const password = randomBytes(12).toString('hex');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(passwordFile, owner.uid, owner.gid);
  }
  const asOwner = (command, args) =>
    owner
      ? run('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], { cwd: dir })
      : run(join(bin, command), args, { cwd: dir });
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    try {
      if (existsSync(join(dataDir, 'postmaster.pid'))) {
        const args = ['-D', dataDir, '-m', 'immediate', '-w', 'stop'];
        if (owner)
          execFileSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args], {
            stdio: 'ignore',
          });
        else execFileSync(join(bin, 'pg_ctl'), args, { stdio: 'ignore' });
      }
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A test run that dies still takes its cluster with it.
  process.once('exit', stopSync);
  try {
    await asOwner('initdb', [
      '-D',
      dataDir,
      '-U',
      'postgres',
      `--pwfile=${passwordFile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      '--no-locale',
      '--no-sync',
    ]);
  } catch (error) {
    stopSync();
    throw new Error(`initdb failed: ${error.message}`, { cause: error });
  }
  let port = 0;
  for (let attempt = 1; ; attempt += 1) {
    port = await freePort();
    try {
      await asOwner('pg_ctl', [
        '-D',
        dataDir,
        '-l',
        logFile,
        '-w',
        '-t',
        String(startTimeoutSeconds),
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`,
        'start',
      ]);
      break;
    } catch (error) {
      // Another program may have taken the port between our probe and postgres's bind.
      if (attempt >= 5) {
        stopSync();
        throw new Error(`pg_ctl start failed: ${error.message}\n${tail(logFile)}`, {
          cause: error,
        });
      }
    }
  }
  const urlOf = (database) => `postgres://postgres:${password}@127.0.0.1:${port}/${database}`;
  const admin = new pg.Client({ connectionString: urlOf('postgres') });
  const deadline = Date.now() + startTimeoutSeconds * 1_000;
  for (;;) {
    try {
      await admin.connect();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        stopSync();
        throw new Error(`PostgreSQL started but refused connections: ${error.message}`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  let databases = 0;
  return {
    port,
    password,
    async createDatabase() {
      databases += 1;
      const name = `loopgate_${databases}`;
      await admin.query(`CREATE DATABASE ${name}`);
      return urlOf(name);
    },
    async stop() {
      await admin.end().catch(() => undefined);
      stopSync();
      process.off('exit', stopSync);
    },
  };
}
