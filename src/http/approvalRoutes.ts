import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { ApprovalRecord } from '../core/approval.js';
import { approvalInputSchema } from '../core/approvalInput.js';
import { LoopgateError } from '../core/errors.js';
import type { ApprovalService } from '../service/approvalService.js';
import type { EventTickets } from '../service/eventTickets.js';
import type { GrantService } from '../service/grantService.js';
import type { AppEnv, Principal } from './appEnv.js';
import { requireOperator, requirePrincipal } from './authenticate.js';
import { parseWaitSeconds } from './parseWaitSeconds.js';
import { readJsonBody } from './readJsonBody.js';

const decisionSchema = z
  .object({
    decision: z.enum(['approved', 'rejected']),
    comment: z.string().optional(),
    fields: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .optional(),
    totp_code: z.string().max(20).optional(),
    webauthn: z.unknown().optional(),
    /** A standing grant instead of "this call once" (docs/api.md "Standing grants"). */
    grant: z
      .object({
        reach: z.enum(['exact', 'tool', 'session']),
        minutes: z.number().int().min(1),
        max_uses: z.number().int().min(1).nullable().optional(),
        constraints: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .optional(),
    /** Edited arguments of a gated call, approved instead of those asked (docs/api.md). */
    arguments: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const listQuerySchema = z.object({
  status: z.enum(['pending', 'decided']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** Agents see only their own requests; a foreign id reads as not found (no probing). */
function assertMayRead(principal: Principal, record: ApprovalRecord): void {
  if (principal.kind === 'agent' && record.agentId !== principal.agentId) {
    throw new LoopgateError(
      'E_APPROVAL_NOT_FOUND',
      `No approval request has pause_id "${record.id}".`,
    );
  }
}

/**
 * `/v1/approvals…` and `/v1/events` (docs/api.md). Agents create, read, wait and cancel their
 * own requests; only a signed-in operator with the CSRF token decides. The event stream takes
 * the session header or, for `EventSource` (which cannot send headers), `?ticket=` from
 * `POST /v1/events/tickets` (single use, 60 s).
 * @throws LoopgateError E_AUTH_TICKET_INVALID for a bad ticket
 */
export function createApprovalRoutes(
  service: ApprovalService,
  tickets: EventTickets,
  grants?: GrantService,
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/approvals', async (c) => {
    const principal = requirePrincipal(c);
    if (principal.kind === 'operator') requireOperator(c);
    const input = await readJsonBody(c, approvalInputSchema, 'E_APPROVAL_INPUT_INVALID');
    const agentId =
      principal.kind === 'agent' ? principal.agentId : `operator:${principal.operator.name}`;
    const record = await service.createApproval(input, agentId);
    c.get('log').info({ pause_id: record.id, agent_id: agentId }, 'approval requested');
    return c.json(service.view(record), 201);
  });

  app.get('/approvals', async (c) => {
    const principal = requirePrincipal(c);
    const query = listQuerySchema.safeParse(c.req.query());
    if (!query.success)
      throw new LoopgateError(
        'E_APPROVAL_INPUT_INVALID',
        'status must be pending or decided; limit 1-500.',
      );
    const records = await service.listApprovals({
      limit: query.data.limit,
      ...(query.data.status ? { status: query.data.status } : {}),
      ...(principal.kind === 'agent' ? { agentId: principal.agentId } : {}),
    });
    return c.json({ items: records.map((r) => service.view(r)) });
  });

  app.get('/approvals/:id', async (c) => {
    const principal = requirePrincipal(c);
    const record = await service.getApproval(c.req.param('id'));
    assertMayRead(principal, record);
    return c.json(service.view(record));
  });

  app.get('/approvals/:id/wait', async (c) => {
    const principal = requirePrincipal(c);
    const id = c.req.param('id');
    const seconds = parseWaitSeconds(c.req.query('max_wait_seconds'), 'E_APPROVAL_INPUT_INVALID');
    const record = await service.waitForDecision(id, {
      maxWaitMs: seconds * 1_000,
      signal: c.req.raw.signal,
      authorize: (found) => assertMayRead(principal, found),
    });
    return c.json(service.view(record));
  });

  app.post('/approvals/:id/cancel', async (c) => {
    const principal = requirePrincipal(c);
    if (principal.kind === 'operator') requireOperator(c);
    const id = c.req.param('id');
    assertMayRead(principal, await service.getApproval(id));
    const actor =
      principal.kind === 'agent'
        ? `agent:${principal.agentId}`
        : `operator:${principal.operator.name}`;
    return c.json(service.view(await service.cancel(id, actor)));
  });

  app.post('/approvals/:id/decision', async (c) => {
    const { operator } = requireOperator(c);
    const body = await readJsonBody(c, decisionSchema, 'E_DECISION_INVALID');
    const fields = Object.fromEntries(
      Object.entries(body.fields ?? {}).filter(([, v]) => v !== null),
    );
    const input = {
      decision: body.decision,
      ...(body.comment !== undefined ? { comment: body.comment } : {}),
      fields,
      responder: operator.name,
      operatorId: operator.id,
      channel: 'web' as const,
      stepUp: {
        ...(body.totp_code !== undefined ? { totpCode: body.totp_code } : {}),
        ...(body.webauthn !== undefined ? { webauthn: body.webauthn } : {}),
      },
      ...(body.arguments !== undefined ? { arguments: body.arguments } : {}),
    };
    if (body.grant && body.arguments !== undefined)
      throw new LoopgateError(
        'E_APPROVAL_EDIT_INVALID',
        'An edited call is approved once; choose "this call once" or approve the call as asked. Nothing was decided.',
      );
    if (body.grant && !grants)
      throw new LoopgateError('E_GRANT_NOT_OFFERED', 'This server makes no standing grants.');
    const { record, grant } = grants
      ? await grants.decide(
          c.req.param('id'),
          input,
          body.grant
            ? {
                reach: body.grant.reach,
                minutes: body.grant.minutes,
                maxUses: body.grant.max_uses ?? null,
                ...(body.grant.constraints ? { constraints: body.grant.constraints } : {}),
              }
            : null,
        )
      : { record: await service.decide(c.req.param('id'), input), grant: null };
    c.get('log').info(
      {
        pause_id: record.id,
        decision: body.decision,
        responder: operator.name,
        ...(grant ? { grant_id: grant.id } : {}),
      },
      'approval decided',
    );
    return c.json({ ...service.view(record), ...(grant ? { grant: grants!.view(grant) } : {}) });
  });

  app.get('/events', async (c: Context<AppEnv>) => {
    const ticket = c.req.query('ticket');
    if (ticket === undefined) requireOperator(c);
    else if (!(await tickets.redeem(ticket))) {
      throw new LoopgateError(
        'E_AUTH_TICKET_INVALID',
        'That event ticket is unknown, used already, or expired; get a new one with POST /v1/events/tickets.',
      );
    }
    return streamSSE(c, async (stream) => {
      const queue: ApprovalRecord[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = service.subscribe((change) => {
        queue.push(change.record);
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      await stream.writeSSE({ event: 'ready', data: '{}' });
      while (!stream.aborted && !stream.closed) {
        const record = queue.shift();
        if (record) {
          await stream.writeSSE({
            event: 'approval',
            data: JSON.stringify(service.view(record)),
            id: `${record.id}:${record.updatedAt}`,
          });
          continue;
        }
        await new Promise<void>((resolve) => {
          const heartbeat = setTimeout(resolve, 15_000);
          wake = () => {
            clearTimeout(heartbeat);
            wake = undefined;
            resolve();
          };
        });
        if (queue.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n');
      }
      unsubscribe();
    });
  });

  return app;
}
