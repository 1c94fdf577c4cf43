import { LoopgateError } from '../core/errors.js';
import { shellQuote } from './shellQuote.js';

/** What answers on a port another process holds. */
type Listener = 'this-data-dir' | 'loopgate' | 'other';

async function identifyListener(
  host: string,
  port: number,
  runningUrl: string | null,
): Promise<Listener> {
  if (runningUrl !== null && new URL(runningUrl).port === String(port)) return 'this-data-dir';
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  try {
    const response = await fetch(`http://${hostForUrl}:${port}/healthz`, {
      signal: AbortSignal.timeout(2_000),
    });
    const body = (await response.json()) as { ok?: unknown; error?: { code?: unknown } };
    // A loopgate answers {ok: true}, or an error body with one of its codes when the Host check
    // refuses the probe.
    if (
      body.ok === true ||
      (typeof body.error?.code === 'string' && body.error.code.startsWith('E_'))
    )
      return 'loopgate';
  } catch {
    // not HTTP, not JSON, or no answer: something else
  }
  return 'other';
}

/**
 * Turns a failed `listen` into an error that says who holds the port and what to do, instead
 * of a stack trace.
 * @param error what `server.listen` emitted
 * @param where the bind (`--host`, `--port`), the data dir and the URL of the server
 *   `server.json` says runs on it (null when none)
 * @returns LoopgateError E_SERVER_PORT_IN_USE (EADDRINUSE) or E_SERVER_LISTEN_FAILED (anything
 *   else, e.g. EACCES for a port below 1024)
 */
export async function explainListenError(
  error: NodeJS.ErrnoException,
  where: { host: string; port: number; dataDir: string; runningUrl: string | null },
): Promise<LoopgateError> {
  const { host, port, dataDir, runningUrl } = where;
  const otherPort = `pass another port with --port (LOOPGATE_PORT), or --port 0 for any free one`;
  if (error.code !== 'EADDRINUSE') {
    return new LoopgateError(
      'E_SERVER_LISTEN_FAILED',
      `Could not listen on ${host}:${port} (${error.code ?? error.message}); ${otherPort}, or another --host.`,
      {
        cause: error,
      },
    );
  }
  const listener = await identifyListener(host, port, runningUrl);
  const loginUrl = `\`loopgate login-url --data-dir ${shellQuote(dataDir)}\``;
  const message =
    listener === 'this-data-dir'
      ? `loopgate already runs on this data dir at ${runningUrl}/ — use that one (a sign-in link: ${loginUrl}), or stop it first. To run a second server, give it its own --data-dir and --port.`
      : listener === 'loopgate'
        ? `Port ${port} on ${host} is taken by another loopgate server (one with another data dir). Use that one (\`loopgate login-url --data-dir ITS_DIR\`), or ${otherPort}.`
        : `Port ${port} on ${host} is taken by another program. Stop it, or ${otherPort}.`;
  return new LoopgateError('E_SERVER_PORT_IN_USE', message, { cause: error });
}
