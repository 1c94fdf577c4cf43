import type { DueDigest, NotificationAdmission, NotificationLimit } from './store.js';
import type { Queryable } from './postgresClaims.js';

/**
 * The PostgreSQL migration behind this file: the sends counted against each recipient's
 * limit, and the requests held for each recipient's next digest (`ord` keeps them oldest
 * first). The same tables as SQLite's migration of the same name; append it to
 * `postgresMigrations`.
 */
export const notificationLimitsMigration = `
  CREATE TABLE notification_sends (
    recipient TEXT NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE INDEX notification_sends_recipient ON notification_sends (recipient, at);

  CREATE TABLE notification_held (
    ord BIGSERIAL,
    recipient TEXT NOT NULL,
    pause_id TEXT NOT NULL,
    held_at BIGINT NOT NULL,
    PRIMARY KEY (recipient, pause_id)
  );
  CREATE INDEX notification_held_pause ON notification_held (pause_id);
`;

/**
 * Advisory lock class of one recipient's limit (the two-int key space, told apart by
 * `hashtext(recipient)`; a collision only serialises two recipients' checks). Distinct from
 * postgresStore's classes.
 */
const recipientLockClass = 0x6c6e6c6d; // "lnlm"

/**
 * Serialises every check of `recipient`'s limit until the transaction ends, on every server:
 * the count, the held items and the decision are read and written under it.
 */
async function lockRecipient(client: Queryable, recipient: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
    recipientLockClass,
    recipient,
  ]);
}

/** When `recipient` next has a free slot (ms): now, or when the send that fills the window leaves it. */
async function freeSlotAt(
  db: Queryable,
  recipient: string,
  now: number,
  limit: NotificationLimit,
): Promise<number> {
  // The send that keeps the window full: the `limit`-th newest inside it.
  const row = await db.query<{ at: number }>(
    `SELECT at FROM notification_sends WHERE recipient = $1 AND at > $2
      ORDER BY at DESC LIMIT 1 OFFSET $3`,
    [recipient, now - limit.windowMs, limit.limit - 1],
  );
  const at = row.rows[0]?.at;
  return at === undefined ? now : Number(at) + limit.windowMs;
}

/** Forgets `recipient`'s sends that left the window, so the table stays small. */
async function pruneSends(
  client: Queryable,
  recipient: string,
  now: number,
  limit: NotificationLimit,
): Promise<void> {
  await client.query('DELETE FROM notification_sends WHERE recipient = $1 AND at <= $2', [
    recipient,
    now - limit.windowMs,
  ]);
}

/**
 * `Store.admitNotification` on PostgreSQL. `client` must be inside a transaction (the
 * recipient's advisory lock is held until it ends).
 */
export async function admitNotificationPostgres(
  client: Queryable,
  recipient: string,
  pauseId: string,
  now: number,
  limit: NotificationLimit,
): Promise<NotificationAdmission> {
  await lockRecipient(client, recipient);
  await pruneSends(client, recipient, now, limit);
  const dueAt = await freeSlotAt(client, recipient, now, limit);
  if (dueAt <= now) {
    const held = await client.query(
      'SELECT 1 FROM notification_held WHERE recipient = $1 LIMIT 1',
      [recipient],
    );
    if (held.rowCount === 0) {
      await client.query('INSERT INTO notification_sends (recipient, at) VALUES ($1, $2)', [
        recipient,
        now,
      ]);
      return { kind: 'send' };
    }
  }
  await client.query(
    `INSERT INTO notification_held (recipient, pause_id, held_at) VALUES ($1, $2, $3)
      ON CONFLICT (recipient, pause_id) DO NOTHING`,
    [recipient, pauseId, now],
  );
  return { kind: 'held', dueAt };
}

/** `Store.discardHeldNotification` on PostgreSQL. */
export async function discardHeldNotificationPostgres(
  db: Queryable,
  pauseId: string,
): Promise<void> {
  await db.query('DELETE FROM notification_held WHERE pause_id = $1', [pauseId]);
}

/** The recipients that have held requests, the longest-waiting first. */
export async function listHeldRecipientsPostgres(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ recipient: string }>(
    'SELECT recipient FROM notification_held GROUP BY recipient ORDER BY MIN(ord)',
  );
  return rows.rows.map((r) => r.recipient);
}

/**
 * Hands out `recipient`'s digest when one is due: under the recipient's lock, checks for a
 * free slot, then DELETE … RETURNING claims the held items, so a second server that waited for
 * the lock finds none. `client` must be inside a transaction. Null when nothing is due.
 */
export async function takeDigestPostgres(
  client: Queryable,
  recipient: string,
  now: number,
  limit: NotificationLimit,
): Promise<DueDigest | null> {
  await lockRecipient(client, recipient);
  await pruneSends(client, recipient, now, limit);
  if ((await freeSlotAt(client, recipient, now, limit)) > now) return null;
  const taken = await client.query<{ pause_id: string; ord: number }>(
    'DELETE FROM notification_held WHERE recipient = $1 RETURNING pause_id, ord',
    [recipient],
  );
  if (taken.rows.length === 0) return null;
  await client.query('INSERT INTO notification_sends (recipient, at) VALUES ($1, $2)', [
    recipient,
    now,
  ]);
  const pauseIds = [...taken.rows]
    .sort((a, b) => Number(a.ord) - Number(b.ord))
    .map((r) => r.pause_id);
  return { recipient, pauseIds };
}

/** `Store.nextDigestDueAt` on PostgreSQL: reads only, so it needs no transaction. */
export async function nextDigestDueAtPostgres(
  db: Queryable,
  now: number,
  limit: NotificationLimit,
): Promise<number | null> {
  let next: number | null = null;
  for (const recipient of await listHeldRecipientsPostgres(db)) {
    const at = await freeSlotAt(db, recipient, now, limit);
    if (next === null || at < next) next = at;
  }
  return next;
}
