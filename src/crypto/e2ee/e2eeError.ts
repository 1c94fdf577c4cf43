import type { ErrorCode } from '../../core/errorCodes.js';

/** The registry codes this folder can raise (a type-only import: the compiled file has none). */
export type E2eeErrorCode = Extract<ErrorCode, `E_E2EE_${string}`>;

/**
 * The error the E2EE module throws. It is not `LoopgateError` because this folder is also
 * served to the viewer page as plain ES modules and so imports nothing outside itself; its
 * `code` is still a registry code (docs/errors.md), and Node callers convert it with
 * `new LoopgateError(err.code, err.message, {cause: err})` where they need one.
 */
export class E2eeError extends Error {
  readonly code: E2eeErrorCode;

  constructor(code: E2eeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'E2eeError';
    this.code = code;
  }
}

/** True when `err` is an {@link E2eeError}, optionally with the given code. */
export function isE2eeError(err: unknown, code?: E2eeErrorCode): err is E2eeError {
  return err instanceof E2eeError && (code === undefined || err.code === code);
}
