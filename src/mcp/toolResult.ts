import type { CallToolResult, ServerContext } from '@modelcontextprotocol/server';
import { isLoopgateError } from '../core/errors.js';
import { logToClient } from './clientLog.js';

/**
 * An MCP tool result (MCP 2025-11-25 §Tools, "Tool Result"): `text` first, then the structured
 * content pretty-printed for clients that show only text, and as `structuredContent` for those
 * that read it. `isError` marks a failure the agent can act on (rejected, expired, gate failed):
 * the text says what to do next.
 */
export function toolResult(
  text: string,
  structured?: Record<string, unknown>,
  isError = false,
): CallToolResult {
  return {
    ...(isError ? { isError: true } : {}),
    content: [
      {
        type: 'text',
        text: structured ? `${text}\n\n${JSON.stringify(structured, null, 2)}` : text,
      },
    ],
    ...(structured ? { structuredContent: structured } : {}),
  };
}

/** {@link toolResult} with `isError: true`. */
export function toolError(text: string, structured?: Record<string, unknown>): CallToolResult {
  return toolResult(text, structured, true);
}

/**
 * Runs a tool body; a LoopgateError becomes an `isError` result `"E_CODE: message"` the agent
 * can act on, and a `warning` log line to the client. Anything else propagates (the SDK turns it
 * into a protocol error).
 */
export async function guardToolErrors<T extends object = CallToolResult>(
  ctx: ServerContext,
  run: () => Promise<T>,
): Promise<T | CallToolResult> {
  try {
    return await run();
  } catch (err) {
    if (!isLoopgateError(err)) throw err;
    await logToClient(ctx, 'warning', 'tool call refused', {
      error_code: err.code,
      reason: err.message,
    });
    return toolError(`${err.code}: ${err.message}`);
  }
}
