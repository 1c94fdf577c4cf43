import pg from 'pg';
import {
  formatChangeNotice,
  parseChangeNotice,
  type ChangeFeed,
  type ChangeNotice,
} from '../core/changeFeed.js';

/** Options of {@link openPostgresChangeFeed}. */
export interface PostgresChangeFeedOptions {
  /** The deployment's database, `postgres://…` (the store's `--database-url`). */
  url: string;
  /** The LISTEN/NOTIFY channel. Default `loopgate_changes`. */
  channel?: string;
  /**
   * Wait before the first reconnect after the listening connection dropped, in ms; it doubles
   * on each failure up to `maxReconnectDelayMs`. Default 100.
   */
  reconnectDelayMs?: number;
  /** Default 5 000. */
  maxReconnectDelayMs?: number;
  /** Told about every connection failure (the feed reconnects by itself). */
  onError?: (error: Error) => void;
}

/** A change feed over PostgreSQL LISTEN/NOTIFY; `close` ends its connection. */
export interface PostgresChangeFeed extends ChangeFeed {
  /** The listening connection's backend pid, or null while it is down (for operators and tests). */
  readonly backendPid: number | null;
  close(): Promise<void>;
}

/** At most this many notices go in one `SELECT pg_notify(…), …` statement. */
const maxNoticesPerStatement = 100;

/** Ends a connection whose server has not answered at all for this long, in ms. */
const connectTimeoutMs = 10_000;

/**
 * Opens the change feed of a deployment whose servers share one PostgreSQL database: one
 * dedicated connection per server `LISTEN`s on the channel and also carries this server's
 * `NOTIFY`s (payload `{"type","id"}`, never a request's content). PostgreSQL delivers a
 * notification to every listener, the sender included; a notice whose sending backend is this
 * feed's own connection is ignored, so listeners hear only other servers. When the connection
 * drops (a restart, a failover, `pg_terminate_backend`) the feed reconnects with backoff and
 * reports a gap, since notices sent meanwhile are lost; notices published while it is down are
 * dropped. Never throws: returns at once and connects in the background (errors go to
 * `onError`). See https://www.postgresql.org/docs/current/sql-notify.html.
 */
export function openPostgresChangeFeed(options: PostgresChangeFeedOptions): PostgresChangeFeed {
  const channel = options.channel ?? 'loopgate_changes';
  const firstDelay = options.reconnectDelayMs ?? 100;
  const maxDelay = options.maxReconnectDelayMs ?? 5_000;
  const changeListeners = new Set<(notice: ChangeNotice) => void>();
  const gapListeners = new Set<() => void>();
  let client: pg.Client | null = null;
  let backendPid: number | null = null;
  let closed = false;
  let delay = firstDelay;
  let retry: NodeJS.Timeout | undefined;
  // Set when notices may have been lost: a connection dropped, or the first one failed.
  let lostNotices = false;
  let connecting: Promise<void> | undefined;

  const report = (error: unknown) => {
    if (!closed) options.onError?.(error instanceof Error ? error : new Error(String(error)));
  };

  const scheduleReconnect = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      connecting = connect();
    }, delay);
    retry.unref();
    delay = Math.min(delay * 2, maxDelay);
  };

  async function connect(): Promise<void> {
    const next = new pg.Client({
      connectionString: options.url,
      keepAlive: true,
      connectionTimeoutMillis: connectTimeoutMs,
      application_name: 'loopgate change feed',
    });
    let dropped = false;
    const drop = (error?: Error) => {
      if (dropped) return;
      dropped = true;
      lostNotices = true;
      if (error) report(error);
      if (client === next) {
        client = null;
        backendPid = null;
      }
      next.end().catch(() => undefined);
      scheduleReconnect();
    };
    next.on('error', drop);
    next.on('end', () => drop());
    next.on('notification', (message) => {
      if (message.channel !== channel || message.processId === backendPid) return;
      const notice = parseChangeNotice(message.payload ?? '');
      if (!notice) return;
      for (const listener of [...changeListeners]) listener(notice);
    });
    try {
      await next.connect();
      const pid = (await next.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]
        ?.pid;
      await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      if (closed || dropped) {
        await next.end().catch(() => undefined);
        return;
      }
      client = next;
      backendPid = pid ?? null;
      delay = firstDelay;
      // Anything published while no connection listened is lost: let waiters re-read now.
      if (lostNotices) {
        lostNotices = false;
        for (const listener of [...gapListeners]) listener();
      }
    } catch (error) {
      drop(error as Error);
    }
  }

  // Notices published while one `pg_notify` statement is on its way go together in the next
  // (one round trip for many under load), still in the order they were published.
  const queued: string[] = [];
  let sending = false;
  const sendQueued = () => {
    const current = client;
    const payloads = queued.splice(0, maxNoticesPerStatement);
    if (!current || payloads.length === 0) {
      queued.length = 0;
      sending = false;
      return;
    }
    sending = true;
    const calls = payloads.map((_, i) => `pg_notify($1, $${i + 2})`).join(', ');
    current
      .query(`SELECT ${calls}`, [channel, ...payloads])
      .catch(report)
      .finally(sendQueued);
  };

  connecting = connect();

  return {
    shared: true,
    get backendPid() {
      return backendPid;
    },
    publish(notice) {
      if (!client) return; // a hint only: the other servers' re-reads find the change
      queued.push(formatChangeNotice(notice));
      if (!sending) sendQueued();
    },
    onRemoteChange(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    onGap(listener) {
      gapListeners.add(listener);
      return () => gapListeners.delete(listener);
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      retry = undefined;
      await connecting?.catch(() => undefined);
      const current = client;
      client = null;
      backendPid = null;
      await current?.end().catch(() => undefined);
    },
  };
}
