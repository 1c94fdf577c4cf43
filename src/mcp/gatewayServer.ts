import type { Client } from '@modelcontextprotocol/client';
import {
  fromJsonSchema,
  UrlElicitationRequiredError,
  type CallToolResult,
  type InputRequiredResult,
  type McpServer,
  type RegisteredTool,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { isSameGate, type GateSpec } from '../core/approval.js';
import { computeActionHash } from '../core/actionHash.js';
import { describeArgumentChanges, type EditConstraints } from '../core/approvalEdit.js';
import { defaultWaitSeconds } from '../core/longPoll.js';
import type { ApprovalView } from '../core/approvalView.js';
import { isLoopgateError, LoopgateError } from '../core/errors.js';
import type { GrantOffer } from '../core/grant.js';
import { createId } from '../core/ids.js';
import { verifyReceipt } from '../crypto/receipt.js';
import { checkJsonLimits } from '../core/jsonLimits.js';
import {
  describeGate,
  describeToolGates,
  evaluatePolicy,
  formatRuleLocation,
  listToolGates,
  type CallContext,
  type GateDecision,
  type Policy,
  type PolicyAgent,
} from '../gates/index.js';
import type { ApprovalsClient } from './approvalsClient.js';
import { logToClient } from './clientLog.js';
import { createMcpServer, describeOutcome } from './createMcpServer.js';
import type { GatewayBackend, GrantUse } from './gatewayBackend.js';
import { toolError } from './toolResult.js';
import {
  canRequireApprovalInput,
  readApprovalInputRetry,
  requireApprovalPage,
} from './inputRequired.js';
import {
  canElicitUrl,
  elicitApprovalUrl,
  throwApprovalUrlRequired,
  type GatedCallElicitation,
  type UrlElicitationOutcome,
} from './urlElicitation.js';

/** A downstream tool as `tools/list` describes it. */
export interface DownstreamTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: {
    type: 'object';
    properties?: Record<string, unknown>;
    required?: string[];
    [key: string]: unknown;
  };
  annotations?: Record<string, unknown>;
  outputSchema?: { type: 'object'; [key: string]: unknown };
}

/**
 * The wrapped server's current tools, which can change: `loopgate proxy` follows the wrapped
 * server's `notifications/tools/list_changed` (connectDownstream's `onToolsChanged`) and
 * {@link DownstreamToolList.replace}s the list; every gateway server built over it re-applies
 * the policy and tells its own client (`notifications/tools/list_changed`).
 */
export class DownstreamToolList {
  #tools: readonly DownstreamTool[];
  readonly #listeners = new Set<(tools: readonly DownstreamTool[]) => void>();

  constructor(tools: readonly DownstreamTool[] = []) {
    this.#tools = tools;
  }

  /** The tools as last listed. */
  get current(): readonly DownstreamTool[] {
    return this.#tools;
  }

  /** Sets the list and tells every subscriber. */
  replace(tools: readonly DownstreamTool[]): void {
    this.#tools = tools;
    for (const listener of this.#listeners) listener(tools);
  }

  /** Calls `listener` on every change; returns the unsubscribe function. */
  subscribe(listener: (tools: readonly DownstreamTool[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** Reads every tool of the downstream server (following `nextCursor`). */
export async function listDownstreamTools(downstream: Client): Promise<DownstreamTool[]> {
  const tools: DownstreamTool[] = [];
  let cursor: string | undefined;
  do {
    const page = await downstream.listTools(cursor ? { cursor } : {});
    tools.push(...(page.tools as DownstreamTool[]));
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

/** The name of the argument that carries a TOTP code for `otp_argument` tools. */
export const otpArgumentName = 'otp';

function toGateSpec(decision: GateDecision): GateSpec {
  if (decision.gate === 'quorum' && decision.quorum) {
    return {
      type: 'quorum',
      quorum: {
        n: decision.quorum.n,
        approvers: decision.quorum.approvers,
        stepUp: decision.quorum.stepUp,
      },
    };
  }
  if (decision.gate === 'totp' || decision.gate === 'webauthn') return { type: decision.gate };
  return { type: 'approve' };
}

/** The `_meta` key of a result forwarded under a standing grant: `{grant_id, reach, uses, max_uses, not_after}`. */
export const grantMetaKey = 'loopgate/grant';

/** The grant offer of the rule that decided, for a `session` grant bound to `sessionId`. */
function toGrantOffer(decision: GateDecision, sessionId: string): GrantOffer | null {
  const grants = decision.rule?.grants;
  if (!grants) return null;
  return {
    reaches: grants.reaches,
    maxMinutes: grants.maxMinutes,
    maxUses: grants.maxUses,
    sessionId: grants.reaches.includes('session') ? sessionId : null,
  };
}

/**
 * The `_meta` key of a result a human edited before approving:
 * `{pause_id, original_action_hash, action_hash, changes: [{path, from, to}]}`.
 */
export const editedMetaKey = 'loopgate/edited';

/** How many held-back calls a gateway remembers, to tell the agent how their approval ended. */
const maxRememberedApprovals = 500;

/**
 * The MCP gateway (`loopgate proxy`): the downstream server's tools, each held back by the
 * policy until a human approved *that call with those arguments*, plus loopgate's approval
 * tools. Ungated calls are forwarded at once, untouched. A gated call creates (or finds) the
 * approval for its action hash and is refused with what to do next; the identical call is
 * forwarded once after approval, consuming the decision. `deny` never forwards. Any error
 * from the approvals server refuses the call (fails closed). A call held back again after its
 * approval was rejected, timed out or cancelled is refused once with how it ended (a
 * rejection with the human's reason, revealed and quoted), and asks anew on the next call.
 *
 * A rule with `grants:` lets the human approving a call choose a standing grant instead; a call
 * a live grant allows (checked before asking) is forwarded at once, counted against the grant's
 * `max_uses` and audited with its id, and its result's `_meta["loopgate/grant"]` names the grant.
 * Each gateway server is one session (for `session` grants), with an id of its own.
 *
 * A client that declared URL elicitation (2025-11-25) is sent to the approval page: by
 * `elicitation/create` during the call (`urlElicitation: "request"`), or by answering the call
 * with JSON-RPC error -32042 (`"error"`), after which the client retries the identical call; a
 * 2026-07-28 client gets an input-required result instead.
 *
 * Rules match the tool's own `readOnlyHint` annotation and `agent` (who the gateway acts for).
 * A rule in shadow mode forwards the call at once and records `gateway.shadow` (what its gate
 * would have asked); a record that cannot be written does not hold the call back.
 */
export function createGatewayServer(deps: {
  downstream: Client;
  tools: DownstreamToolList;
  policy: Policy;
  /** The agent the gateway acts for, for rules with `agent:`; none: such rules never match. */
  agent?: PolicyAgent | null;
  backend: GatewayBackend;
  approvals: ApprovalsClient;
  /**
   * How a held call sends a client that declared URL elicitation (2025-11-25) to the approval
   * page: `request` (default, `elicitation/create` during the call) or `error` (JSON-RPC error
   * -32042 at once; the client retries after `notifications/elicitation/complete`).
   */
  urlElicitation?: GatedCallElicitation;
  onError?: (error: unknown) => void;
}): McpServer {
  const server = createMcpServer(deps.approvals, { toolsListChanged: true });
  const ownTools = new Set([
    'request_approval',
    'check_approval',
    'wait_for_approval',
    'cancel_approval',
    'verify_receipt',
  ]);
  const wrapped = new Map<string, RegisteredTool>();
  // The wrapped tools whose own server declared an outputSchema (see refuse()).
  const withOutputSchema = new Set<string>();
  const sessionId = createId('ses');

  const contexts = new Map<string, CallContext>();
  // tool name → the wrapped tool's own input schema, sent so a human's edit can be checked.
  const inputSchemas = new Map<string, Record<string, unknown>>();
  // action hash → the pause_id this gateway last asked for, to report how it ended.
  const asked = new Map<string, string>();
  // pause_id → the elicitationId a -32042 answer named, until the request is decided.
  const elicitationIds = new Map<string, string>();

  function wrapTool(tool: DownstreamTool): void {
    const context: CallContext = {
      agent: deps.agent ?? null,
      readOnly: tool.annotations?.['readOnlyHint'] === true,
    };
    contexts.set(tool.name, context);
    if (tool.outputSchema) withOutputSchema.add(tool.name);
    else withOutputSchema.delete(tool.name);
    inputSchemas.set(tool.name, tool.inputSchema);
    const gates = listToolGates(deps.policy, tool.name, context).filter(
      (d) => d.mode === 'enforce',
    );
    const takesOtp = gates.some((d) => d.gate === 'otp_argument');
    const schema = structuredClone(tool.inputSchema);
    if (takesOtp) {
      schema.properties = {
        ...schema.properties,
        [otpArgumentName]: {
          type: 'string',
          description:
            'The 6-digit code from the operator’s authenticator app, which a human must give you.',
        },
      };
      if (gates.length > 0 && gates.every((d) => d.gate === 'otp_argument'))
        schema.required = [...new Set([...(schema.required ?? []), otpArgumentName])];
    }
    const gateNote = describeToolGates(deps.policy, tool.name, context);
    const registered = server.registerTool(
      tool.name,
      {
        ...(tool.title ? { title: tool.title } : {}),
        description: `${tool.description ?? ''}${tool.description ? '\n\n' : ''}[loopgate] ${gateNote}`,
        inputSchema: fromJsonSchema<Record<string, unknown>>(schema as never),
        // The wrapped server's own schema describes its results; loopgate's refusals are isError
        // and, for such a tool, carry no structuredContent (refuse()).
        ...(tool.outputSchema
          ? { outputSchema: fromJsonSchema<Record<string, unknown>>(tool.outputSchema as never) }
          : {}),
        ...(tool.annotations ? { annotations: tool.annotations } : {}),
      },
      (args: Record<string, unknown>, ctx: ServerContext) => handleCall(tool.name, args ?? {}, ctx),
    );
    wrapped.set(tool.name, registered);
  }

  /** Re-applies the policy to a new downstream list; the SDK tells the client the list changed. */
  function rewrapTools(tools: readonly DownstreamTool[]): void {
    for (const registered of wrapped.values()) registered.remove();
    wrapped.clear();
    withOutputSchema.clear();
    for (const tool of tools) if (!ownTools.has(tool.name)) wrapTool(tool);
  }

  for (const tool of deps.tools.current) if (!ownTools.has(tool.name)) wrapTool(tool);
  const unsubscribe = deps.tools.subscribe((tools) => {
    try {
      rewrapTools(tools);
    } catch (err) {
      deps.onError?.(err);
    }
  });
  const previousOnClose = server.server.onclose;
  server.server.onclose = () => {
    unsubscribe();
    previousOnClose?.();
  };

  async function forward(
    name: string,
    args: Record<string, unknown>,
    ctx: ServerContext,
  ): Promise<CallToolResult> {
    try {
      return (await deps.downstream.callTool(
        { name, arguments: args },
        { signal: ctx.mcpReq.signal },
      )) as CallToolResult;
    } catch (err) {
      deps.onError?.(err);
      await logToClient(ctx, 'error', 'the wrapped server failed', {
        tool: name,
        reason: (err as Error).message,
      });
      return toolError(
        `E_GATEWAY_DOWNSTREAM: the server behind loopgate failed on ${name}: ${(err as Error).message}`,
      );
    }
  }

  /**
   * The consumed approval must be for this call and made under the policy's gate, as the
   * server's signed receipt says — whatever the backend: an approval a key holder made with
   * one click is never forwarded where the policy asks for a code or a quorum.
   */
  async function assertApprovedUnder(
    view: ApprovalView,
    call: { tool: string; arguments: Record<string, unknown> },
    gate: GateSpec,
    /** For an edited approval: the action hash of the call as the agent asked it. */
    originalActionHash?: string,
  ): Promise<void> {
    const verified = view.receipt
      ? await verifyReceipt(view.receipt, await deps.approvals.getJwks())
      : null;
    const signed = verified?.ok ? verified.value.payload : null;
    const signedGate = signed?.gate;
    if (
      !signed ||
      signed.pause_id !== view.pause_id ||
      signed.decision !== 'approved' ||
      signed.action_hash !== computeActionHash(call) ||
      !signedGate ||
      !isSameGate(signedGate, gate) ||
      signed.original_action_hash !== originalActionHash
    ) {
      throw new LoopgateError(
        'E_GATEWAY_GATE_MISMATCH',
        `Approval ${view.pause_id} was made under gate "${signedGate?.type ?? 'unknown'}" but the policy asks for "${gate.type}" on ${call.tool}; loopgate did not forward the call. Call ${call.tool} again to ask for the approval the policy needs.`,
      );
    }
  }

  /**
   * A refusal of loopgate's own (isError) with what it knows as JSON, in the text and as
   * `structuredContent`. A wrapped tool's `outputSchema` is its own server's and describes that
   * server's results, not loopgate's refusals, so for such a tool the JSON stays in the text
   * only: a client that validates every `structuredContent` against the declared schema, error
   * results included, then accepts every answer (MCP 2025-11-25 §Tools, "Output Schema").
   */
  function refuse(name: string, text: string, structured: Record<string, unknown>): CallToolResult {
    const result = toolError(text, structured);
    if (!withOutputSchema.has(name)) return result;
    delete result.structuredContent;
    return result;
  }

  /** The refusal of a call held for a human's approval, with what to do next. */
  function heldBack(
    name: string,
    decision: GateDecision,
    view: ApprovalView,
    elicitation: UrlElicitationOutcome | undefined,
  ): CallToolResult {
    const next = `Call wait_for_approval with pause_id "${view.pause_id}". When it returns decision "approved", call ${name} again with exactly the same arguments; it will run once. Changed arguments need a new approval.`;
    return refuse(
      name,
      `APPROVAL REQUIRED: ${describeGate(decision)} A human can decide at ${view.approval_url}. ${next}`,
      {
        status: 'approval_required',
        pause_id: view.pause_id,
        approval_url: view.approval_url,
        gate: view.gate,
        expires_at: view.expires_at,
        action_hash: view.action_hash,
        next_step: next,
        ...(elicitation ? { elicitation } : {}),
      },
    );
  }

  async function forwardUnderGrant(
    name: string,
    call: { tool: string; arguments: Record<string, unknown> },
    granted: GrantUse,
    ctx: ServerContext,
  ): Promise<CallToolResult> {
    // The grant's use (`grant.used`: grant id, tool, action hash) is this call's audit entry; it
    // was appended with the use, so the call costs one durable write, not two.
    await logToClient(ctx, 'info', 'call forwarded under a standing grant', {
      tool: name,
      arguments: call.arguments,
      grant_id: granted.grant_id,
    });
    const result = await forward(name, call.arguments, ctx);
    return { ...result, _meta: { ...result._meta, [grantMetaKey]: granted } };
  }

  /** What the server checks a human's edit against; none when the policy was built in code. */
  function editConstraintsFor(name: string): EditConstraints | undefined {
    const inputSchema = inputSchemas.get(name);
    if (deps.policy.text === undefined || !inputSchema) return undefined;
    return {
      inputSchema,
      policyText: deps.policy.text,
      policySource: deps.policy.source,
      agent: deps.agent ?? null,
      readOnly: contexts.get(name)?.readOnly ?? false,
    };
  }

  /**
   * Forwards the edited call a human approved in place of `call` (the agent's), once: the
   * approval must say it was edited from exactly `call`, the policy applied to the edited
   * arguments must still ask for `gate` (or nothing), and its signed receipt must bind the
   * edited call, `call`'s hash as the original, and `gate`. Null when it cannot be used (already
   * used, or not an edit of this call): the caller then asks anew.
   */
  async function forwardEdited(
    name: string,
    call: { tool: string; arguments: Record<string, unknown> },
    gate: GateSpec,
    gateName: string,
    view: ApprovalView,
    ctx: ServerContext,
  ): Promise<CallToolResult | null> {
    const originalActionHash = computeActionHash(call);
    if (
      !view.edit ||
      view.tool !== name ||
      view.response?.decision !== 'approved' ||
      view.edit.original_action_hash !== originalActionHash
    )
      return null;
    const edited = { tool: name, arguments: view.action_details as Record<string, unknown> };
    const again = evaluatePolicy(deps.policy, name, edited.arguments, contexts.get(name));
    if (again.mode === 'enforce' && again.gate !== 'none') {
      const againGate =
        again.gate === 'deny' || again.gate === 'otp_argument' ? null : toGateSpec(again);
      if (!againGate || !isSameGate(againGate, gate)) {
        return toolError(
          `E_POLICY_DENIED: a human edited ${name} before approving it, and loopgate's policy does not allow the edited call under this approval (${describeGate(again)}); nothing was run. Calling ${name} again asks a human anew.`,
        );
      }
    }
    const consumed = await deps.backend.consumeToolApproval({ ...edited, gate });
    if (!consumed) return null;
    await assertApprovedUnder(consumed, edited, gate, originalActionHash);
    await deps.backend.recordForwarded({ ...edited, gate: gateName, pauseId: consumed.pause_id });
    const changes = consumed.edit?.changes ?? view.edit.changes;
    await logToClient(ctx, 'info', 'edited call forwarded', {
      tool: name,
      arguments: edited.arguments,
      pause_id: consumed.pause_id,
      changes,
    });
    const result = await forward(name, edited.arguments, ctx);
    const note = `[loopgate] A human edited this call before approving it, so ${name} ran with different arguments than you sent: ${describeArgumentChanges(changes)}. The result above is that of the edited call.`;
    return {
      ...result,
      content: [...(result.content ?? []), { type: 'text', text: note }],
      _meta: {
        ...result._meta,
        [editedMetaKey]: {
          pause_id: consumed.pause_id,
          original_action_hash: originalActionHash,
          action_hash: consumed.action_hash,
          changes,
        },
      },
    };
  }

  async function handleCall(
    name: string,
    rawArgs: Record<string, unknown>,
    ctx: ServerContext,
  ): Promise<CallToolResult | InputRequiredResult> {
    // 1e400 (Infinity once parsed) and very deep nesting cannot be hashed into an approval.
    const limited = checkJsonLimits(rawArgs);
    if (!limited.ok)
      return toolError(`${limited.code}: ${limited.message} The call was not forwarded.`);
    const { [otpArgumentName]: otp, ...argsWithoutOtp } = rawArgs;
    const decision = evaluatePolicy(deps.policy, name, argsWithoutOtp, contexts.get(name));
    if (decision.gate !== 'none' && decision.mode === 'shadow') {
      await deps.backend
        .recordShadow({
          tool: name,
          arguments: argsWithoutOtp,
          gate: decision.gate,
          rule: formatRuleLocation(deps.policy, decision.rule, decision.ruleIndex),
          ...(decision.reason ? { reason: decision.reason } : {}),
        })
        .catch((err: unknown) => deps.onError?.(err));
    }
    if (decision.gate === 'none' || decision.mode === 'shadow') {
      await logToClient(ctx, 'debug', 'call forwarded', { tool: name, arguments: rawArgs });
      return forward(name, rawArgs, ctx);
    }
    if (decision.gate === 'deny') {
      await logToClient(ctx, 'warning', 'call denied by policy', { tool: name });
      return toolError(
        `E_POLICY_DENIED: ${decision.reason ?? describeGate(decision)} loopgate never forwards this call; do not retry it.`,
      );
    }
    const call = { tool: name, arguments: argsWithoutOtp };
    try {
      if (decision.gate === 'otp_argument') {
        if (typeof otp !== 'string' || otp === '') {
          return toolError(
            `E_STEP_UP_REQUIRED: ${name} needs an "${otpArgumentName}" argument: ask the human for the 6-digit code from their authenticator app, then call ${name} again with it.`,
          );
        }
        await deps.backend.verifyOtpArgument(call, otp);
        await deps.backend.recordForwarded({ ...call, gate: decision.gate, pauseId: null });
        return forward(name, argsWithoutOtp, ctx);
      }
      const gate = toGateSpec(decision);
      const offer = toGrantOffer(decision, sessionId);
      if (offer) {
        const granted = await deps.backend.useToolGrant({
          ...call,
          gate,
          reaches: offer.reaches,
          sessionId,
        });
        if (granted) return forwardUnderGrant(name, call, granted, ctx);
      }
      const actionHash = computeActionHash(call);
      // A 2026-07-28 retry after the approval page was opened: wait on that same request.
      const retry = await readApprovalInputRetry(
        ctx,
        deps.approvals.requestState,
        name,
        actionHash,
      );
      if (retry) {
        let view = await deps.approvals.getApproval(retry.payload.pause_id);
        if (view.status === 'pending' && retry.elicitation === 'accept')
          view = await deps.approvals.waitForApproval(
            view.pause_id,
            defaultWaitSeconds,
            ctx.mcpReq.signal,
          );
        if (view.status === 'pending') return heldBack(name, decision, view, retry.elicitation);
        if (view.response?.decision !== 'approved')
          return refuse(
            name,
            `NOT RUN: ${name} was held back and its approval ended. ${describeOutcome(view).text} Calling ${name} again asks a human anew.`,
            view as unknown as Record<string, unknown>,
          );
        if (view.edit) {
          const ran = await forwardEdited(name, call, gate, decision.gate, view, ctx);
          if (ran) return ran;
        }
      }
      const consumed = await deps.backend.consumeToolApproval({ ...call, gate });
      if (consumed) {
        await assertApprovedUnder(consumed, call, gate);
        await deps.backend.recordForwarded({
          ...call,
          gate: decision.gate,
          pauseId: consumed.pause_id,
        });
        await logToClient(ctx, 'info', 'approved call forwarded', {
          tool: name,
          arguments: argsWithoutOtp,
          pause_id: consumed.pause_id,
          gate: decision.gate,
        });
        return forward(name, argsWithoutOtp, ctx);
      }
      const earlier = asked.get(actionHash);
      if (earlier !== undefined) {
        asked.delete(actionHash);
        const ended = await deps.approvals.getApproval(earlier);
        // A human approved this call with edited arguments: the edited call runs, once.
        if (ended.edit) {
          const ran = await forwardEdited(name, call, gate, decision.gate, ended, ctx);
          if (ran) return ran;
        }
        if (ended.status !== 'pending' && ended.response?.decision !== 'approved') {
          return refuse(
            name,
            `NOT RUN: ${name} was held back and its approval ended. ${describeOutcome(ended).text} Calling ${name} again asks a human anew.`,
            ended as unknown as Record<string, unknown>,
          );
        }
      }
      const view = await deps.backend.requestToolApproval({
        ...call,
        gate,
        timeoutMinutes: decision.timeoutMinutes,
        ...(offer ? { grantOffer: offer } : {}),
        ...(editConstraintsFor(name) ? { editConstraints: editConstraintsFor(name)! } : {}),
      });
      asked.delete(actionHash);
      asked.set(actionHash, view.pause_id);
      if (asked.size > maxRememberedApprovals) asked.delete(asked.keys().next().value!);
      await logToClient(ctx, 'notice', 'call held for a human’s approval', {
        tool: name,
        arguments: argsWithoutOtp,
        pause_id: view.pause_id,
        approval_url: view.approval_url,
        gate: decision.gate,
      });
      const message = `loopgate holds ${name} until a human approves this exact call. Open loopgate's page, sign in and decide.`;
      // A 2026-07-28 client retries this same call once the page was opened, and it runs then.
      if (canRequireApprovalInput(ctx, deps.approvals.requestState))
        return requireApprovalPage(
          deps.approvals.requestState,
          { tool: name, pause_id: view.pause_id, action_hash: actionHash },
          view.approval_url,
          message,
        );
      if (deps.urlElicitation === 'error' && canElicitUrl(server))
        throwApprovalUrlRequired(server, deps.approvals, view, message, elicitationIds);
      const elicitation = await elicitApprovalUrl(server, ctx, deps.approvals, view, message);
      return heldBack(name, decision, view, elicitation);
    } catch (err) {
      // -32042 is the answer itself: the SDK sends it as the JSON-RPC error.
      if (err instanceof UrlElicitationRequiredError) throw err;
      deps.onError?.(err);
      if (isLoopgateError(err)) {
        const closed =
          err.code === 'E_REMOTE_UNREACHABLE'
            ? ' loopgate refuses gated calls while the approvals server is unreachable.'
            : '';
        return toolError(`${err.code}: ${err.message}${closed}`);
      }
      return toolError(
        `E_GATEWAY_APPROVALS: the call was refused because its approval could not be checked (${(err as Error).message}).`,
      );
    }
  }

  return server;
}
