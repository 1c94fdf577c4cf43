import type { CreatedHandoff, HandoffCreateInput, HandoffView } from '../handoff/handoffView.js';
import { connectRelayAgentSocket } from '../handoff/relayAgentSocket.js';
import type { RelayAgentLink } from '../handoff/relayHub.js';
import { createApiCaller } from './createApiCaller.js';

/**
 * What the handoff tools need from a relay. Two implementations: in-process
 * (`localHandoffClient.ts`, for `loopgate mcp` with the embedded server) and over HTTP and
 * WebSocket ({@link createRemoteHandoffClient}, for `--server-url` or a server already running
 * on the data dir). Methods throw LoopgateError with the server's code.
 */
export interface HandoffClient {
  /** Opens a session: its view, the viewer URL (no `#k=`) and the agent side's socket token. */
  createSession(input: HandoffCreateInput): Promise<CreatedHandoff>;
  getSession(sessionId: string): Promise<HandoffView>;
  /** Resolves the moment the status changes (at once when ended), else after `maxWaitSeconds` (≤ 50). */
  waitForChange(
    sessionId: string,
    maxWaitSeconds: number,
    signal?: AbortSignal,
  ): Promise<HandoffView>;
  cancelSession(sessionId: string): Promise<HandoffView>;
  /** Reports the end the agent side saw (Done / Cancel through the E2EE channel, or the browser gone). */
  endSession(
    sessionId: string,
    status: 'resolved' | 'cancelled' | 'error',
    detail?: string,
  ): Promise<HandoffView>;
  /**
   * Joins the session as its agent side: `onMessage` gets the relay's text control messages and
   * the viewer's binary E2EE messages, in order.
   */
  connectAgent(
    created: CreatedHandoff,
    onMessage: (data: Uint8Array | string) => void,
  ): RelayAgentLink;
}

/**
 * A {@link HandoffClient} over the loopgate HTTP API (`/v1/handoff…`) with an agent key; the agent
 * side's socket goes to `/v1/handoff/<id>/agent` on the same server.
 * @throws LoopgateError with the server's code, or E_REMOTE_UNREACHABLE when it cannot be reached
 */
export function createRemoteHandoffClient(options: {
  serverUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
}): HandoffClient {
  const call = createApiCaller(options);
  const { base } = call;

  const id = (sessionId: string) => encodeURIComponent(sessionId);
  return {
    createSession: (input) => call('POST', '/v1/handoff', input),
    getSession: (sessionId) => call('GET', `/v1/handoff/${id(sessionId)}`),
    waitForChange: (sessionId, seconds, signal) =>
      call(
        'GET',
        `/v1/handoff/${id(sessionId)}/wait?max_wait_seconds=${seconds}`,
        undefined,
        signal,
      ),
    cancelSession: (sessionId) => call('POST', `/v1/handoff/${id(sessionId)}/cancel`),
    endSession: (sessionId, status, detail) =>
      call(
        'POST',
        `/v1/handoff/${id(sessionId)}/end`,
        detail === undefined ? { status } : { status, detail },
      ),
    connectAgent: (created, onMessage) =>
      connectRelayAgentSocket({
        url: `${base.replace(/^http/, 'ws')}/v1/handoff/${id(created.session_id)}/agent`,
        token: created.agent_token,
        onMessage,
      }),
  };
}
