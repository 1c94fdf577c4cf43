import type { Pool, PoolClient } from 'pg';
import type { HandoffOwnerRecord, ServerDirectoryEntry } from './store.js';

/**
 * The PostgreSQL side of the directory of servers and of handoff session owners: the same
 * behaviour as `Store.saveServerHeartbeat`, `removeServer`,
 * `recordHandoffOwner` and `findHandoffOwner` in `sqliteStore.ts`, as
 * functions over a `pg` pool or client, for the PostgreSQL store to delegate to. Each is one
 * statement (one round trip, atomic on its own). Times are BIGINT ms since epoch.
 *
 * @module
 */

/** A `pg` pool or a client checked out of one. */
export type PgQueryable = Pick<Pool | PoolClient, 'query'>;

/** The schema these functions need; append it to the PostgreSQL migrations. */
export const postgresHandoffOwnersMigration = `
  CREATE TABLE servers (
    id TEXT PRIMARY KEY,
    internal_url TEXT NOT NULL,
    heartbeat_at BIGINT NOT NULL
  );

  CREATE TABLE handoff_owners (
    session_id TEXT PRIMARY KEY,
    server_id TEXT NOT NULL,
    keep_until BIGINT NOT NULL
  );
  CREATE INDEX handoff_owners_keep_until ON handoff_owners (keep_until);
`;

/**
 * Inserts or refreshes `entry` in the directory of servers and forgets every other entry
 * whose heartbeat is older than `forgetBefore` (ms since epoch).
 */
export async function saveServerHeartbeat(
  db: PgQueryable,
  entry: ServerDirectoryEntry,
  forgetBefore: number,
): Promise<void> {
  // One statement: the CTE and the upsert see one snapshot, so the CTE leaves `entry`'s own row
  // to the upsert (a row may not be changed twice by one statement).
  await db.query(
    `WITH forgotten AS (DELETE FROM servers WHERE heartbeat_at < $4 AND id <> $1)
     INSERT INTO servers (id, internal_url, heartbeat_at) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET internal_url = EXCLUDED.internal_url,
       heartbeat_at = EXCLUDED.heartbeat_at`,
    [entry.id, entry.internalUrl, entry.heartbeatAt, forgetBefore],
  );
}

/** Removes server `id` from the directory (it is shutting down); nothing when it is not there. */
export async function removeServer(db: PgQueryable, id: string): Promise<void> {
  await db.query('DELETE FROM servers WHERE id = $1', [id]);
}

/**
 * Records that `owner.serverId` holds handoff session `owner.sessionId` until `owner.keepUntil`
 * and forgets every other owner row whose `keep_until <= now`.
 */
export async function recordHandoffOwner(
  db: PgQueryable,
  owner: { sessionId: string; serverId: string; keepUntil: number },
  now: number,
): Promise<void> {
  await db.query(
    `WITH purged AS (DELETE FROM handoff_owners WHERE keep_until <= $4 AND session_id <> $1)
     INSERT INTO handoff_owners (session_id, server_id, keep_until) VALUES ($1, $2, $3)
     ON CONFLICT (session_id) DO UPDATE SET server_id = EXCLUDED.server_id,
       keep_until = EXCLUDED.keep_until`,
    [owner.sessionId, owner.serverId, owner.keepUntil, now],
  );
}

/**
 * The owner of handoff session `sessionId` whose row is kept past `now`, with its directory
 * entry (null when the directory no longer lists that server), or null.
 */
export async function findHandoffOwner(
  db: PgQueryable,
  sessionId: string,
  now: number,
): Promise<HandoffOwnerRecord | null> {
  const { rows } = await db.query<{
    session_id: string;
    server_id: string;
    keep_until: string | number;
    internal_url: string | null;
    heartbeat_at: string | number | null;
  }>(
    `SELECT o.session_id, o.server_id, o.keep_until, s.internal_url, s.heartbeat_at
     FROM handoff_owners o LEFT JOIN servers s ON s.id = o.server_id
     WHERE o.session_id = $1 AND o.keep_until > $2`,
    [sessionId, now],
  );
  const row = rows[0];
  if (!row) return null;
  // BIGINT arrives as a string unless the pool installed a number parser; both are handled.
  return {
    sessionId: row.session_id,
    serverId: row.server_id,
    keepUntil: Number(row.keep_until),
    server:
      row.internal_url === null || row.heartbeat_at === null
        ? null
        : {
            id: row.server_id,
            internalUrl: row.internal_url,
            heartbeatAt: Number(row.heartbeat_at),
          },
  };
}
