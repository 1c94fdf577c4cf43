import Database from 'better-sqlite3';
import pg from 'pg';
import { LoopgateError } from '../core/errors.js';
import { redactDatabaseUrl } from '../core/redactDatabaseUrl.js';
import { migratePostgresDatabase } from './postgresStore.js';
import { openSqliteStore } from './sqliteStore.js';

/**
 * The tables a copy moves, parents before children (foreign keys), each read in the order
 * that lists rely on: the audit log by `seq`, the rest by `rowid` (insertion order, which the
 * PostgreSQL side keeps in its `ord` columns).
 */
const copiedTables = [
  'operators',
  'approvals',
  'agent_keys',
  'login_tokens',
  'sessions',
  'operator_totp',
  'webauthn_credentials',
  'webauthn_challenges',
  'operator_contacts',
  'slack_payloads',
  'email_confirm_tokens',
  'notification_deliveries',
  'webhook_endpoints',
  'webhook_messages',
  'agent_notifications',
  'notification_sends',
  'notification_held',
  'otp_argument_throttle',
  'audit_log',
] as const;

/** Rows per INSERT statement (PostgreSQL allows 65,535 parameters per statement). */
const batchRows = 200;

/**
 * Copies everything in a SQLite database (brought up to date first) into an empty PostgreSQL
 * database (migrated first), in one transaction: requests, agent keys, operators, sessions,
 * TOTP enrolments, passkeys, contacts, webhooks and their messages, notifications held for a
 * digest, and the audit log entry
 * for entry, so its hash chain verifies on the copy. Values are copied as stored (JSON text
 * byte for byte). The SQLite file is only read.
 *
 * @returns how many rows each table held
 * @throws LoopgateError E_STORE_COPY_TARGET_NOT_EMPTY when the PostgreSQL database holds
 *   loopgate data already; E_STORE_UNREACHABLE, E_STORE_MIGRATION
 */
export async function copySqliteToPostgres(
  sqlitePath: string,
  url: string,
): Promise<Record<string, number>> {
  await openSqliteStore(sqlitePath).close();
  await migratePostgresDatabase(url);
  const source = new Database(sqlitePath, { readonly: true, fileMustExist: true });
  const target = new pg.Client({ connectionString: url, application_name: 'loopgate copy' });
  try {
    await target.connect();
    const counts: Record<string, number> = {};
    await target.query('BEGIN');
    try {
      for (const table of copiedTables) {
        const held = await target.query(`SELECT 1 FROM ${table} LIMIT 1`);
        if (held.rowCount !== 0) {
          throw new LoopgateError(
            'E_STORE_COPY_TARGET_NOT_EMPTY',
            `${redactDatabaseUrl(url)} holds loopgate data already (table ${table} has rows); copy into a new, empty database.`,
          );
        }
      }
      for (const table of copiedTables) {
        const order = table === 'audit_log' ? 'seq' : 'rowid';
        const rows = source.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all() as Record<
          string,
          unknown
        >[];
        counts[table] = rows.length;
        for (let start = 0; start < rows.length; start += batchRows) {
          await insertRows(target, table, rows.slice(start, start + batchRows));
        }
      }
      await target.query('COMMIT');
    } catch (error) {
      await target.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    return counts;
  } finally {
    source.close();
    await target.end().catch(() => undefined);
  }
}

async function insertRows(
  client: pg.Client,
  table: string,
  rows: Record<string, unknown>[],
): Promise<void> {
  const columns = Object.keys(rows[0]!);
  const params: unknown[] = [];
  const tuples = rows.map((row) => {
    const placeholders = columns.map((column) => {
      params.push(row[column]);
      return `$${params.length}`;
    });
    return `(${placeholders.join(', ')})`;
  });
  await client.query(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`,
    params,
  );
}
