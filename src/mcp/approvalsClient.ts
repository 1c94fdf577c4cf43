import type { ApprovalInput } from '../core/approvalInput.js';
import type { ApprovalView } from '../core/approvalView.js';
import type { Jwks } from '../crypto/signingKeys.js';
import { createApiCaller } from './createApiCaller.js';

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
  waitForApproval(pauseId: string, maxWaitSeconds: number, signal?: AbortSignal): Promise<ApprovalView>;
  cancelApproval(pauseId: string): Promise<ApprovalView>;
  /** The keys receipts are checked against. */
  getJwks(): Promise<Jwks>;
  /** The shared HMAC secret, when this side holds it. */
  signingSecret?: string;
}

/**
 * An {@link ApprovalsClient} over the loopgate HTTP API (docs/api.md) with an agent key.
 * @throws LoopgateError with the server's code, or E_REMOTE_UNREACHABLE when it cannot be reached
 */
export function createRemoteApprovalsClient(options: {
  serverUrl: string;
  apiKey: string;
  signingSecret?: string;
  fetch?: typeof fetch;
}): ApprovalsClient {
  const call = createApiCaller(options);
  let jwks: { value: Jwks; at: number } | undefined;

  const id = (pauseId: string) => encodeURIComponent(pauseId);
  return {
    createApproval: (input) => call('POST', '/v1/approvals', input),
    getApproval: (pauseId) => call('GET', `/v1/approvals/${id(pauseId)}`),
    waitForApproval: (pauseId, seconds, signal) =>
      call('GET', `/v1/approvals/${id(pauseId)}/wait?max_wait_seconds=${seconds}`, undefined, signal),
    cancelApproval: (pauseId) => call('POST', `/v1/approvals/${id(pauseId)}/cancel`),
    async getJwks() {
      if (!jwks || Date.now() - jwks.at > 300_000) {
        jwks = { value: await call<Jwks>('GET', '/.well-known/loopgate/jwks.json'), at: Date.now() };
      }
      return jwks.value;
    },
    ...(options.signingSecret ? { signingSecret: options.signingSecret } : {}),
  };
}
