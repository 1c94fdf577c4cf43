import { bodyLimit } from 'hono/body-limit';
import type { MiddlewareHandler } from 'hono';
import { LoopgateError } from '../core/errors.js';

/** The default body limit: 1 MiB, far above any JSON loopgate's routes take. */
export const defaultMaxBodyBytes = 1_048_576;

/**
 * Refuses a body over `maxBytes` with 413 E_HTTP_BODY_TOO_LARGE (`what` names the bodies in
 * the message). A body with Content-Length is judged by it; one without (chunked) is counted
 * as it streams and never buffered past the limit (hono's `bodyLimit`).
 */
export function limitBody(maxBytes: number, what = 'Request bodies'): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new LoopgateError(
        'E_HTTP_BODY_TOO_LARGE',
        `${what} are at most ${maxBytes} bytes; this one is larger.`,
      );
    },
  });
}
