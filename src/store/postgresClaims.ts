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
 * `Store.claimTask` on PostgreSQL: the primary key makes one insert win, on any connection of
 * any server; the others insert nothing.
 */
export async function claimTaskPostgres(db: Queryable, key: string, now: number): Promise<boolean> {
  const result = await db.query(
    'INSERT INTO task_claims (key, claimed_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING',
    [key, now],
  );
  return result.rowCount === 1;
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
