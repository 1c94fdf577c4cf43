import type { ErrorCode } from '../core/errorCodes.js';
import { LoopgateError } from '../core/errors.js';
import { defaultWaitSeconds, maxWaitSeconds } from '../core/longPoll.js';

/**
 * The `max_wait_seconds` of a long-poll route: the default when absent, capped at the 50 s
 * every wait is bounded by (MCP clients time a call out at 60 s).
 * @throws LoopgateError `code` when the value is not a number ≥ 0
 */
export function parseWaitSeconds(raw: string | undefined, code: ErrorCode): number {
  if (raw === undefined) return defaultWaitSeconds;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    throw new LoopgateError(
      code,
      `max_wait_seconds must be a number from 0 to ${maxWaitSeconds}; got "${raw}".`,
    );
  }
  return Math.min(n, maxWaitSeconds);
}
