import { Hono } from 'hono';
import { z } from 'zod';
import { computeActionHash } from '../core/actionHash.js';
import { editLimits } from '../core/approvalEdit.js';
import { buildShadowAuditData, shadowAuditType } from '../core/shadowAudit.js';
import { grantReaches, toGrantUse } from '../core/grant.js';
import { maxGrantMinutes } from '../gates/policy.js';
import type { ApprovalService } from '../service/approvalService.js';
import type { GrantService } from '../service/grantService.js';
import { findOtpOperator, type TotpStepUp } from '../service/stepUp.js';
import type { Store } from '../store/store.js';
import type { AppEnv } from './appEnv.js';
import { requireGatewayKey } from './authenticate.js';
import { readJsonBody } from './readJsonBody.js';

const gateSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('approve') }),
  z.object({ type: z.literal('totp') }),
  z.object({ type: z.literal('webauthn') }),
  z.object({
    type: z.literal('quorum'),
    quorum: z.object({
      n: z.number().int().min(1).max(20),
      approvers: z.array(z.string().min(1)).min(1).max(50),
      stepUp: z.enum(['none', 'totp', 'webauthn']),
    }),
  }),
]);
const reachesSchema = z.array(z.enum(grantReaches)).min(1).max(grantReaches.length);
const grantOfferSchema = z.object({
  reaches: reachesSchema,
  max_minutes: z.number().int().min(0).max(maxGrantMinutes),
  max_uses: z.number().int().min(1).nullable(),
  session_id: z.string().min(1).max(100).nullable(),
});
/** What a human's edit is checked against: the wrapped tool's input schema and the policy. */
const editSchema = z.object({
  input_schema: z
    .record(z.string(), z.unknown())
    .refine((schema) => JSON.stringify(schema).length <= editLimits.maxSchemaBytes, {
      message: `input_schema is at most ${editLimits.maxSchemaBytes} bytes of JSON`,
    }),
  policy_text: z.string().max(editLimits.maxPolicyChars),
  policy_source: z.string().min(1).max(300),
  agent: z.object({ name: z.string().max(200), key_id: z.string().max(200).nullable() }).nullable(),
  read_only: z.boolean(),
});
const callSchema = z.object({
  tool: z.string().min(1).max(200),
  arguments: z.record(z.string(), z.unknown()),
});

/**
 * `/v1/gateway/*`: what a remote `loopgate proxy` asks of the server with its gateway key
 * (scope `gateway`; ordinary agent keys and operators get 403) — an approval for one exact tool
 * call under the gate its policy names, the single use of an approval made under that same
 * gate, an `otp` argument check (throttled per key, never the operator), the audit entries
 * for a forwarded call and for a call a shadow-mode rule let through (`gateway.shadow`), and
 * who the key acts for (`GET /gateway/agent`, for rules with `agent:`); with grants, the
 * approval request carries the rule's grant offer and `POST /gateway/grants/use` forwards a call
 * under a live standing grant of the key's agent (one use counted). The action hash and the
 * agent are always taken from here, never from the proxy's word.
 */
export function createGatewayRoutes(deps: {
  service: ApprovalService;
  store: Store;
  totp: TotpStepUp;
  /** Standing grants; without it no grant serves a call and no offer is recorded. */
  grants?: GrantService;
  now?: () => number;
}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;

  app.post('/gateway/approvals', async (c) => {
    const agent = requireGatewayKey(c);
    const body = await readJsonBody(
      c,
      callSchema.extend({
        gate: gateSchema,
        timeout_minutes: z.number().int().min(1).max(10_080),
        description: z.string().max(500).optional(),
        grant_offer: grantOfferSchema.optional(),
        edit: editSchema.optional(),
      }),
      'E_APPROVAL_INPUT_INVALID',
    );
    const record = await deps.service.requestToolApproval(agent.agentId, {
      tool: body.tool,
      arguments: body.arguments,
      gate: body.gate,
      timeoutMs: body.timeout_minutes * 60_000,
      ...(body.description ? { description: body.description } : {}),
      ...(body.edit
        ? {
            editConstraints: {
              inputSchema: body.edit.input_schema,
              policyText: body.edit.policy_text,
              policySource: body.edit.policy_source,
              agent: body.edit.agent
                ? { name: body.edit.agent.name, keyId: body.edit.agent.key_id }
                : null,
              readOnly: body.edit.read_only,
            },
          }
        : {}),
    });
    // Quorum approvals are decided vote by vote; no one approver chooses a grant for all.
    if (body.grant_offer && deps.grants && body.gate.type !== 'quorum') {
      await deps.grants.recordOffer(record.id, {
        reaches: body.grant_offer.reaches,
        maxMinutes: body.grant_offer.max_minutes,
        maxUses: body.grant_offer.max_uses,
        sessionId: body.grant_offer.session_id,
      });
    }
    return c.json(deps.service.view(record), 201);
  });

  app.post('/gateway/grants/use', async (c) => {
    const agent = requireGatewayKey(c);
    const body = await readJsonBody(
      c,
      callSchema.extend({
        gate: gateSchema,
        reaches: reachesSchema,
        session_id: z.string().min(1).max(100),
      }),
      'E_APPROVAL_INPUT_INVALID',
    );
    const grant = deps.grants
      ? await deps.grants.useForCall(agent.agentId, {
          tool: body.tool,
          arguments: body.arguments,
          gate: body.gate,
          reaches: body.reaches,
          sessionId: body.session_id,
        })
      : null;
    return c.json({ grant: grant ? toGrantUse(grant) : null });
  });

  app.post('/gateway/consume', async (c) => {
    const agent = requireGatewayKey(c);
    const body = await readJsonBody(
      c,
      callSchema.extend({ gate: gateSchema }),
      'E_APPROVAL_INPUT_INVALID',
    );
    const record = await deps.service.consumeApproval(
      agent.agentId,
      computeActionHash({ tool: body.tool, arguments: body.arguments }),
      body.gate,
    );
    return c.json({ consumed: record ? deps.service.view(record) : null });
  });

  app.post('/gateway/otp', async (c) => {
    const agent = requireGatewayKey(c);
    const body = await readJsonBody(
      c,
      z.object({
        tool: z.string().min(1).max(200),
        code: z.string().max(20),
        operator: z.string().min(1).max(64).optional(),
      }),
      'E_TOTP_CODE_MALFORMED',
    );
    const operator = await findOtpOperator(deps.store, body.operator);
    await deps.totp.verifyOtpArgument(operator, body.code, `key:${agent.keyId}`, body.tool);
    return c.body(null, 204);
  });

  app.post('/gateway/forwarded', async (c) => {
    const agent = requireGatewayKey(c);
    const body = await readJsonBody(
      c,
      z.object({
        tool: z.string().max(200),
        gate: z.string().max(40),
        pause_id: z.string().max(200).nullable(),
      }),
      'E_HTTP_BODY_INVALID',
    );
    await deps.store.appendAudit(
      {
        type: 'gateway.forwarded',
        requestId: body.pause_id,
        actor: `agent:${agent.agentId}`,
        data: { tool: body.tool, gate: body.gate },
      },
      now(),
    );
    return c.body(null, 204);
  });

  app.post('/gateway/shadow', async (c) => {
    const agent = requireGatewayKey(c);
    const body = await readJsonBody(
      c,
      callSchema.extend({
        gate: z.string().min(1).max(40),
        rule: z.string().min(1).max(300),
        reason: z.string().max(1000).optional(),
      }),
      'E_HTTP_BODY_INVALID',
    );
    await deps.store.appendAudit(
      {
        type: shadowAuditType,
        requestId: null,
        actor: `agent:${agent.agentId}`,
        data: buildShadowAuditData(
          {
            tool: body.tool,
            arguments: body.arguments,
            gate: body.gate,
            rule: body.rule,
            ...(body.reason ? { reason: body.reason } : {}),
          },
          agent.agentId,
        ),
      },
      now(),
    );
    return c.body(null, 204);
  });

  app.get('/gateway/agent', (c) => {
    const agent = requireGatewayKey(c);
    return c.json({ agent_id: agent.agentId, key_id: agent.keyId });
  });

  return app;
}
