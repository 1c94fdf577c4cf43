import { errorCodes, type ErrorCode } from './errorCodes.js';

/**
 * The one error type loopgate throws on purpose. `code` is from the registry in
 * `errorCodes.ts` (documented in docs/errors.md); `status` is the HTTP status it maps to.
 * Messages say what came in and what was expected; the original error rides on `cause`.
 */
export class LoopgateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LoopgateError';
    this.code = code;
    this.status = errorCodes[code].status;
  }
}

/** True when `err` is a {@link LoopgateError}, optionally with the given code. */
export function isLoopgateError(err: unknown, code?: ErrorCode): err is LoopgateError {
  return err instanceof LoopgateError && (code === undefined || err.code === code);
}

/** The result shape validators return; callers decide whether to throw. */
export type Validation<T> =
  { ok: true; value: T } | { ok: false; code: ErrorCode; message: string };
