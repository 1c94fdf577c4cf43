import type { Logger } from 'pino';
import { singleProcessChangeFeed, type ChangeFeed } from '../core/changeFeed.js';

/**
 * The change feed of a server: LISTEN/NOTIFY on the deployment's PostgreSQL database when
 * `databaseUrl` is set (several servers may share it), else the single-process feed, which costs
 * nothing (`pg` is loaded only for PostgreSQL). Connection failures are logged as warnings (never
 * the URL); the feed reconnects.
 */
export async function openChangeFeed(
  databaseUrl: string | undefined,
  logger: Logger,
): Promise<{ feed: ChangeFeed; close(): Promise<void> }> {
  if (!databaseUrl) return { feed: singleProcessChangeFeed, close: async () => undefined };
  const { openPostgresChangeFeed } = await import('../store/postgresChangeFeed.js');
  const feed = openPostgresChangeFeed({
    url: databaseUrl,
    onError: (error) =>
      logger.warn(
        { err: { message: error.message, code: (error as { code?: unknown }).code } },
        'change feed connection lost; reconnecting (waiters are re-read meanwhile)',
      ),
  });
  return { feed, close: () => feed.close() };
}
