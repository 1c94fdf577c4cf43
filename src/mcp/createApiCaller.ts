import type { ErrorCode } from '../core/errorCodes.js';
import { LoopgateError } from '../core/errors.js';

/** Calls one loopgate HTTP API route with an agent key; resolves with the parsed JSON body. */
export type ApiCaller = <T>(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
) => Promise<T>;

/**
 * A caller for a remote loopgate server's `/v1` API (docs/api.md) with `Authorization: Bearer
 * <agent key>`. Error bodies `{error: {code, message}}` become LoopgateErrors with the server's
 * code; a server that cannot be reached or answers something else is E_REMOTE_UNREACHABLE. An
 * aborted `signal` rejects with the abort reason.
 */
export function createApiCaller(options: {
  serverUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
}): ApiCaller & { base: string } {
  const base = options.serverUrl.replace(/\/$/, '');
  const doFetch = options.fetch ?? fetch;
  const call = async <T>(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<T> => {
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (cause) {
      if (signal?.aborted) throw cause;
      throw new LoopgateError(
        'E_REMOTE_UNREACHABLE',
        `Could not reach the loopgate server at ${base}: ${(cause as Error).message}`,
        { cause },
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch (cause) {
      throw new LoopgateError(
        'E_REMOTE_UNREACHABLE',
        `The server at ${base} answered ${response.status} with a body that is not JSON.`,
        { cause },
      );
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
      if (error?.code && error.message)
        throw new LoopgateError(error.code as ErrorCode, error.message);
      throw new LoopgateError(
        'E_REMOTE_UNREACHABLE',
        `The server at ${base} answered ${response.status}.`,
      );
    }
    return parsed as T;
  };
  return Object.assign(call, { base });
}
