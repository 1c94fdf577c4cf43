import type { LoggingLevel, ServerContext } from '@modelcontextprotocol/server';
import { redactSecrets } from '../core/redactSecrets.js';

/** The `logger` name loopgate's MCP log notifications carry. */
export const clientLoggerName = 'loopgate';

/**
 * Sends one log line to the MCP client that made the request, as a `notifications/message`
 * (MCP 2025-11-25 §Utilities/Logging), with the same redaction as the process log
 * ({@link redactSecrets}): `data` is `{message, ...fields}` with every secret-named property
 * blanked. Only lines about the caller's own request go out, so one agent never reads another's.
 * The SDK drops a line below the level the client set with `logging/setLevel` (2025-11-25) or in
 * the request's `_meta` (2026-07-28), and sends nothing when the client asked for no logs. Never
 * throws: a client that went away loses the line, not the call.
 */
export async function logToClient(
  ctx: ServerContext,
  level: LoggingLevel,
  message: string,
  fields: Record<string, unknown> = {},
): Promise<void> {
  await ctx.mcpReq
    .log(level, redactSecrets({ message, ...fields }), clientLoggerName)
    .catch(() => undefined);
}
