import { computeActionHash } from '../core/actionHash.js';
import type { GateSpec } from '../core/approval.js';
import type { EditConstraints } from '../core/approvalEdit.js';
import type { ApprovalView } from '../core/approvalView.js';
import { toGrantUse, type GrantOffer, type GrantReach, type GrantUse } from '../core/grant.js';
import { buildShadowAuditData, shadowAuditType, type ShadowCall } from '../core/shadowAudit.js';
import type { PolicyAgent } from '../gates/policy.js';
import type { ApprovalService } from '../service/approvalService.js';
import type { GrantService } from '../service/grantService.js';
import { findOtpOperator, type TotpStepUp } from '../service/stepUp.js';
import type { Store } from '../store/store.js';
import { createApiCaller } from './createApiCaller.js';

export type { GrantUse } from '../core/grant.js';

/** One tool call as the gateway saw it. */
export interface GatedCall {
  tool: string;
  arguments: Record<string, unknown>;
}

/**
 * What the gateway needs from an approvals server: in-process (`createLocalGatewayBackend`) or
 * over HTTP with a gateway key (`createRemoteGatewayBackend`, routes in http/gatewayRoutes.ts).
 * Every method throws LoopgateError; the gateway refuses the call on any error (fails closed).
 */
export interface GatewayBackend {
  /** The pending approval for exactly this call under exactly this gate, or a new one. */
  requestToolApproval(
    call: GatedCall & {
      gate: GateSpec;
      timeoutMinutes: number;
      description?: string;
      /** What the policy rule lets the human turn the approval into (recorded by the server). */
      grantOffer?: GrantOffer;
      /** What a human's edit of the arguments is checked against (recorded by the server). */
      editConstraints?: EditConstraints;
    },
  ): Promise<ApprovalView>;
  /**
   * Forwards-under-grant check: uses a live standing grant of this agent that allows exactly
   * this call under exactly `gate`, with a reach in `reaches` (what the rule offers now), for
   * session `sessionId`; counts the use and audits it with the grant id. Null when none does.
   */
  useToolGrant(
    call: GatedCall & { gate: GateSpec; reaches: GrantReach[]; sessionId: string },
  ): Promise<GrantUse | null>;
  /**
   * Uses an approved decision for exactly this call, made under exactly `gate` (the policy's),
   * once; null when there is none to use.
   */
  consumeToolApproval(call: GatedCall & { gate: GateSpec }): Promise<ApprovalView | null>;
  /**
   * Checks a TOTP code passed as a tool argument (the mcp-hitl pattern) against the configured
   * operator's authenticator: once-only, throttled per gateway, never the operator.
   */
  verifyOtpArgument(call: GatedCall, code: string): Promise<void>;
  /**
   * Appends `gateway.forwarded` to the audit log. A call under a grant has none: its
   * `grant.used` entry (from {@link useToolGrant}) records it.
   */
  recordForwarded(call: GatedCall & { gate: string; pauseId: string | null }): Promise<void>;
  /**
   * Appends `gateway.shadow` to the audit log: a call a rule in shadow mode let through that
   * its gate would have held back. `rule` says where the rule is (`policy.yaml:7 (rule 2)` or
   * `default`); `reason` is a deny's reason. The entry holds the call's action hash, never its
   * arguments.
   */
  recordShadow(call: ShadowCall): Promise<void>;
  /** Who the gateway acts for: the agent id of its requests and its key's id (null in-process). */
  identifyAgent(): Promise<PolicyAgent>;
}

/**
 * The gateway's backend inside the server process, acting as agent `agentId`; `otp` argument
 * failures are throttled as `agent:<agentId>`.
 */
export function createLocalGatewayBackend(deps: {
  service: ApprovalService;
  store: Store;
  totp: TotpStepUp;
  agentId: string;
  /** Whose authenticator `otp` arguments are checked against; default the first admin. */
  otpOperator?: string;
  /** Standing grants; without it no call is forwarded under a grant and no offer is recorded. */
  grants?: GrantService;
}): GatewayBackend {
  const { service, store, agentId, grants } = deps;
  return {
    async requestToolApproval(call) {
      const record = await service.requestToolApproval(agentId, {
        tool: call.tool,
        arguments: call.arguments,
        gate: call.gate,
        timeoutMs: call.timeoutMinutes * 60_000,
        ...(call.description ? { description: call.description } : {}),
        ...(call.editConstraints ? { editConstraints: call.editConstraints } : {}),
      });
      if (call.grantOffer && grants) await grants.recordOffer(record.id, call.grantOffer);
      return service.view(record);
    },
    async useToolGrant(call) {
      if (!grants) return null;
      const grant = await grants.useForCall(agentId, call);
      return grant ? toGrantUse(grant) : null;
    },
    async consumeToolApproval(call) {
      const record = await service.consumeApproval(
        agentId,
        computeActionHash({ tool: call.tool, arguments: call.arguments }),
        call.gate,
      );
      return record ? service.view(record) : null;
    },
    async verifyOtpArgument(call, code) {
      const operator = await findOtpOperator(store, deps.otpOperator);
      await deps.totp.verifyOtpArgument(operator, code, `agent:${agentId}`, call.tool);
    },
    async recordForwarded(call) {
      await store.appendAudit(
        {
          type: 'gateway.forwarded',
          requestId: call.pauseId,
          actor: `agent:${agentId}`,
          data: {
            tool: call.tool,
            gate: call.gate,
          },
        },
        Date.now(),
      );
    },
    async recordShadow(call) {
      await store.appendAudit(
        {
          type: shadowAuditType,
          requestId: null,
          actor: `agent:${agentId}`,
          data: buildShadowAuditData(call, agentId),
        },
        Date.now(),
      );
    },
    identifyAgent: () => Promise.resolve({ name: agentId, keyId: null }),
  };
}

/**
 * The gateway's backend over HTTP (`/v1/gateway/*`) with a gateway key (scope `gateway`).
 * `otpOperator` names whose authenticator `otp` arguments are checked against (default: the
 * server's first admin).
 */
export function createRemoteGatewayBackend(options: {
  serverUrl: string;
  apiKey: string;
  otpOperator?: string;
  fetch?: typeof fetch;
}): GatewayBackend {
  const call = createApiCaller(options);
  const post = <T>(path: string, body: unknown) => call<T>('POST', path, body);
  return {
    requestToolApproval: (call) =>
      post('/v1/gateway/approvals', {
        tool: call.tool,
        arguments: call.arguments,
        gate: call.gate,
        timeout_minutes: call.timeoutMinutes,
        ...(call.description ? { description: call.description } : {}),
        ...(call.grantOffer
          ? {
              grant_offer: {
                reaches: call.grantOffer.reaches,
                max_minutes: call.grantOffer.maxMinutes,
                max_uses: call.grantOffer.maxUses,
                session_id: call.grantOffer.sessionId,
              },
            }
          : {}),
        ...(call.editConstraints
          ? {
              edit: {
                input_schema: call.editConstraints.inputSchema,
                policy_text: call.editConstraints.policyText,
                policy_source: call.editConstraints.policySource,
                agent: call.editConstraints.agent
                  ? {
                      name: call.editConstraints.agent.name,
                      key_id: call.editConstraints.agent.keyId,
                    }
                  : null,
                read_only: call.editConstraints.readOnly,
              },
            }
          : {}),
      }),
    async useToolGrant(call) {
      return (
        await post<{ grant: GrantUse | null }>('/v1/gateway/grants/use', {
          tool: call.tool,
          arguments: call.arguments,
          gate: call.gate,
          reaches: call.reaches,
          session_id: call.sessionId,
        })
      ).grant;
    },
    async consumeToolApproval(call) {
      return (
        await post<{ consumed: ApprovalView | null }>('/v1/gateway/consume', {
          tool: call.tool,
          arguments: call.arguments,
          gate: call.gate,
        })
      ).consumed;
    },
    async verifyOtpArgument(call, code) {
      await post('/v1/gateway/otp', {
        tool: call.tool,
        code,
        ...(options.otpOperator ? { operator: options.otpOperator } : {}),
      });
    },
    async recordForwarded(call) {
      await post('/v1/gateway/forwarded', {
        tool: call.tool,
        gate: call.gate,
        pause_id: call.pauseId,
      });
    },
    async recordShadow(call) {
      await post('/v1/gateway/shadow', {
        tool: call.tool,
        arguments: call.arguments,
        gate: call.gate,
        rule: call.rule,
        ...(call.reason ? { reason: call.reason } : {}),
      });
    },
    async identifyAgent() {
      const agent = await call<{ agent_id: string; key_id: string }>('GET', '/v1/gateway/agent');
      return { name: agent.agent_id, keyId: agent.key_id };
    },
  };
}
