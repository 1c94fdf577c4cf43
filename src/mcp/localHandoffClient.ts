import type { RelayHub } from '../handoff/relayHub.js';
import type { HandoffClient } from './handoffClient.js';

/**
 * A {@link HandoffClient} that calls the relay in the same process (`loopgate mcp` with the
 * embedded server), acting as agent `agentId`; the agent side joins sessions without a socket.
 */
export function createLocalHandoffClient(options: {
  relay: RelayHub;
  agentId: string;
}): HandoffClient {
  const { relay, agentId } = options;
  return {
    createSession: (input) => relay.openSession(agentId, input),
    getSession: async (sessionId) => relay.getSession(sessionId, agentId),
    waitForChange: (sessionId, seconds, signal) =>
      relay.waitForChange(sessionId, agentId, {
        maxWaitMs: seconds * 1_000,
        ...(signal ? { signal } : {}),
      }),
    cancelSession: async (sessionId) => relay.cancel(sessionId, agentId),
    endSession: async (sessionId, status, detail) => relay.end(sessionId, agentId, status, detail),
    connectAgent: (created, onMessage) =>
      relay.attachAgent(created.session_id, agentId, (data) => onMessage(data)),
  };
}
