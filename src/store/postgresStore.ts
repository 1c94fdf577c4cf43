import pg from 'pg';
import {
  claimTaskPostgres,
  claimWebhookMessagePostgres,
  purgeTaskClaimsPostgres,
} from './postgresClaims.js';
import {
  admitNotificationPostgres,
  discardHeldNotificationPostgres,
  listHeldRecipientsPostgres,
  nextDigestDueAtPostgres,
  takeDigestPostgres,
} from './postgresNotificationLimits.js';
import {
  getGrantOfferPostgres,
  getGrantPostgres,
  insertGrantPostgres,
  listGrantsPostgres,
  revokeGrantPostgres,
  saveGrantOfferPostgres,
  useGrantPostgres,
} from './postgresGrants.js';
import {
  findHandoffOwner,
  recordHandoffOwner,
  removeServer,
  saveServerHeartbeat,
} from './postgresHandoffOwners.js';
import type { PoolClient, QueryResultRow } from 'pg';
import { isSameGate, type QuorumVoteRecord } from '../core/approval.js';
import { auditGenesisHash, computeAuditEntryHash, type AuditEntry } from '../core/auditChain.js';
import { LoopgateError } from '../core/errors.js';
import { redactDatabaseUrl } from '../core/redactDatabaseUrl.js';
import type {
  AuditInput,
  LoginTokenRefusal,
  OperatorRecord,
  OtpArgumentThrottleRecord,
  SessionSource,
  TotpEnrollmentRecord,
  TotpStateRecord,
  WebAuthnChallengeRecord,
} from '../core/records.js';
import { postgresMigrations } from './postgresMigrations.js';
import type { DueDigest, Store, StoreReadiness } from './store.js';
import {
  lastUsedResolutionMs,
  slackPayloadRetentionMs,
  toAgentKey,
  toApproval,
  toAudit,
  toCredential,
  toDelivery,
  toSession,
  toTotp,
  toWebhookEndpoint,
  toWebhookMessage,
  type AgentKeyRow,
  type ApprovalRow,
  type AuditRow,
  type CredentialRow,
  type DeliveryRow,
  type SessionRow,
  type TotpRow,
  type WebhookEndpointRow,
  type WebhookMessageRow,
} from './storeRows.js';

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /**
   * Apply pending migrations while opening (default true). With false the store opens on any
   * schema and `checkReadiness` reports one that is behind.
   */
  applyMigrations?: boolean;
  /** Told about errors of idle pooled connections (the pool replaces them). */
  onIdleError?: (error: Error) => void;
}

/** A PostgreSQL store; `databaseUrl` is the redacted URL, safe to print. */
export interface PostgresStore extends Store {
  readonly databaseUrl: string;
  /**
   * Records `value` under `key` in `loopgate_meta` unless a value is there already (the first
   * server of a deployment wins, atomically); returns the value stored.
   */
  claimDeploymentValue(key: string, value: string): Promise<string>;
}

/**
 * Advisory lock keys (PostgreSQL's one-bigint and two-int key spaces do not overlap). The
 * audit chain's head and the migrations are one lock each; per-agent notification budgets
 * share a class and are told apart by `hashtext(agent id)` (a collision only serialises two
 * agents' budget checks).
 */
const auditChainLock = 0x6c6f6f70; // "loop"
const migrationLock = 0x6c6f6f71;
const agentNotificationLockClass = 0x6c6f6f72;
const contactLinkLock = 0x6c6f6f73;

const int8Oid = 20;
/** BIGINT columns (times in ms, seq) come back as numbers: every value fits in 2^53. */
const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === int8Oid && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * A transaction holding the audit chain's lock, and the chain's head as it will be after the
 * entries this transaction has appended so far.
 */
interface AuditedClient {
  readonly client: PoolClient;
  head: { seq: number; hash: string };
}

/** SQLSTATEs after which a transaction may simply run again: deadlock, serialization failure. */
const retryableStates = new Set(['40P01', '40001']);

/**
 * Checks that `url` is a PostgreSQL URL, without ever echoing it (it may hold a password).
 * @throws LoopgateError E_CONFIG_INVALID
 */
export function assertPostgresUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LoopgateError(
      'E_CONFIG_INVALID',
      '--database-url does not parse as a URL; expected postgres://USER:PASSWORD@HOST:PORT/DATABASE.',
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new LoopgateError(
      'E_CONFIG_INVALID',
      `--database-url must start with postgres:// or postgresql://; got ${parsed.protocol}//…`,
    );
  }
}

function unreachable(url: string, cause: unknown): LoopgateError {
  return new LoopgateError(
    'E_STORE_UNREACHABLE',
    `Could not use the PostgreSQL database at ${redactDatabaseUrl(url)}: ${describeCause(cause, url)}. Check --database-url (LOOPGATE_DATABASE_URL) and that the server accepts connections.`,
    { cause: new Error(describeCause(cause, url)) },
  );
}

/** A driver error's message with anything that looks like the URL's password taken out. */
function describeCause(cause: unknown, url: string): string {
  let text = cause instanceof Error ? cause.message : String(cause);
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    // no password to hide
  }
  if (password !== '') text = text.split(password).join('***');
  return text.split(url).join(redactDatabaseUrl(url));
}

function createPool(url: string, options: PostgresStoreOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    types: typeParsers,
    application_name: 'loopgate',
    connectionTimeoutMillis: 30_000,
  });
  // An idle connection that dies (a server restart) is replaced; it must not crash the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  return pool;
}

/**
 * Applies the migrations of `postgresMigrations.ts` not yet recorded in `loopgate_migrations`,
 * each in its own transaction, while holding a session advisory lock: two servers starting at
 * once take turns, and the second finds nothing left to do.
 * @returns the schema version before and after
 * @throws LoopgateError E_STORE_MIGRATION when a migration fails or the database is newer
 */
async function applyMigrations(pool: pg.Pool): Promise<{ from: number; to: number }> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [migrationLock]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS loopgate_migrations (
        version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`);
      const from = await readSchemaVersion(client);
      if (from > postgresMigrations.length) {
        throw new LoopgateError(
          'E_STORE_MIGRATION',
          `The database schema is version ${from}, newer than this loopgate knows (${postgresMigrations.length}). Upgrade loopgate.`,
        );
      }
      for (let version = from; version < postgresMigrations.length; version += 1) {
        try {
          await client.query('BEGIN');
          await client.query(postgresMigrations[version]!);
          await client.query(
            'INSERT INTO loopgate_migrations (version, applied_at) VALUES ($1, $2)',
            [version + 1, Date.now()],
          );
          await client.query('COMMIT');
        } catch (cause) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new LoopgateError(
            'E_STORE_MIGRATION',
            `Migration ${version + 1} failed: ${(cause as Error).message}`,
            { cause },
          );
        }
      }
      return { from, to: postgresMigrations.length };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [migrationLock]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

async function readSchemaVersion(client: pg.Pool | PoolClient): Promise<number> {
  const exists = await client.query<{ t: string | null }>(
    `SELECT to_regclass('loopgate_migrations')::text AS t`,
  );
  if (exists.rows[0]?.t === null || exists.rows[0]?.t === undefined) return 0;
  const row = await client.query<{ v: number | null }>(
    'SELECT MAX(version) AS v FROM loopgate_migrations',
  );
  return row.rows[0]?.v ?? 0;
}

/**
 * Brings the PostgreSQL database at `url` up to date and says what changed, for
 * `loopgate db migrate`.
 * @returns the schema version before and after
 * @throws LoopgateError E_CONFIG_INVALID, E_STORE_UNREACHABLE, E_STORE_MIGRATION
 */
export async function migratePostgresDatabase(url: string): Promise<{ from: number; to: number }> {
  assertPostgresUrl(url);
  const pool = createPool(url, { maxConnections: 1 });
  try {
    try {
      await pool.query('SELECT 1');
    } catch (cause) {
      throw unreachable(url, cause);
    }
    return await applyMigrations(pool);
  } finally {
    await pool.end();
  }
}

/**
 * The PostgreSQL store (`pg`): a connection pool; each transition is one READ COMMITTED
 * transaction whose compare-and-set is a conditional UPDATE (a second writer waits for the
 * row lock, then finds the row changed). Audit entries are appended under a transaction-scoped
 * advisory lock on the chain's head, so several stores (servers) on one database never fork
 * the chain; `prev_hash` is UNIQUE as a last line of defence. Read-modify-write updates (TOTP,
 * `otp` throttle, quorum votes, sign-in tokens) lock their row with `SELECT … FOR UPDATE`.
 *
 * @param url `postgres://USER:PASSWORD@HOST:PORT/DATABASE`; never printed unredacted
 * @throws LoopgateError E_CONFIG_INVALID (not a postgres URL), E_STORE_UNREACHABLE (no
 *   connection), E_STORE_MIGRATION (schema cannot be brought up to date)
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  assertPostgresUrl(url);
  const pool = createPool(url, options);
  try {
    try {
      await pool.query('SELECT 1');
    } catch (cause) {
      throw unreachable(url, cause);
    }
    if (options.applyMigrations !== false) await applyMigrations(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }

  async function query<R extends QueryResultRow>(
    sql: string,
    params: unknown[] = [],
    client: pg.Pool | PoolClient = pool,
  ): Promise<pg.QueryResult<R>> {
    return client.query<R>(sql, params);
  }

  /**
   * Runs `work` in one transaction, again from the start after a deadlock (at most 5 times).
   * With `begun`, `work`'s first statement begins the transaction itself.
   */
  async function tx<T>(
    work: (client: PoolClient) => Promise<T>,
    { begun = false }: { begun?: boolean } = {},
  ): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        if (!begun) await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        const state = (error as { code?: unknown }).code;
        if (attempt < 5 && typeof state === 'string' && retryableStates.has(state)) continue;
        throw error;
      } finally {
        client.release(broken);
      }
    }
  }

  /**
   * Runs `work` in one transaction that holds the audit chain's lock from its first statement:
   * `BEGIN`, the transaction-scoped advisory lock and the read of the chain's head go to the
   * server as one simple-protocol query (one round trip). Each statement of it reads with its
   * own snapshot (READ COMMITTED), so the head is read after the lock is held and is the latest
   * committed one. Every audited transaction takes this lock before any row lock, so two of
   * them never wait on each other in opposite orders. Run again from the start after a
   * deadlock (at most 5 times).
   */
  async function auditedTx<T>(work: (audited: AuditedClient) => Promise<T>): Promise<T> {
    return tx(
      async (client) => {
        const results = (await client.query(
          `BEGIN; SELECT pg_advisory_xact_lock(${auditChainLock});
           SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`,
        )) as unknown as pg.QueryResult<{ seq: number; hash: string }>[];
        const last = results[2]?.rows[0];
        return work({
          client,
          head: { seq: last?.seq ?? 0, hash: last?.hash ?? auditGenesisHash },
        });
      },
      { begun: true },
    );
  }

  /** The chain entry that follows the transaction's head (not yet stored). */
  function nextAuditEntry(audited: AuditedClient, audit: AuditInput, now: number): AuditEntry {
    const base = {
      seq: audited.head.seq + 1,
      at: now,
      type: audit.type,
      requestId: audit.requestId,
      actor: audit.actor,
      data: audit.data,
      prevHash: audited.head.hash,
    };
    return { ...base, hash: computeAuditEntryHash(base) };
  }

  const auditColumns = '(seq, at, type, request_id, actor, data, prev_hash, hash)';
  /** An entry's values in `auditColumns` order. */
  const auditValues = (entry: AuditEntry): unknown[] => [
    entry.seq,
    entry.at,
    entry.type,
    entry.requestId,
    entry.actor,
    JSON.stringify(entry.data),
    entry.prevHash,
    entry.hash,
  ];
  /** `$n, …` for the 8 audit values, the first being `$first`, typed for `INSERT … SELECT`. */
  const auditPlaceholders = (first: number): string =>
    ['bigint', 'bigint', 'text', 'text', 'text', 'text', 'text', 'text']
      .map((type, i) => `$${first + i}::${type}`)
      .join(', ');

  async function appendAuditIn(
    audited: AuditedClient,
    audit: AuditInput,
    now: number,
  ): Promise<AuditEntry> {
    const entry = nextAuditEntry(audited, audit, now);
    await audited.client.query(
      `INSERT INTO audit_log ${auditColumns} VALUES (${auditPlaceholders(1)})`,
      auditValues(entry),
    );
    audited.head = { seq: entry.seq, hash: entry.hash };
    return entry;
  }

  /**
   * Runs the data-modifying `change` (whose `RETURNING` yields one row when it applied) and, in
   * the same statement, appends `audit` only if it did: one round trip for both.
   * @returns whether the change applied
   */
  async function changeAndAudit(
    audited: AuditedClient,
    change: string,
    params: unknown[],
    audit: AuditInput,
    now: number,
  ): Promise<boolean> {
    const entry = nextAuditEntry(audited, audit, now);
    const result = await audited.client.query(
      `WITH changed AS (${change})
       INSERT INTO audit_log ${auditColumns} SELECT ${auditPlaceholders(params.length + 1)} FROM changed`,
      [...params, ...auditValues(entry)],
    );
    if (result.rowCount !== 1) return false;
    audited.head = { seq: entry.seq, hash: entry.hash };
    return true;
  }

  type OperatorRow = { id: string; name: string; role: OperatorRecord['role']; created_at: number };
  const toOperator = (row: OperatorRow): OperatorRecord => ({
    id: row.id,
    name: row.name,
    role: row.role,
    createdAt: row.created_at,
  });

  const approvedDecision = `(response::jsonb ->> 'decision') = 'approved'`;

  const store: PostgresStore = {
    databaseUrl: redactDatabaseUrl(url),
    async createApproval(record, audit) {
      // An INSERT without ON CONFLICT stores its row or fails: the entry is always appended.
      await auditedTx((audited) =>
        changeAndAudit(
          audited,
          `INSERT INTO approvals (id, agent_id, status, action_description, action_details,
            fields, recipient_email, recipient_slack, action_hash, created_at, expires_at,
            updated_at, response, receipt, gate, tool_name, consumed_at, votes, edit_constraints,
            edit)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            $19, $20)
           RETURNING id`,
          [
            record.id,
            record.agentId,
            record.status,
            record.actionDescription,
            JSON.stringify(record.actionDetails),
            JSON.stringify(record.fields),
            record.recipientEmail,
            record.recipientSlack,
            record.actionHash,
            record.createdAt,
            record.expiresAt,
            record.updatedAt,
            record.response === null ? null : JSON.stringify(record.response),
            record.receipt,
            JSON.stringify(record.gate),
            record.toolName,
            record.consumedAt,
            JSON.stringify(record.votes),
            record.editConstraints ? JSON.stringify(record.editConstraints) : null,
            record.edit ? JSON.stringify(record.edit) : null,
          ],
          audit,
          record.createdAt,
        ),
      );
    },
    async getApproval(id) {
      const row = (await query<ApprovalRow>('SELECT * FROM approvals WHERE id = $1', [id])).rows[0];
      return row ? toApproval(row) : null;
    },
    async listApprovals(q) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (q.status === 'pending') where.push(`status = 'pending'`);
      if (q.status === 'decided') where.push(`status <> 'pending'`);
      if (q.agentId !== undefined) {
        params.push(q.agentId);
        where.push(`agent_id = $${params.length}`);
      }
      params.push(q.limit);
      const sql = `SELECT * FROM approvals ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_at DESC, id DESC LIMIT $${params.length}`;
      return (await query<ApprovalRow>(sql, params)).rows.map(toApproval);
    },
    async recordDecision(id, change, audit) {
      const edited = change.edited;
      return auditedTx((audited) =>
        edited
          ? changeAndAudit(
              audited,
              `UPDATE approvals SET status = 'responded', response = $1, receipt = $2,
                updated_at = $3, action_hash = $5, action_details = $6, edit = $7
               WHERE id = $4 AND status = 'pending' AND expires_at > $3 RETURNING id`,
              [
                JSON.stringify(change.response),
                change.receipt,
                change.now,
                id,
                edited.actionHash,
                JSON.stringify(edited.actionDetails),
                JSON.stringify(edited.edit),
              ],
              audit,
              change.now,
            )
          : changeAndAudit(
              audited,
              `UPDATE approvals SET status = 'responded', response = $1, receipt = $2, updated_at = $3
               WHERE id = $4 AND status = 'pending' AND expires_at > $3 RETURNING id`,
              [JSON.stringify(change.response), change.receipt, change.now, id],
              audit,
              change.now,
            ),
      );
    },
    async cancelApproval(id, now, audit) {
      return auditedTx((audited) =>
        changeAndAudit(
          audited,
          `UPDATE approvals SET status = 'expired', updated_at = $1
           WHERE id = $2 AND status = 'pending' RETURNING id`,
          [now, id],
          audit,
          now,
        ),
      );
    },
    async addQuorumVote(id, vote, now, audit) {
      return auditedTx(async (audited) => {
        const { client } = audited;
        const row = (
          await query<ApprovalRow>('SELECT * FROM approvals WHERE id = $1 FOR UPDATE', [id], client)
        ).rows[0];
        if (!row || row.status !== 'pending' || row.expires_at <= now) return null;
        const votes = JSON.stringify([...(JSON.parse(row.votes) as QuorumVoteRecord[]), vote]);
        await client.query('UPDATE approvals SET votes = $1, updated_at = $2 WHERE id = $3', [
          votes,
          now,
          id,
        ]);
        await appendAuditIn(audited, audit, now);
        return toApproval({ ...row, votes, updated_at: now });
      });
    },
    async findConsumableApproval(agentId, actionHash, gate, now) {
      const rows = await query<ApprovalRow>(
        `SELECT * FROM approvals WHERE agent_id = $1 AND action_hash = $2 AND status = 'responded'
         AND consumed_at IS NULL AND expires_at > $3 AND ${approvedDecision}
         ORDER BY created_at DESC`,
        [agentId, actionHash, now],
      );
      return rows.rows.map(toApproval).find((record) => isSameGate(record.gate, gate)) ?? null;
    },
    async findPendingApproval(agentId, actionHash, gate, now) {
      const rows = await query<ApprovalRow>(
        `SELECT * FROM approvals WHERE agent_id = $1 AND action_hash = $2 AND status = 'pending'
         AND expires_at > $3 ORDER BY created_at DESC`,
        [agentId, actionHash, now],
      );
      return rows.rows.map(toApproval).find((record) => isSameGate(record.gate, gate)) ?? null;
    },
    async consumeApproval(id, now, audit) {
      return auditedTx((audited) =>
        changeAndAudit(
          audited,
          `UPDATE approvals SET consumed_at = $1, updated_at = $1 WHERE id = $2
           AND status = 'responded' AND consumed_at IS NULL AND ${approvedDecision} RETURNING id`,
          [now, id],
          audit,
          now,
        ),
      );
    },
    async expireDueApprovals(now) {
      return auditedTx(async (audited) => {
        const { client } = audited;
        // Rows another store is changing right now are skipped: that change (or the next
        // sweep) settles them. Locking in one order keeps two sweepers from deadlocking.
        const rows = (
          await query<{ id: string; expires_at: number }>(
            `WITH due AS (
               SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= $1
               ORDER BY expires_at, id FOR UPDATE SKIP LOCKED)
             UPDATE approvals a SET status = 'timed_out', updated_at = $1 FROM due
             WHERE a.id = due.id RETURNING a.id, a.expires_at`,
            [now],
            client,
          )
        ).rows.sort((a, b) => a.expires_at - b.expires_at || (a.id < b.id ? -1 : 1));
        for (const row of rows) {
          await appendAuditIn(
            audited,
            {
              type: 'approval.timed_out',
              requestId: row.id,
              actor: 'system',
              data: { expires_at: row.expires_at },
            },
            now,
          );
        }
        return rows.map((row) => row.id);
      });
    },
    async nextApprovalExpiry() {
      const row = (
        await query<{ t: number | null }>(
          `SELECT MIN(expires_at) AS t FROM approvals WHERE status = 'pending'`,
        )
      ).rows[0];
      return row?.t ?? null;
    },
    async createAgentKey(record) {
      await query(
        `INSERT INTO agent_keys (id, name, scope, key_hash, prefix, created_at, revoked_at,
          last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          record.id,
          record.name,
          record.scope,
          record.keyHash,
          record.prefix,
          record.createdAt,
          record.revokedAt,
          record.lastUsedAt,
        ],
      );
    },
    async findAgentKeyByHash(keyHash, now) {
      const row = (
        await query<AgentKeyRow>(
          'SELECT * FROM agent_keys WHERE key_hash = $1 AND revoked_at IS NULL',
          [keyHash],
        )
      ).rows[0];
      if (!row) return null;
      if (row.last_used_at === null || now - row.last_used_at > lastUsedResolutionMs) {
        await query('UPDATE agent_keys SET last_used_at = $1 WHERE id = $2', [now, row.id]);
        row.last_used_at = now;
      }
      return toAgentKey(row);
    },
    async listAgentKeys() {
      return (
        await query<AgentKeyRow>('SELECT * FROM agent_keys ORDER BY created_at, id')
      ).rows.map(toAgentKey);
    },
    async revokeAgentKey(id, now) {
      const result = await query(
        'UPDATE agent_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
        [now, id],
      );
      return result.rowCount === 1;
    },
    async ensureOperator(input) {
      await query(
        `INSERT INTO operators (id, name, role, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO NOTHING`,
        [input.id, input.name, input.role, input.now],
      );
      const row = (
        await query<OperatorRow>('SELECT * FROM operators WHERE name = $1', [input.name])
      ).rows[0]!;
      return toOperator(row);
    },
    async getOperator(id) {
      const row = (await query<OperatorRow>('SELECT * FROM operators WHERE id = $1', [id])).rows[0];
      return row ? toOperator(row) : null;
    },
    async listOperators() {
      return (await query<OperatorRow>('SELECT * FROM operators ORDER BY created_at, id')).rows.map(
        toOperator,
      );
    },
    async getOperatorByName(name) {
      const row = (await query<OperatorRow>('SELECT * FROM operators WHERE name = $1', [name]))
        .rows[0];
      return row ? toOperator(row) : null;
    },
    async getTotpEnrollment(operatorId) {
      const row = (
        await query<TotpRow>('SELECT * FROM operator_totp WHERE operator_id = $1', [operatorId])
      ).rows[0];
      return row ? toTotp(row) : null;
    },
    async saveTotpEnrollment(input) {
      await query(
        `INSERT INTO operator_totp (operator_id, secret_encrypted, enrolled_at) VALUES ($1, $2, $3)
         ON CONFLICT (operator_id) DO UPDATE SET secret_encrypted = excluded.secret_encrypted,
         enrolled_at = excluded.enrolled_at, consecutive_failures = 0, failures_on_request = 0`,
        [input.operatorId, input.secretEncrypted, input.enrolledAt],
      );
    },
    async updateTotpState<T>(
      operatorId: string,
      update: (row: TotpEnrollmentRecord) => { state: TotpStateRecord; result: T },
    ): Promise<T | null> {
      return tx(async (client) => {
        const row = (
          await query<TotpRow>(
            'SELECT * FROM operator_totp WHERE operator_id = $1 FOR UPDATE',
            [operatorId],
            client,
          )
        ).rows[0];
        if (!row) return null;
        const { state, result } = update(toTotp(row));
        await client.query(
          `UPDATE operator_totp SET consecutive_failures = $1, failures_on_request = $2,
           locked_at = $3, last_used_step = $4 WHERE operator_id = $5`,
          [
            state.consecutiveFailures,
            state.failuresOnRequest,
            state.lockedAt,
            state.lastUsedStep,
            operatorId,
          ],
        );
        return result;
      });
    },
    async updateOtpArgumentThrottle<T>(
      subject: string,
      update: (state: OtpArgumentThrottleRecord) => { state: OtpArgumentThrottleRecord; result: T },
    ): Promise<T> {
      return tx(async (client) => {
        await client.query(
          `INSERT INTO otp_argument_throttle (subject, consecutive_failures, blocked_until)
           VALUES ($1, 0, NULL) ON CONFLICT (subject) DO NOTHING`,
          [subject],
        );
        const row = (
          await query<{ consecutive_failures: number; blocked_until: number | null }>(
            'SELECT * FROM otp_argument_throttle WHERE subject = $1 FOR UPDATE',
            [subject],
            client,
          )
        ).rows[0]!;
        const { state, result } = update({
          consecutiveFailures: row.consecutive_failures,
          blockedUntil: row.blocked_until,
        });
        await client.query(
          `UPDATE otp_argument_throttle SET consecutive_failures = $1, blocked_until = $2
           WHERE subject = $3`,
          [state.consecutiveFailures, state.blockedUntil, subject],
        );
        return result;
      });
    },
    async saveWebAuthnCredential(record) {
      await query(
        `INSERT INTO webauthn_credentials (id, operator_id, public_key, counter, transports, name,
          created_at, last_used_at, flagged_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          record.id,
          record.operatorId,
          Buffer.from(record.publicKey),
          record.counter,
          JSON.stringify(record.transports),
          record.name,
          record.createdAt,
          record.lastUsedAt,
          record.flaggedAt,
        ],
      );
    },
    async listWebAuthnCredentials(operatorId) {
      return (
        await query<CredentialRow>(
          'SELECT * FROM webauthn_credentials WHERE operator_id = $1 ORDER BY created_at, id',
          [operatorId],
        )
      ).rows.map(toCredential);
    },
    async getWebAuthnCredential(id) {
      const row = (
        await query<CredentialRow>('SELECT * FROM webauthn_credentials WHERE id = $1', [id])
      ).rows[0];
      return row ? toCredential(row) : null;
    },
    async updateWebAuthnCounter(id, counter, now) {
      const result = await query(
        `UPDATE webauthn_credentials SET counter = $1, last_used_at = $2
         WHERE id = $3 AND flagged_at IS NULL AND (counter < $1 OR (counter = 0 AND $1 = 0))`,
        [counter, now, id],
      );
      return result.rowCount === 1;
    },
    async flagWebAuthnCredential(id, now) {
      await query(
        'UPDATE webauthn_credentials SET flagged_at = $1 WHERE id = $2 AND flagged_at IS NULL',
        [now, id],
      );
    },
    async createWebAuthnChallenge(record) {
      await query('DELETE FROM webauthn_challenges WHERE expires_at < $1', [
        record.expiresAt - 24 * 3_600_000,
      ]);
      await query(
        `INSERT INTO webauthn_challenges (challenge, operator_id, purpose, request_id, expires_at,
          used_at) VALUES ($1, $2, $3, $4, $5, NULL)`,
        [record.challenge, record.operatorId, record.purpose, record.requestId, record.expiresAt],
      );
    },
    async consumeWebAuthnChallenge(challenge, operatorId, purpose, now) {
      // One statement: the row is spent whoever asks, and returned only to its owner in time.
      const row = (
        await query<{
          challenge: string;
          operator_id: string;
          purpose: WebAuthnChallengeRecord['purpose'];
          request_id: string | null;
          expires_at: number;
        }>(
          `UPDATE webauthn_challenges SET used_at = $1 WHERE challenge = $2 AND used_at IS NULL
           RETURNING challenge, operator_id, purpose, request_id, expires_at`,
          [now, challenge],
        )
      ).rows[0];
      if (
        !row ||
        row.expires_at <= now ||
        row.operator_id !== operatorId ||
        row.purpose !== purpose
      )
        return null;
      return {
        challenge: row.challenge,
        operatorId: row.operator_id,
        purpose: row.purpose,
        requestId: row.request_id,
        expiresAt: row.expires_at,
      };
    },
    async createLoginToken(input) {
      await query('DELETE FROM login_tokens WHERE expires_at < $1', [input.now - 24 * 3_600_000]);
      await query(
        `INSERT INTO login_tokens (token_hash, operator_id, created_at, expires_at, used_at, source)
         VALUES ($1, $2, $3, $4, NULL, $5)`,
        [input.tokenHash, input.operatorId, input.now, input.expiresAt, input.source ?? 'login'],
      );
    },
    async consumeLoginToken(
      tokenHash,
      now,
    ): Promise<
      | { ok: true; operatorId: string; source: SessionSource }
      | { ok: false; reason: LoginTokenRefusal }
    > {
      return tx(async (client) => {
        const row = (
          await query<{
            operator_id: string;
            expires_at: number;
            used_at: number | null;
            source: SessionSource;
          }>('SELECT * FROM login_tokens WHERE token_hash = $1 FOR UPDATE', [tokenHash], client)
        ).rows[0];
        if (!row) return { ok: false, reason: 'unknown' };
        if (row.used_at !== null) return { ok: false, reason: 'used' };
        if (row.expires_at <= now) return { ok: false, reason: 'expired' };
        await client.query('UPDATE login_tokens SET used_at = $1 WHERE token_hash = $2', [
          now,
          tokenHash,
        ]);
        return { ok: true, operatorId: row.operator_id, source: row.source };
      });
    },
    async createSession(record) {
      await query('DELETE FROM sessions WHERE expires_at < $1', [record.createdAt]);
      await query(
        `INSERT INTO sessions (id_hash, operator_id, csrf_token, created_at, expires_at, source)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          record.idHash,
          record.operatorId,
          record.csrfToken,
          record.createdAt,
          record.expiresAt,
          record.source,
        ],
      );
    },
    async getSession(idHash, now) {
      const row = (
        await query<SessionRow>('SELECT * FROM sessions WHERE id_hash = $1 AND expires_at > $2', [
          idHash,
          now,
        ])
      ).rows[0];
      return row ? toSession(row) : null;
    },
    async getSessionWithOperator(idHash, now) {
      const row = (
        await query<
          SessionRow & {
            operator_name: string;
            operator_role: OperatorRecord['role'];
            operator_created_at: number;
          }
        >(
          `SELECT s.*, o.name AS operator_name, o.role AS operator_role,
                  o.created_at AS operator_created_at
             FROM sessions s JOIN operators o ON o.id = s.operator_id
            WHERE s.id_hash = $1 AND s.expires_at > $2`,
          [idHash, now],
        )
      ).rows[0];
      if (!row) return null;
      return {
        session: toSession(row),
        operator: toOperator({
          id: row.operator_id,
          name: row.operator_name,
          role: row.operator_role,
          created_at: row.operator_created_at,
        }),
      };
    },
    async deleteSession(idHash) {
      await query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
    },
    async appendAudit(audit, now) {
      return auditedTx((audited) => appendAuditIn(audited, audit, now));
    },
    async listAuditEntries(afterSeq = 0, limit = 10_000) {
      // LIMIT ALL for limits beyond BIGINT (the CLI asks for Number.MAX_SAFE_INTEGER).
      return (
        await query<AuditRow>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [
          afterSeq,
          Math.min(limit, Number.MAX_SAFE_INTEGER),
        ])
      ).rows.map(toAudit);
    },
    async linkOperatorContact(input) {
      await tx(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [contactLinkLock]);
        await client.query('DELETE FROM operator_contacts WHERE operator_id = $1 AND kind = $2', [
          input.operatorId,
          input.kind,
        ]);
        await client.query(
          `INSERT INTO operator_contacts (kind, value, operator_id, linked_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (kind, value) DO UPDATE SET operator_id = excluded.operator_id,
           linked_at = excluded.linked_at`,
          [input.kind, input.value, input.operatorId, input.now],
        );
      });
    },
    async findOperatorByContact(kind, value) {
      const row = (
        await query<OperatorRow>(
          `SELECT o.* FROM operators o JOIN operator_contacts c ON c.operator_id = o.id
           WHERE c.kind = $1 AND c.value = $2`,
          [kind, value],
        )
      ).rows[0];
      return row ? toOperator(row) : null;
    },
    async getOperatorContact(operatorId, kind) {
      const row = (
        await query<{ value: string }>(
          'SELECT value FROM operator_contacts WHERE operator_id = $1 AND kind = $2',
          [operatorId, kind],
        )
      ).rows[0];
      return row?.value ?? null;
    },
    async recordSlackPayload(payloadId, now) {
      await query('DELETE FROM slack_payloads WHERE received_at < $1', [
        now - slackPayloadRetentionMs,
      ]);
      const result = await query(
        `INSERT INTO slack_payloads (payload_id, received_at) VALUES ($1, $2)
         ON CONFLICT (payload_id) DO NOTHING`,
        [payloadId, now],
      );
      return result.rowCount === 1;
    },
    async takeAgentNotification(agentId, now, windowMs, limit) {
      return tx(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
          agentNotificationLockClass,
          agentId,
        ]);
        await client.query('DELETE FROM agent_notifications WHERE agent_id = $1 AND at <= $2', [
          agentId,
          now - windowMs,
        ]);
        const n =
          (
            await query<{ n: number }>(
              'SELECT COUNT(*) AS n FROM agent_notifications WHERE agent_id = $1',
              [agentId],
              client,
            )
          ).rows[0]?.n ?? 0;
        if (n >= limit) return false;
        await client.query('INSERT INTO agent_notifications (agent_id, at) VALUES ($1, $2)', [
          agentId,
          now,
        ]);
        return true;
      });
    },
    async createEmailConfirmToken(record) {
      await query(
        `INSERT INTO email_confirm_tokens (token_hash, pause_id, recipient, created_at, expires_at,
          used_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          record.tokenHash,
          record.pauseId,
          record.recipient,
          record.createdAt,
          record.expiresAt,
          record.usedAt,
        ],
      );
    },
    async findEmailConfirmToken(tokenHash) {
      const row = (
        await query<{
          token_hash: string;
          pause_id: string;
          recipient: string;
          created_at: number;
          expires_at: number;
          used_at: number | null;
        }>('SELECT * FROM email_confirm_tokens WHERE token_hash = $1', [tokenHash])
      ).rows[0];
      return row
        ? {
            tokenHash: row.token_hash,
            pauseId: row.pause_id,
            recipient: row.recipient,
            createdAt: row.created_at,
            expiresAt: row.expires_at,
            usedAt: row.used_at,
          }
        : null;
    },
    async consumeEmailConfirmToken(tokenHash, now) {
      const result = await query(
        `UPDATE email_confirm_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL
         AND expires_at > $1`,
        [now, tokenHash],
      );
      return result.rowCount === 1;
    },
    async recordNotificationDelivery(record) {
      await query(
        `INSERT INTO notification_deliveries (id, pause_id, channel, kind, recipient, status, ref,
          error_code, error_message, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          record.id,
          record.pauseId,
          record.channel,
          record.kind,
          record.recipient,
          record.status,
          record.ref,
          record.errorCode,
          record.errorMessage,
          record.at,
        ],
      );
    },
    async listNotificationDeliveries(q) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (q.pauseId !== undefined) {
        params.push(q.pauseId);
        where.push(`pause_id = $${params.length}`);
      }
      if (q.status !== undefined) {
        params.push(q.status);
        where.push(`status = $${params.length}`);
      }
      params.push(q.limit);
      const sql = `SELECT * FROM notification_deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY at DESC, ord DESC LIMIT $${params.length}`;
      return (await query<DeliveryRow>(sql, params)).rows.map(toDelivery);
    },
    async createWebhookEndpoint(record) {
      await query(
        `INSERT INTO webhook_endpoints (id, url, secret, events, created_at, disabled_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          record.id,
          record.url,
          record.secret,
          JSON.stringify(record.events),
          record.createdAt,
          record.disabledAt,
        ],
      );
    },
    async listWebhookEndpoints() {
      return (
        await query<WebhookEndpointRow>('SELECT * FROM webhook_endpoints ORDER BY created_at, id')
      ).rows.map(toWebhookEndpoint);
    },
    async getWebhookEndpoint(id) {
      const row = (
        await query<WebhookEndpointRow>('SELECT * FROM webhook_endpoints WHERE id = $1', [id])
      ).rows[0];
      return row ? toWebhookEndpoint(row) : null;
    },
    async removeWebhookEndpoint(id) {
      return tx(async (client) => {
        await client.query('DELETE FROM webhook_messages WHERE endpoint_id = $1', [id]);
        const result = await client.query('DELETE FROM webhook_endpoints WHERE id = $1', [id]);
        return result.rowCount === 1;
      });
    },
    async disableWebhookEndpoint(id, now) {
      await query(
        'UPDATE webhook_endpoints SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL',
        [now, id],
      );
    },
    async saveWebhookMessage(record) {
      await query(
        `INSERT INTO webhook_messages (msg_id, endpoint_id, event_type, event, status, attempts,
          first_attempt_at, next_attempt_at, last_status, last_error, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = excluded.status,
         attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,
         last_status = excluded.last_status, last_error = excluded.last_error,
         updated_at = excluded.updated_at`,
        [
          record.msgId,
          record.endpointId,
          record.eventType,
          JSON.stringify(record.event),
          record.status,
          record.attempts,
          record.firstAttemptAt,
          record.nextAttemptAt,
          record.lastStatus,
          record.lastError,
          record.updatedAt,
        ],
      );
    },
    async listWebhookMessages(q) {
      const rows = q.status
        ? await query<WebhookMessageRow>(
            `SELECT * FROM webhook_messages WHERE status = $1 ORDER BY updated_at DESC, ord DESC
             LIMIT $2`,
            [q.status, q.limit],
          )
        : await query<WebhookMessageRow>(
            'SELECT * FROM webhook_messages ORDER BY updated_at DESC, ord DESC LIMIT $1',
            [q.limit],
          );
      return rows.rows.map(toWebhookMessage);
    },
    async listDueWebhookMessages(now, limit) {
      return (
        await query<WebhookMessageRow>(
          `SELECT * FROM webhook_messages WHERE status = 'pending' AND next_attempt_at <= $1
           ORDER BY next_attempt_at, ord LIMIT $2`,
          [now, limit],
        )
      ).rows.map(toWebhookMessage);
    },
    async nextWebhookAttemptAt() {
      const row = (
        await query<{ t: number | null }>(
          `SELECT MIN(next_attempt_at) AS t FROM webhook_messages WHERE status = 'pending'`,
        )
      ).rows[0];
      return row?.t ?? null;
    },
    async claimDeploymentValue(key, value) {
      await query(
        'INSERT INTO loopgate_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING',
        [key, value],
      );
      return (
        await query<{ value: string }>('SELECT value FROM loopgate_meta WHERE key = $1', [key])
      ).rows[0]!.value;
    },
    async checkReadiness(): Promise<StoreReadiness> {
      let version: number;
      try {
        version = await readSchemaVersion(pool);
      } catch (cause) {
        return {
          ok: false,
          code: 'E_STORE_UNREACHABLE',
          message: `The PostgreSQL database at ${redactDatabaseUrl(url)} does not answer: ${describeCause(cause, url)}.`,
        };
      }
      if (version < postgresMigrations.length) {
        return {
          ok: false,
          code: 'E_STORE_SCHEMA_OUTDATED',
          message: `The database schema is version ${version}; this loopgate needs ${postgresMigrations.length}. Run \`loopgate db migrate\`.`,
        };
      }
      return { ok: true, schemaVersion: version };
    },
    async saveGrantOffer(pauseId, offer, now) {
      return saveGrantOfferPostgres(pool, pauseId, offer, now);
    },
    async getGrantOffer(pauseId) {
      return getGrantOfferPostgres(pool, pauseId);
    },
    async createGrant(record, audit) {
      await auditedTx(async (audited) => {
        await insertGrantPostgres(audited.client, record);
        await appendAuditIn(audited, audit, record.createdAt);
      });
    },
    async getGrant(id) {
      return getGrantPostgres(pool, id);
    },
    async listGrants(query) {
      return listGrantsPostgres(pool, query);
    },
    async useGrant(id, now, audit) {
      return auditedTx(async (audited) => {
        if (!(await useGrantPostgres(audited.client, id, now))) return false;
        await appendAuditIn(audited, audit, now);
        return true;
      });
    },
    async revokeGrant(id, revokedBy, now, audit) {
      return auditedTx(async (audited) => {
        if (!(await revokeGrantPostgres(audited.client, id, revokedBy, now))) return false;
        await appendAuditIn(audited, audit, now);
        return true;
      });
    },
    async saveServerHeartbeat(entry, forgetBefore) {
      return saveServerHeartbeat(pool, entry, forgetBefore);
    },
    async removeServer(id) {
      return removeServer(pool, id);
    },
    async recordHandoffOwner(owner, now) {
      return recordHandoffOwner(pool, owner, now);
    },
    async findHandoffOwner(sessionId, now) {
      return findHandoffOwner(pool, sessionId, now);
    },
    async admitNotification(recipient, pauseId, now, limit) {
      return tx((client) => admitNotificationPostgres(client, recipient, pauseId, now, limit));
    },
    async discardHeldNotification(pauseId) {
      return discardHeldNotificationPostgres(pool, pauseId);
    },
    async takeDueDigests(now, limit) {
      const due: DueDigest[] = [];
      for (const recipient of await listHeldRecipientsPostgres(pool)) {
        const digest = await tx((client) => takeDigestPostgres(client, recipient, now, limit));
        if (digest) due.push(digest);
      }
      return due;
    },
    async nextDigestDueAt(now, limit) {
      return nextDigestDueAtPostgres(pool, now, limit);
    },
    async claimTask(key, now, keepUntil) {
      return claimTaskPostgres(pool, key, now, keepUntil);
    },
    async purgeTaskClaims(before) {
      return purgeTaskClaimsPostgres(pool, before);
    },
    async hasTaskClaim(key) {
      return (await pool.query('SELECT 1 FROM task_claims WHERE key = $1', [key])).rowCount === 1;
    },
    async claimWebhookMessage(msgId, endpointId, expectedNextAttemptAt, now, leaseUntil) {
      return claimWebhookMessagePostgres(
        pool,
        msgId,
        endpointId,
        expectedNextAttemptAt,
        now,
        leaseUntil,
      );
    },
    async close() {
      await pool.end();
    },
  };
  return store;
}
