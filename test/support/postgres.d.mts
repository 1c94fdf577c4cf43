/** What to tell someone whose machine lacks PostgreSQL. */
export declare const postgresInstallHint: string;
/**
 * The folder holding `initdb` and `pg_ctl`: `LOOPGATE_TEST_PG_BIN`, else the newest of Debian's
 * `/usr/lib/postgresql/<major>/bin`, else the folder of an `initdb` on the PATH; null when none.
 */
export declare function findPostgresBinDir(env?: NodeJS.ProcessEnv): string | null;

/** A PostgreSQL cluster of one test file, in a temp dir, removed by `stop`. */
export interface ThrowawayPostgres {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/<db>` of a new, empty database. */
  createDatabase(): Promise<string>;
  /** The port the cluster listens on (127.0.0.1). */
  port: number;
  /** The superuser's password (tests check it never shows). */
  password: string;
  stop(): Promise<void>;
}
/**
 * Starts a throwaway PostgreSQL cluster: `initdb` (as the `postgres` user when run as root)
 * into a temp dir, `pg_ctl start` on a free 127.0.0.1 port with its unix socket in that dir,
 * fsync off. Host connections need the superuser's password (scram-sha-256), so every URL
 * the tests use holds a password. Fails, naming how to install PostgreSQL, where it is missing.
 */
export declare function startThrowawayPostgres(): Promise<ThrowawayPostgres>;
