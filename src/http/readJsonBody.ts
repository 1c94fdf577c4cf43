import type { Context } from 'hono';
import type { z } from 'zod';
import { describeZodIssues } from '../core/approvalInput.js';
import type { ErrorCode } from '../core/errorCodes.js';
import { LoopgateError } from '../core/errors.js';
import { checkJsonLimits } from '../core/jsonLimits.js';

/**
 * Parses the request body as JSON and validates it with `schema`. The body's size is bounded
 * by the app's body limit; its shape by {@link checkJsonLimits} (depth, finite numbers).
 * @throws LoopgateError E_HTTP_BODY_INVALID for non-JSON, E_JSON_UNSUPPORTED for JSON
 *   nested too deep or with a number out of range, `code` for a schema mismatch
 */
export async function readJsonBody<T extends z.ZodType>(
  c: Context,
  schema: T,
  code: ErrorCode,
): Promise<z.infer<T>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (cause) {
    throw new LoopgateError(
      'E_HTTP_BODY_INVALID',
      'The body must be JSON with Content-Type: application/json.',
      { cause },
    );
  }
  const limited = checkJsonLimits(body);
  if (!limited.ok) throw new LoopgateError(limited.code, limited.message);
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new LoopgateError(code, describeZodIssues(parsed.error));
  return parsed.data as z.infer<T>;
}
