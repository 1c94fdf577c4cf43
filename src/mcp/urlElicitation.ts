import { randomUUID } from 'node:crypto';
import {
  UrlElicitationRequiredError,
  type McpServer,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { maxWaitSeconds } from '../core/longPoll.js';
import type { ApprovalsClient } from './approvalsClient.js';

/** What the user answered when asked to open the approval page, or `failed` (no answer). */
export type UrlElicitationOutcome = 'accept' | 'decline' | 'cancel' | 'failed';

/** Longest loopgate waits for the user to answer the elicitation, ms (tool calls time out at 60 s). */
export const urlElicitationTimeoutMs = 45_000;

/** The first revision without server-to-client requests (it uses input-required results). */
const firstStatelessRevision = '2026-07-28';

/**
 * True when the client declared URL-mode elicitation (client capability `elicitation.url`, MCP
 * 2025-11-25 §Client Features/Elicitation) on a connection that can carry a server-to-client
 * request (a 2025-era one: stdio, or a streamable-HTTP session).
 */
export function canElicitUrl(server: McpServer): boolean {
  const version = server.server.getNegotiatedProtocolVersion();
  if (version === undefined || version >= firstStatelessRevision) return false;
  return server.server.getClientCapabilities()?.elicitation?.url !== undefined;
}

/**
 * Asks the client to open `approval_url` (`elicitation/create`, mode `url`, with a fresh
 * `elicitationId`) and, once the user accepted, sends `notifications/elicitation/complete` for
 * that id when the request leaves `pending` (a human decided, it timed out or was cancelled).
 * The URL grants nothing by itself: the human still signs in on loopgate's page to decide. Never
 * a form: a decision or a second factor typed into the agent's own client would not be a
 * signed-in human's. Returns undefined for a client that did not declare URL elicitation (it
 * gets the approval_url in the tool result, as every client does). The watch ends with the
 * connection.
 */
export async function elicitApprovalUrl(
  server: McpServer,
  ctx: ServerContext,
  approvals: ApprovalsClient,
  view: { pause_id: string; approval_url: string },
  message: string,
): Promise<UrlElicitationOutcome | undefined> {
  if (!canElicitUrl(server)) return undefined;
  const elicitationId = randomUUID();
  let outcome: UrlElicitationOutcome;
  try {
    const answer = await ctx.mcpReq.elicitInput(
      { mode: 'url', message, url: view.approval_url, elicitationId },
      { timeout: urlElicitationTimeoutMs },
    );
    outcome = answer.action;
  } catch {
    return 'failed';
  }
  if (outcome === 'accept') void notifyWhenDecided(server, approvals, view.pause_id, elicitationId);
  return outcome;
}

/**
 * How a gated call in `loopgate proxy` sends a client that declared URL elicitation to the
 * approval page (MCP 2025-11-25 §Client Features/Elicitation, URL mode):
 * - `request`: loopgate asks during the call (`elicitation/create`), then answers the call
 *   with the "approval required" tool result the model acts on (wait_for_approval, call again);
 * - `error`: loopgate answers the call at once with JSON-RPC error -32042
 *   (URLElicitationRequiredError) listing the approval page; the client shows the link itself
 *   and retries the call after `notifications/elicitation/complete`. For hosts that handle
 *   -32042 themselves, or that cannot answer a server's request in the middle of a call.
 */
export type GatedCallElicitation = 'request' | 'error';

/**
 * Answers a held-back call with the URL-elicitation-required error (-32042, MCP 2025-11-25
 * §Client Features/Elicitation, "URL Elicitation Required Error"): its `data.elicitations`
 * lists the approval page (`mode: "url"`, `url`, `message`, `elicitationId`); once the request
 * leaves `pending`, `notifications/elicitation/complete` says so and the client may retry the
 * call. `elicitationIds` keeps one id per request for this connection, so a retry while the
 * human has not decided yet repeats the same id (and watches once). Only for a client that
 * declared URL elicitation on a 2025-era connection ({@link canElicitUrl}); the URL grants
 * nothing by itself.
 * @throws UrlElicitationRequiredError always
 */
export function throwApprovalUrlRequired(
  server: McpServer,
  approvals: ApprovalsClient,
  view: { pause_id: string; approval_url: string },
  message: string,
  elicitationIds: Map<string, string>,
): never {
  let elicitationId = elicitationIds.get(view.pause_id);
  if (elicitationId === undefined) {
    elicitationId = randomUUID();
    elicitationIds.set(view.pause_id, elicitationId);
    void notifyWhenDecided(server, approvals, view.pause_id, elicitationId).finally(() =>
      elicitationIds.delete(view.pause_id),
    );
  }
  throw new UrlElicitationRequiredError(
    [{ mode: 'url', message, url: view.approval_url, elicitationId }],
    message,
  );
}

async function notifyWhenDecided(
  server: McpServer,
  approvals: ApprovalsClient,
  pauseId: string,
  elicitationId: string,
): Promise<void> {
  const closed = new AbortController();
  const previousOnClose = server.server.onclose;
  server.server.onclose = () => {
    closed.abort();
    previousOnClose?.();
  };
  try {
    let view = await approvals.waitForApproval(pauseId, maxWaitSeconds, closed.signal);
    while (view.status === 'pending' && !closed.signal.aborted)
      view = await approvals.waitForApproval(pauseId, maxWaitSeconds, closed.signal);
    if (!closed.signal.aborted)
      await server.server.createElicitationCompletionNotifier(elicitationId)();
  } catch {
    // The connection went away or the approvals server failed: the client keeps the approval_url.
  }
}
