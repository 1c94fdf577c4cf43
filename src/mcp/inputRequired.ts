import {
  CLIENT_CAPABILITIES_META_KEY,
  inputRequired,
  inputResponse,
  PROTOCOL_VERSION_META_KEY,
  type ClientCapabilities,
  type InputRequiredResult,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { LoopgateError } from '../core/errors.js';
import type { RequestStatePayload, RequestStateSealer } from './requestState.js';
import type { UrlElicitationOutcome } from './urlElicitation.js';

/** The key of the approval page's URL input request in `inputRequests` / `inputResponses`. */
export const approvalPageInputKey = 'approval_page';

/** The first revision with input-required results (MCP 2026-07-28, basic/patterns/mrtr). */
const firstInputRequiredRevision = '2026-07-28';

/**
 * True when this request is a 2026-07-28 one whose client declared URL-mode elicitation in the
 * request's own `_meta` envelope (`io.modelcontextprotocol/clientCapabilities`), and loopgate
 * can protect a `requestState` (it has a sealer): then an approval is asked for with an
 * input-required result instead of an approval_url in the text.
 */
export function canRequireApprovalInput(
  ctx: ServerContext,
  sealer: RequestStateSealer | undefined,
): sealer is RequestStateSealer {
  if (!sealer) return false;
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const version = envelope?.[PROTOCOL_VERSION_META_KEY];
  if (typeof version !== 'string' || version < firstInputRequiredRevision) return false;
  const capabilities = envelope?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined;
  return capabilities?.elicitation?.url !== undefined;
}

/**
 * The `InputRequiredResult` (MCP 2026-07-28) that asks the client to open the approval page (a
 * URL-mode elicitation, never a form: the human signs in on loopgate's page to decide) and to
 * retry with a sealed `requestState` naming the pause.
 */
export function requireApprovalPage(
  sealer: RequestStateSealer,
  payload: RequestStatePayload,
  url: string,
  message: string,
): InputRequiredResult {
  return inputRequired({
    inputRequests: { [approvalPageInputKey]: inputRequired.elicitUrl({ message, url }) },
    requestState: sealer.seal(payload),
  });
}

/** A verified retry of an input-required flow: its state and what the user answered. */
export interface ApprovalInputRetry {
  payload: RequestStatePayload;
  elicitation: UrlElicitationOutcome;
}

/**
 * Reads the retry of an input-required flow, if this request is one: opens its `requestState`
 * (MAC, agent, expiry, once — see {@link RequestStateSealer.open}) and checks that it continues
 * `tool` for `actionHash`. Undefined for a first call. Throws LoopgateError
 * E_MCP_REQUEST_STATE_* when the state is refused (E_MCP_REQUEST_STATE_INVALID too when this
 * server issues no states at all).
 */
export async function readApprovalInputRetry(
  ctx: ServerContext,
  sealer: RequestStateSealer | undefined,
  tool: string,
  actionHash: string,
): Promise<ApprovalInputRetry | undefined> {
  const state = ctx.mcpReq.requestState<unknown>();
  if (state === undefined) return undefined;
  if (typeof state !== 'string' || !sealer)
    throw new LoopgateError(
      'E_MCP_REQUEST_STATE_INVALID',
      'A requestState came back that this loopgate server did not issue; loopgate did nothing. Call the tool again without requestState.',
    );
  const payload = await sealer.open(state);
  if (payload.tool !== tool || payload.action_hash !== actionHash)
    throw new LoopgateError(
      'E_MCP_REQUEST_STATE_MISMATCH',
      `The requestState sent back was issued for ${payload.tool} with other arguments, not for this ${tool} call; loopgate did nothing.`,
    );
  const answer = inputResponse(ctx.mcpReq.inputResponses, approvalPageInputKey);
  return { payload, elicitation: answer.kind === 'elicit' ? answer.action : 'failed' };
}
