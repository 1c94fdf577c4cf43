import type { GrantOffer, GrantRecord } from '../core/grant.js';
import { grantColumns, grantValues, toGrant, toGrantOffer, type GrantRow } from './grantRows.js';
import type { Queryable } from './postgresClaims.js';
import type { GrantQuery } from './store.js';

/**
 * The PostgreSQL migration behind the grant functions below; the same tables as SQLite's
 * `grant_offers`/`grants` migration (times BIGINT ms, JSON as TEXT). Append it to
 * `postgresMigrations`.
 */
export const grantsMigration = `
  CREATE TABLE grant_offers (
    pause_id TEXT PRIMARY KEY,
    offer TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );

  CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    pause_id TEXT NOT NULL UNIQUE,
    agent_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    reach TEXT NOT NULL CHECK (reach IN ('exact', 'tool', 'session')),
    action_hash TEXT,
    constraints TEXT,
    session_id TEXT,
    gate TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked_at BIGINT,
    revoked_by TEXT,
    receipt TEXT NOT NULL
  );
  CREATE INDEX grants_agent_tool ON grants (agent_id, tool, not_after);
  CREATE INDEX grants_created ON grants (created_at);
`;

/** `Store.saveGrantOffer` on PostgreSQL: the first offer of an approval stays. */
export async function saveGrantOfferPostgres(
  db: Queryable,
  pauseId: string,
  offer: GrantOffer,
  now: number,
): Promise<void> {
  await db.query(
    'INSERT INTO grant_offers (pause_id, offer, created_at) VALUES ($1, $2, $3) ON CONFLICT (pause_id) DO NOTHING',
    [pauseId, JSON.stringify(offer), now],
  );
}

/** `Store.getGrantOffer` on PostgreSQL. */
export async function getGrantOfferPostgres(
  db: Queryable,
  pauseId: string,
): Promise<GrantOffer | null> {
  const result = await db.query<{ offer: string }>(
    'SELECT offer FROM grant_offers WHERE pause_id = $1',
    [pauseId],
  );
  const row = result.rows[0];
  return row ? toGrantOffer(row.offer) : null;
}

/**
 * Inserts a grant (`Store.createGrant`); run it in the transaction that appends the
 * `grant.created` audit entry. A second grant for the same approval violates `pause_id UNIQUE`.
 */
export async function insertGrantPostgres(db: Queryable, record: GrantRecord): Promise<void> {
  await db.query(
    `INSERT INTO grants (${grantColumns.join(', ')}) VALUES (${grantColumns.map((_, i) => `$${i + 1}`).join(', ')})`,
    grantValues(record),
  );
}

/** `Store.getGrant` on PostgreSQL. */
export async function getGrantPostgres(db: Queryable, id: string): Promise<GrantRecord | null> {
  const result = await db.query<GrantRow>('SELECT * FROM grants WHERE id = $1', [id]);
  const row = result.rows[0];
  return row ? toGrant(row) : null;
}

/** `Store.listGrants` on PostgreSQL: newest first. */
export async function listGrantsPostgres(db: Queryable, query: GrantQuery): Promise<GrantRecord[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (query.agentId !== undefined) {
    params.push(query.agentId);
    where.push(`agent_id = $${params.length}`);
  }
  if (query.tool !== undefined) {
    params.push(query.tool);
    where.push(`tool = $${params.length}`);
  }
  if (query.liveAt !== undefined) {
    params.push(query.liveAt);
    where.push(
      `revoked_at IS NULL AND not_after > $${params.length} AND (max_uses IS NULL OR uses < max_uses)`,
    );
  }
  params.push(query.limit);
  const result = await db.query<GrantRow>(
    `SELECT * FROM grants ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return result.rows.map(toGrant);
}

/**
 * Counts one use (`Store.useGrant`); run it in the transaction that appends the `grant.used`
 * audit entry, and append that entry only when it returns true. Under READ COMMITTED a second
 * UPDATE of the row waits for the first to commit, then re-checks `uses < max_uses` against
 * the new row: a grant is never used more than `max_uses` times, on any server.
 */
export async function useGrantPostgres(db: Queryable, id: string, now: number): Promise<boolean> {
  const result = await db.query(
    `UPDATE grants SET uses = uses + 1 WHERE id = $1 AND revoked_at IS NULL AND not_after > $2
      AND (max_uses IS NULL OR uses < max_uses)`,
    [id, now],
  );
  return result.rowCount === 1;
}

/**
 * Revokes an unrevoked grant (`Store.revokeGrant`); run it in the transaction that appends the
 * `grant.revoked` audit entry, appended only when it returns true.
 */
export async function revokeGrantPostgres(
  db: Queryable,
  id: string,
  revokedBy: string,
  now: number,
): Promise<boolean> {
  const result = await db.query(
    'UPDATE grants SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL',
    [now, revokedBy, id],
  );
  return result.rowCount === 1;
}
