import { describeArgumentChanges } from '../core/approvalEdit.js';
import {
  McpServer,
  ProtocolError,
  ProtocolErrorCode,
  type CallToolResult,
  type InputRequiredResult,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { computeActionHash } from '../core/actionHash.js';
import { isLoopgateError } from '../core/errors.js';
import { approvalInputSchema } from '../core/approvalInput.js';
import { defaultWaitSeconds, maxWaitSeconds } from '../core/longPoll.js';
import type { ApprovalView } from '../core/approvalView.js';
import { revealDetailValueAsString, revealTextAsString } from '../core/revealText.js';
import { verifyApprovalResult } from '../crypto/verifyApprovalResult.js';
import type { ApprovalsClient } from './approvalsClient.js';
import type { HandoffAgent } from './handoffAgent.js';
import { logToClient } from './clientLog.js';
import {
  registerHandoffTools,
  startAuthloopHandoffTask,
  startHandoffWaitTask,
  statelessHandoffWaits,
} from './handoffTools.js';
import {
  approvalViewOutputSchema,
  requestApprovalOutputSchema,
  verifyReceiptOutputSchema,
  jsonValue,
} from './toolOutputSchemas.js';
import { guardToolErrors, toolError, toolResult } from './toolResult.js';
import {
  canRequireApprovalInput,
  readApprovalInputRetry,
  requireApprovalPage,
} from './inputRequired.js';
import { elicitApprovalUrl, type UrlElicitationOutcome } from './urlElicitation.js';
import { serveWaitsAsTasks } from './waitTasks.js';

/** The server name and version MCP clients see. */
export const serverInfo = { name: 'loopgate', version: '0.1.0' } as const;

/** Longest `wait_for_approval` blocks: MCP clients time a tool call out at 60 s by default. */
/** How often `wait_for_approval` reports progress while it waits. */
export const progressIntervalMs = 5_000;

const pauseIdSchema = z
  .string()
  .min(1)
  .max(200)
  .describe('The pause_id returned by request_approval.');

// Schemas are built once: the streamable-HTTP endpoint makes a server per request.
const pauseIdInputSchema = z.object({ pause_id: pauseIdSchema });
const waitInputSchema = z.object({
  pause_id: pauseIdSchema,
  max_wait_seconds: z
    .number()
    .min(0)
    .max(maxWaitSeconds)
    .optional()
    .describe(
      `Seconds to wait before returning "pending" (default ${defaultWaitSeconds}, max ${maxWaitSeconds}).`,
    ),
});
const verifyInputSchema = z.object({
  receipt: z.string().min(1).max(20_000).optional().describe('The compact JWS receipt.'),
  result: z
    .record(z.string(), jsonValue)
    .optional()
    .describe('A whole check_approval / wait_for_approval result.'),
});

/**
 * The human's comment (on a rejection: their reason) and filled-in fields, quoted as theirs:
 * hidden characters revealed as `⟨…⟩` markers (core/revealText), so the text reads as
 * written and cannot pass itself off as loopgate's own words. Empty when there are none.
 */
function describeHumanWords(
  responder: string,
  decision: 'approved' | 'rejected',
  comment: string,
  fields: Record<string, unknown> | undefined,
): string {
  let text = '';
  if (comment) {
    const kind = decision === 'rejected' ? 'reason' : 'comment';
    text += ` The human's ${kind}, in ${responder}'s own words between « and » (hidden characters shown as ⟨…⟩): «${revealTextAsString(comment)}».`;
  }
  const entries = Object.entries(fields ?? {});
  if (entries.length > 0) {
    const listed = entries
      .map(([name, value]) => `${revealTextAsString(name)} = ${revealDetailValueAsString(value)}`)
      .join('; ');
    text += ` Fields ${responder} filled in: ${listed}.`;
  }
  return text;
}

/** What the agent should do next, given where the request stands. */
export function describeOutcome(view: ApprovalView): { text: string; isError: boolean } {
  switch (view.status) {
    case 'pending':
      return {
        text: `Still pending: no human has decided yet. Call wait_for_approval again with pause_id "${view.pause_id}" (it returns the moment a human decides). Do not perform the action yet.`,
        isError: false,
      };
    case 'responded': {
      const r = view.response!;
      const words = describeHumanWords(r.responder, r.decision, r.comment, r.fields);
      if (r.decision === 'approved' && view.edit && view.tool) {
        return {
          text: `APPROVED WITH EDITS by ${r.responder} at ${r.responded_at}.${words} The human changed the arguments of ${view.tool} before approving: ${describeArgumentChanges(view.edit.changes)}. Call ${view.tool} again with the same arguments as before: loopgate runs the edited call once (action_hash ${view.action_hash}) and tells you what ran; the arguments as you sent them will not run under this approval.`,
          isError: false,
        };
      }
      return r.decision === 'approved'
        ? {
            text: `APPROVED by ${r.responder} at ${r.responded_at}.${words} You may now perform exactly the approved action (action_hash ${view.action_hash}); keep the receipt as proof.`,
            isError: false,
          }
        : {
            text: `REJECTED by ${r.responder} at ${r.responded_at}.${words || ' No reason was given.'} Do not perform the action. Take the human's reason into account: tell the user, or ask again with a changed request.`,
            isError: true,
          };
    }
    case 'timed_out':
      return {
        text: `TIMED OUT at ${view.expires_at}: no human decided in time. Do not perform the action; call request_approval again if it is still needed.`,
        isError: true,
      };
    case 'expired':
      return {
        text: 'CANCELLED: this request was cancelled. Do not perform the action.',
        isError: true,
      };
  }
}

/** The tool result for where a request stands: an error result unless pending or approved. */
function approvalResult(view: ApprovalView): CallToolResult {
  const outcome = describeOutcome(view);
  const structured = view as unknown as Record<string, unknown>;
  return outcome.isError
    ? toolError(outcome.text, structured)
    : toolResult(outcome.text, structured);
}

/**
 * Builds the MCP server with loopgate's approval tools over `client`. A factory: the
 * streamable-HTTP endpoint calls it once per request, stdio once per connection. No tool
 * decides: an agent can ask, read, wait and cancel, never approve.
 */
export function createMcpServer(
  client: ApprovalsClient,
  options: {
    progressIntervalMs?: number;
    /** Adds the browser-handoff tools (the process that can reach the agent's Chromium). */
    handoff?: HandoffAgent;
    /**
     * Declares `tools.listChanged`: only `loopgate proxy`, whose list follows the wrapped
     * server's, sets it; loopgate's own tools never change while a client is connected.
     */
    toolsListChanged?: boolean;
  } = {},
): McpServer {
  const tickMs = options.progressIntervalMs ?? progressIntervalMs;
  const server = new McpServer(serverInfo, {
    capabilities: { tools: { listChanged: options.toolsListChanged ?? false }, logging: {} },
    instructions:
      'loopgate puts a human in the loop. Before a risky or irreversible action, call request_approval, send the user the approval_url if they are not watching the inbox, then call wait_for_approval until it returns a decision. Act only on decision "approved".',
  });

  server.registerTool(
    'request_approval',
    {
      title: 'Ask a human to approve an action',
      description:
        'Ask a human to approve an action before you perform it (payments, deletions, emails, deployments, anything irreversible). ' +
        'Returns a pause_id and an approval_url at once. Next: call wait_for_approval with the pause_id, and do not perform the action unless it returns decision "approved".',
      inputSchema: approvalInputSchema,
      outputSchema: requestApprovalOutputSchema,
      // The human may be reached over Slack, email or a webhook: outside the agent's world.
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: true,
      },
    },
    (input, ctx: ServerContext) =>
      guardToolErrors<CallToolResult | InputRequiredResult>(ctx, async () => {
        const message = `A human must approve this before the agent goes on: ${input.action_description}. Open loopgate's page, sign in and decide.`;
        // A 2026-07-28 retry carries the sealed state of the request made in the first round.
        const retry = await readApprovalInputRetry(
          ctx,
          client.requestState,
          'request_approval',
          computeActionHash({
            action_description: input.action_description,
            action_details: input.action_details,
          }),
        );
        let view: ApprovalView;
        let elicitation: UrlElicitationOutcome | undefined;
        if (retry) {
          view = await client.getApproval(retry.payload.pause_id);
          elicitation = retry.elicitation;
        } else {
          view = await client.createApproval(input);
          await logToClient(ctx, 'info', 'approval requested', {
            pause_id: view.pause_id,
            action_hash: view.action_hash,
            approval_url: view.approval_url,
            action_description: view.action_description,
            action_details: view.action_details,
          });
          if (canRequireApprovalInput(ctx, client.requestState))
            return requireApprovalPage(
              client.requestState,
              { tool: 'request_approval', pause_id: view.pause_id, action_hash: view.action_hash },
              view.approval_url,
              message,
            );
          elicitation = await elicitApprovalUrl(server, ctx, client, view, message);
        }
        const structured = {
          pause_id: view.pause_id,
          status: view.status,
          expires_at: view.expires_at,
          approval_url: view.approval_url,
          action_hash: view.action_hash,
          next_step: `Call wait_for_approval with pause_id "${view.pause_id}". Do not perform the action until it returns decision "approved".`,
          ...(elicitation ? { elicitation } : {}),
        };
        if (view.status !== 'pending') {
          // A retry after the human already decided says so, not "requested".
          const outcome = describeOutcome(view);
          const text = `${outcome.text} (check_approval with pause_id "${view.pause_id}" gives the signed receipt.)`;
          return outcome.isError ? toolError(text, structured) : toolResult(text, structured);
        }
        return toolResult(
          `Approval requested. A human can decide at ${view.approval_url}. ${structured.next_step}`,
          structured,
        );
      }),
  );

  server.registerTool(
    'check_approval',
    {
      title: 'Check an approval request',
      description:
        'Read where an approval request stands, without waiting: pending, responded (with the decision, comment, fields and signed receipt), timed_out or expired. ' +
        'Prefer wait_for_approval, which returns the moment a human decides.',
      inputSchema: pauseIdInputSchema,
      outputSchema: approvalViewOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ pause_id }, ctx: ServerContext) =>
      guardToolErrors(ctx, async () => {
        const view = await client.getApproval(pause_id);
        return toolResult(describeOutcome(view).text, view as unknown as Record<string, unknown>);
      }),
  );

  const waitTool = server.registerTool(
    'wait_for_approval',
    {
      title: 'Wait for a human decision',
      description:
        `Wait for the human's decision on a pause_id. Returns the moment a human approves or rejects, or with status "pending" after max_wait_seconds (default ${defaultWaitSeconds}, at most ${maxWaitSeconds}); then call it again. ` +
        'Perform the action only when it returns decision "approved"; a rejection, timeout or cancellation comes back as an error result.',
      inputSchema: waitInputSchema,
      outputSchema: approvalViewOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ pause_id, max_wait_seconds }, ctx: ServerContext) =>
      guardToolErrors(ctx, async () => {
        const seconds = max_wait_seconds ?? defaultWaitSeconds;
        const progressToken = ctx.mcpReq._meta?.progressToken;
        let timer: NodeJS.Timeout | undefined;
        if (progressToken !== undefined) {
          const started = Date.now();
          timer = setInterval(() => {
            const elapsed = Math.round((Date.now() - started) / 1_000);
            ctx.mcpReq
              .notify({
                method: 'notifications/progress',
                params: {
                  progressToken,
                  progress: elapsed,
                  total: seconds,
                  message: `Waiting for a human decision (${elapsed}s)`,
                },
              })
              .catch(() => undefined);
          }, tickMs);
        }
        try {
          // Stateless HTTP serves a cancellation notice on a fresh instance, so also stop when the
          // HTTP exchange itself ends (the client hung up).
          const stop = new AbortController();
          for (const source of [ctx.mcpReq.signal, ctx.http?.req?.signal]) {
            if (!source) continue;
            if (source.aborted) stop.abort();
            else source.addEventListener('abort', () => stop.abort(), { once: true });
          }
          const signal = stop.signal;
          await logToClient(ctx, 'debug', 'waiting for a human decision', {
            pause_id,
            max_wait_seconds: seconds,
          });
          const view = await client.waitForApproval(pause_id, seconds, signal);
          if (view.status !== 'pending')
            await logToClient(ctx, 'info', 'approval decided', {
              pause_id,
              status: view.status,
              decision: view.response?.decision ?? null,
              responder: view.response?.responder ?? null,
            });
          return approvalResult(view);
        } finally {
          if (timer) clearInterval(timer);
        }
      }),
  );

  server.registerTool(
    'cancel_approval',
    {
      title: 'Cancel an approval request',
      description:
        'Withdraw an approval request you no longer need (status becomes "expired"), so no human approves something stale. Fails if a human already decided.',
      inputSchema: pauseIdInputSchema,
      outputSchema: approvalViewOutputSchema,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    ({ pause_id }, ctx: ServerContext) =>
      guardToolErrors(ctx, async () => {
        const view = await client.cancelApproval(pause_id);
        await logToClient(ctx, 'info', 'approval cancelled', { pause_id });
        return toolResult(
          `Cancelled approval request ${view.pause_id}.`,
          view as unknown as Record<string, unknown>,
        );
      }),
  );

  server.registerTool(
    'verify_receipt',
    {
      title: 'Verify a signed approval receipt',
      description:
        'Check that a receipt (the "receipt" of check_approval or wait_for_approval, a compact JWS) was signed by this loopgate server and say what it approves. ' +
        'Pass the whole check_approval result as "result" to also check that its fields match the receipt.',
      inputSchema: verifyInputSchema,
      outputSchema: verifyReceiptOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ receipt, result }, ctx: ServerContext) =>
      guardToolErrors(ctx, async () => {
        if (receipt === undefined && result === undefined) {
          return toolError(
            'Pass "receipt" (the compact JWS) or "result" (a whole check_approval result).',
          );
        }
        const verified = await verifyApprovalResult(result ?? receipt, {
          jwks: await client.getJwks(),
          ...(client.signingSecret ? { secret: client.signingSecret } : {}),
        });
        if (!verified.ok) {
          return toolError(
            `INVALID receipt (${verified.code}): ${verified.message} Do not rely on it.`,
            {
              valid: false,
              code: verified.code,
              reason: verified.message,
            },
          );
        }
        const p = verified.value.payload;
        return toolResult(
          `VALID receipt: ${p.decision} by ${p.responder} at ${p.responded_at} for action_hash ${p.action_hash} (pause_id ${p.pause_id}).`,
          { valid: true, kid: verified.value.kid, hmac_checked: verified.value.hmacChecked, ...p },
        );
      }),
  );

  if (options.handoff)
    registerHandoffTools(server, options.handoff, { progressIntervalMs: tickMs });
  // A 2025-11-25 client may run the wait as a task and poll tasks/get (waitTasks.ts).
  waitTool.execution = { taskSupport: 'optional' };
  /** Checks a wait's arguments and that its pause is this agent's; returns the pause_id. */
  const openPause = async (args: Record<string, unknown>): Promise<string> => {
    const parsed = waitInputSchema.safeParse(args);
    if (!parsed.success)
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `wait_for_approval needs {pause_id}: ${parsed.error.message}`,
      );
    const { pause_id } = parsed.data;
    try {
      await client.getApproval(pause_id);
    } catch (err) {
      if (!isLoopgateError(err)) throw err;
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${err.code}: ${err.message}`);
    }
    return pause_id;
  };
  // A 2026-07-28 client that declares the tasks extension gets its waits as tasks too.
  const stateless = client.tasks
    ? {
        ledger: client.tasks,
        waits: {
          wait_for_approval: {
            start: openPause,
            async probe(pauseId: string) {
              const view = await client.getApproval(pauseId);
              return view.status === 'pending'
                ? { statusMessage: `Waiting for a human decision on ${pauseId}.` }
                : { result: approvalResult(view) };
            },
          },
          ...(options.handoff ? statelessHandoffWaits(options.handoff) : {}),
        },
      }
    : undefined;
  serveWaitsAsTasks(
    server,
    {
      async wait_for_approval(args) {
        const pause_id = await openPause(args);
        return async (signal) => {
          const view = await client.waitForApproval(pause_id, maxWaitSeconds, signal);
          return view.status === 'pending' ? undefined : approvalResult(view);
        };
      },
      ...(options.handoff
        ? {
            wait_for_handoff: (args) => startHandoffWaitTask(options.handoff!, args),
            authloop_handoff: (args) => startAuthloopHandoffTask(options.handoff!, args),
          }
        : {}),
    },
    stateless,
  );
  return server;
}
