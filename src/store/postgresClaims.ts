import type { QueryResult, QueryResultRow } from 'pg';

/** What the claim queries need: a `pg.Pool`, `pg.PoolClient` or `pg.Client`. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<QueryResult<R>>;
}

/**
 * The PostgreSQL migration behind {@link claimTaskPostgres}; the same table as SQLite's
 * `task_claims` migration. Append it to `postgresMigrations`.
 */
export const taskClaimsMigration = `
  CREATE TABLE task_claims (
    key TEXT PRIMARY KEY,
    claimed_at BIGINT NOT NULL
  );
`;

/**
 * The PostgreSQL migration that gives each task claim the time until which it is kept
 * (`keep_until`, ms), so {@link purgeTaskClaimsPostgres} can forget it; claims made before it
 * are kept 7 days, the longest a request lives (168 h). Append it to `postgresMigrations`.
 */
export const taskClaimsKeepUntilMigration = `
  ALTER TABLE task_claims ADD COLUMN keep_until BIGINT;
  UPDATE task_claims SET keep_until = claimed_at + 604800000;
  ALTER TABLE task_claims ALTER COLUMN keep_until SET NOT NULL;
  CREATE INDEX task_claims_keep_until ON task_claims (keep_until);
`;

/**
 * `Store.claimTask` on PostgreSQL: the primary key makes one insert win, on any connection of
 * any server; the others insert nothing. Needs {@link taskClaimsKeepUntilMigration}.
 */
export async function claimTaskPostgres(
  db: Queryable,
  key: string,
  now: number,
  keepUntil: number,
): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO task_claims (key, claimed_at, keep_until) VALUES ($1, $2, $3)
      ON CONFLICT (key) DO NOTHING`,
    [key, now, keepUntil],
  );
  return result.rowCount === 1;
}

/** `Store.purgeTaskClaims` on PostgreSQL: forgets claims kept until before `before` (ms). */
export async function purgeTaskClaimsPostgres(db: Queryable, before: number): Promise<number> {
  const result = await db.query('DELETE FROM task_claims WHERE keep_until < $1', [before]);
  return result.rowCount ?? 0;
}

/**
 * `Store.claimWebhookMessage` on PostgreSQL: a compare-and-set on `next_attempt_at`. Under READ
 * COMMITTED a second UPDATE of the same row waits for the first to commit, then re-checks the
 * WHERE clause against the new row, which no longer matches: exactly one caller wins.
 */
export async function claimWebhookMessagePostgres(
  db: Queryable,
  msgId: string,
  endpointId: string,
  expectedNextAttemptAt: number,
  now: number,
  leaseUntil: number,
): Promise<boolean> {
  const result = await db.query(
    `UPDATE webhook_messages SET next_attempt_at = $1
      WHERE msg_id = $2 AND endpoint_id = $3 AND status = 'pending' AND next_attempt_at = $4
        AND next_attempt_at <= $5`,
    [leaseUntil, msgId, endpointId, expectedNextAttemptAt, now],
  );
  return result.rowCount === 1;
}
