import pino, { type DestinationStream, type Logger } from 'pino';
import { redactSecrets } from '../core/redactSecrets.js';

export { redactedKeys, redactSecrets } from '../core/redactSecrets.js';

/**
 * The process logger: pino writing JSON lines to stderr (fd 2), never stdout, so stdio MCP
 * stays clean. Secrets are redacted by property name at every depth ({@link redactSecrets}).
 * @param destination where lines go; default stderr (tests pass a stream).
 */
export function createLogger(
  level: string,
  destination: DestinationStream = pino.destination(2),
): Logger {
  return pino(
    {
      level,
      base: { name: 'loopgate' },
      formatters: { log: (object) => redactSecrets(object) as Record<string, unknown> },
    },
    destination,
  );
}
