import type { ApprovalInput } from '../core/approvalInput.js';
import type { ApprovalView } from '../core/approvalView.js';
import { setTimeout as delay } from 'node:timers/promises';
import { isLoopgateError, LoopgateError } from '../core/errors.js';
import type { Jwks } from '../crypto/signingKeys.js';
import { createApiCaller } from './createApiCaller.js';
import type { RequestStateSealer } from './requestState.js';
import type { TaskLedger } from './taskLedger.js';

/**
 * What the MCP tools need from an approvals server. Two implementations: in-process
 * (`localApprovalsClient.ts`, for `loopgate mcp` with the embedded server and for `/mcp`) and
 * over HTTP (`createRemoteApprovalsClient`, for `loopgate mcp --server-url`).
 * Methods throw LoopgateError with the server's code.
 */
export interface ApprovalsClient {
  createApproval(input: ApprovalInput): Promise<ApprovalView>;
  getApproval(pauseId: string): Promise<ApprovalView>;
  /** Resolves when decided, or unchanged after `maxWaitSeconds` (≤ 50), or when `signal` aborts. */
  waitForApproval(
    pauseId: string,
    maxWaitSeconds: number,
    signal?: AbortSignal,
  ): Promise<ApprovalView>;
  cancelApproval(pauseId: string): Promise<ApprovalView>;
  /** The keys receipts are checked against. */
  getJwks(): Promise<Jwks>;
  /** The shared HMAC secret, when this side holds it. */
  signingSecret?: string;
  /**
   * Seals this agent's `requestState` for input-required results (MCP 2026-07-28); without
   * one, 2026-07-28 clients get the approval_url in the tool result as every client does.
   */
  requestState?: RequestStateSealer;
  /**
   * Issues and opens this agent's task ids for the 2026-07-28 tasks extension; without it,
   * 2026-07-28 clients wait with the long-poll tools as every client does.
   */
  tasks?: TaskLedger;
}

/** Pause between retries of a read while the server is away, in ms. */
const retryPauseMs = 250;

/**
 * An {@link ApprovalsClient} over the loopgate HTTP API (docs/api.md) with an agent key.
 * Reads (`getApproval`, `waitForApproval`) that cannot reach the server are retried for
 * `retryUnreachableMs` (default 0: not at all), long enough for a local server to restart.
 * @throws LoopgateError with the server's code; E_REMOTE_WAIT_INTERRUPTED when the server went
 *   away during a wait (the request is kept: the agent should wait again); E_REMOTE_UNREACHABLE
 *   when it cannot be reached otherwise
 */
export function createRemoteApprovalsClient(options: {
  serverUrl: string;
  apiKey: string;
  signingSecret?: string;
  fetch?: typeof fetch;
  retryUnreachableMs?: number;
  requestState?: RequestStateSealer;
  tasks?: TaskLedger;
}): ApprovalsClient {
  const call = createApiCaller(options);
  let jwks: { value: Jwks; at: number } | undefined;

  const retrying = async <T>(read: () => Promise<T>, signal?: AbortSignal): Promise<T> => {
    const deadline = Date.now() + (options.retryUnreachableMs ?? 0);
    for (;;) {
      try {
        return await read();
      } catch (error) {
        if (
          !isLoopgateError(error, 'E_REMOTE_UNREACHABLE') ||
          signal?.aborted ||
          Date.now() >= deadline
        )
          throw error;
        await delay(retryPauseMs, undefined, signal ? { signal } : {});
      }
    }
  };

  const id = (pauseId: string) => encodeURIComponent(pauseId);
  return {
    createApproval: (input) => call('POST', '/v1/approvals', input),
    getApproval: (pauseId) => retrying(() => call('GET', `/v1/approvals/${id(pauseId)}`)),
    async waitForApproval(pauseId, seconds, signal) {
      try {
        return await retrying(
          () =>
            call<ApprovalView>(
              'GET',
              `/v1/approvals/${id(pauseId)}/wait?max_wait_seconds=${seconds}`,
              undefined,
              signal,
            ),
          signal,
        );
      } catch (error) {
        if (!isLoopgateError(error, 'E_REMOTE_UNREACHABLE') || signal?.aborted) throw error;
        // The request lives in the server's database and survives a restart: waiting again is
        // the way on, not giving up on the action.
        throw new LoopgateError(
          'E_REMOTE_WAIT_INTERRUPTED',
          `The loopgate server at ${call.base} stopped answering during the wait (it may be restarting): ${error.message} The request is kept. Call wait_for_approval again with pause_id "${pauseId}" in a few seconds; do not perform the action until it returns decision "approved".`,
          { cause: error },
        );
      }
    },
    cancelApproval: (pauseId) => call('POST', `/v1/approvals/${id(pauseId)}/cancel`),
    async getJwks() {
      if (!jwks || Date.now() - jwks.at > 300_000) {
        jwks = {
          value: await call<Jwks>('GET', '/.well-known/loopgate/jwks.json'),
          at: Date.now(),
        };
      }
      return jwks.value;
    },
    ...(options.signingSecret ? { signingSecret: options.signingSecret } : {}),
    ...(options.requestState ? { requestState: options.requestState } : {}),
    ...(options.tasks ? { tasks: options.tasks } : {}),
  };
}
