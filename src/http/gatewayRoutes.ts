import { Hono } from 'hono';
import { z } from 'zod';
import { computeActionHash } from '../core/actionHash.js';
import { buildShadowAuditData, shadowAuditType } from '../core/shadowAudit.js';
import type { ApprovalService } from '../service/approvalService.js';
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
 * who the key acts for (`GET /gateway/agent`, for rules with `agent:`). The action hash and the
 * agent are always taken from here, never from the proxy's word.
 */
export function createGatewayRoutes(deps: {
  service: ApprovalService;
  store: Store;
  totp: TotpStepUp;
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
      }),
      'E_APPROVAL_INPUT_INVALID',
    );
    const record = await deps.service.requestToolApproval(agent.agentId, {
      tool: body.tool,
      arguments: body.arguments,
      gate: body.gate,
      timeoutMs: body.timeout_minutes * 60_000,
      ...(body.description ? { description: body.description } : {}),
    });
    return c.json(deps.service.view(record), 201);
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
