import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The files of a data dir that every command reads. Kept apart from `startServer.ts` so that
 * commands which only read a data dir (`keys`, `verify`, `login-url`, …) start without loading
 * the HTTP server, the MCP SDK and the browser relay.
 */

/** `<dataDir>/server.json`: where the server of a data dir listens, for `login-url`. */
export const serverInfoFile = 'server.json';

/** The file that tells other commands where the server of `dataDir` listens, if it still runs. */
export function readRunningServerUrl(dataDir: string): string | null {
  const path = join(dataDir, serverInfoFile);
  if (!existsSync(path)) return null;
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as { url: string; pid: number };
    process.kill(info.pid, 0);
    return info.url;
  } catch {
    return null;
  }
}

/** The database file inside a data dir. */
export function databasePath(dataDir: string): string {
  return join(dataDir, 'loopgate.db');
}
