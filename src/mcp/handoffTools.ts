import {
  ProtocolError,
  ProtocolErrorCode,
  type McpServer,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { isLoopgateError } from '../core/errors.js';
import { z } from 'zod';
import { defaultWaitSeconds, maxWaitSeconds } from '../core/longPoll.js';
import {
  blockerTypes,
  handoffTtlSeconds,
  isFinalHandoffStatus,
  type HandoffView,
} from '../handoff/handoffView.js';
import type { HandoffAgent } from './handoffAgent.js';
import { logToClient } from './clientLog.js';
import {
  authloopHandoffOutputSchema,
  browserHandoffOutputSchema,
  handoffStateOutputSchema,
} from './toolOutputSchemas.js';
import { guardToolErrors, toolResult } from './toolResult.js';
import type { StatelessWaitTask, TaskWait, WaitTaskSpec } from './waitTasks.js';

/** Longest `wait_for_handoff` blocks: MCP clients time a tool call out at 60 s by default. */

/** Options of {@link registerHandoffTools}. */
export interface HandoffToolsOptions {
  /** How often the waiting tools report progress, ms (default 5 000; `authloop_handoff` promises ≤ 10 s). */
  progressIntervalMs?: number;
}

const sessionIdSchema = z
  .string()
  .min(1)
  .max(200)
  .describe('The session_id browser_handoff returned.');

const handoffInputShape = {
  service: z
    .string()
    .min(1)
    .max(200)
    .describe('What the human is helping with, e.g. "Acme Bank login".'),
  cdp_url: z
    .string()
    .min(1)
    .max(2_000)
    .optional()
    .describe(
      'The agent browser’s DevTools endpoint: http://host:port (Chromium started with --remote-debugging-port), a ws://…/devtools/browser/… endpoint (Playwright/Puppeteer wsEndpoint()), or a ws://…/devtools/page/… endpoint. Optional when LOOPGATE_CDP_URL is set.',
    ),
  context: z
    .object({
      url: z
        .string()
        .max(2_000)
        .optional()
        .describe('URL of the page that needs the human; picks that tab.'),
      blocker_type: z
        .enum(blockerTypes)
        .optional()
        .describe(
          'What blocks you: otp, password, captcha, security_question, document_upload or other.',
        ),
      hint: z
        .string()
        .max(500)
        .optional()
        .describe('What the human should do, e.g. "enter the code sent by SMS".'),
    })
    .optional()
    .describe('Where the human is needed and what they should do there.'),
};

/** The `wait_for_handoff` answer: status, viewer_connected, detail. */
function waitShape(view: HandoffView): Record<string, unknown> {
  return {
    session_id: view.session_id,
    status: view.status,
    viewer_connected: view.viewer_connected,
    ...(view.detail ? { detail: view.detail } : {}),
    expires_at: view.expires_at,
  };
}

/** What the agent should do next, given where the handoff stands. */
export function describeHandoff(view: HandoffView): { text: string; isError: boolean } {
  const again = `Call wait_for_handoff again with session_id "${view.session_id}".`;
  switch (view.status) {
    case 'pending':
      return { text: `Waiting for the human to open the session URL. ${again}`, isError: false };
    case 'active':
      return {
        text: `The human ${view.viewer_connected ? 'is' : 'was'} viewing the browser and has not pressed Done yet. Do not touch the browser. ${again}`,
        isError: false,
      };
    case 'resolved':
      return {
        text: 'RESOLVED: the human pressed Done. Carry on in the same browser.',
        isError: false,
      };
    case 'cancelled':
      return {
        text: `CANCELLED${view.detail ? ` (${view.detail})` : ''}. Do not retry the blocked step without asking the user.`,
        isError: true,
      };
    case 'timeout':
      return {
        text: 'TIMED OUT: the human did not finish in time. Call browser_handoff again if still needed.',
        isError: true,
      };
    case 'error':
      return {
        text: `ERROR: ${view.detail ?? 'the handoff failed'}. Check the browser, then call browser_handoff again.`,
        isError: true,
      };
  }
}

/** Sends `notifications/progress` every `everyMs` while a tool waits; returns the stop function. */
function startProgress(
  ctx: ServerContext,
  everyMs: number,
  message: (elapsedS: number) => string,
  total?: number,
): () => void {
  const progressToken = ctx.mcpReq._meta?.progressToken;
  if (progressToken === undefined) return () => undefined;
  const started = Date.now();
  let count = 0;
  const send = () => {
    const elapsed = Math.round((Date.now() - started) / 1_000);
    ctx.mcpReq
      .notify({
        method: 'notifications/progress',
        params: {
          progressToken,
          progress: ++count,
          ...(total !== undefined ? { total } : {}),
          message: message(elapsed),
        },
      })
      .catch(() => undefined);
  };
  send();
  const timer = setInterval(send, everyMs);
  return () => clearInterval(timer);
}

/** Aborts when the MCP request is cancelled or its HTTP exchange ends. */
function requestSignal(ctx: ServerContext): AbortSignal {
  const stop = new AbortController();
  for (const source of [ctx.mcpReq.signal, ctx.http?.req?.signal]) {
    if (!source) continue;
    if (source.aborted) stop.abort();
    else source.addEventListener('abort', () => stop.abort(), { once: true });
  }
  return stop.signal;
}

/**
 * Registers `browser_handoff`, `wait_for_handoff`, `cancel_handoff` and the AuthLoop-compatible
 * `authloop_handoff` on `server`, all over the one process-wide `handoff` agent side (sessions
 * outlive a tool call).
 */
export function registerHandoffTools(
  server: McpServer,
  handoff: HandoffAgent,
  options: HandoffToolsOptions = {},
): void {
  const tickMs = options.progressIntervalMs ?? 5_000;

  server.registerTool(
    'browser_handoff',
    {
      title: 'Hand the browser to a human',
      description:
        'When your Chromium is stuck on something only the user can do (an OTP or SMS code, a password, a captcha, a security question, a document upload), call this. ' +
        'It returns session_id and session_url at once: send session_url to the user through your own channel (chat, message) — it opens a live, end-to-end encrypted view of the page in which they type and click, then press Done. ' +
        'Next: call wait_for_handoff with the session_id until the status is resolved, then carry on in the same browser. Do not touch the browser meanwhile.',
      inputSchema: z.object({
        ...handoffInputShape,
        ttl_seconds: z
          .number()
          .int()
          .min(handoffTtlSeconds.min)
          .max(handoffTtlSeconds.max)
          .optional()
          .describe(`How long session_url works (default ${handoffTtlSeconds.default} s).`),
      }),
      outputSchema: browserHandoffOutputSchema,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: true,
      },
    },
    (input, ctx: ServerContext) =>
      guardToolErrors(ctx, async () => {
        const started = await handoff.start(input);
        // session_url carries the end-to-end key in its fragment: it never goes into a log line.
        await logToClient(ctx, 'info', 'handoff started', {
          session_id: started.session_id,
          service: input.service,
          expires_at: started.expires_at,
        });
        const next = `Send session_url to the user, then call wait_for_handoff with session_id "${started.session_id}".`;
        return toolResult(`Handoff started; the link works until ${started.expires_at}. ${next}`, {
          ...started,
          status: 'pending',
          next_step: next,
        });
      }),
  );

  const waitTool = server.registerTool(
    'wait_for_handoff',
    {
      title: 'Wait for the human to finish a handoff',
      description:
        `Wait on a browser_handoff session. Returns {status, viewer_connected, detail?} the moment the status changes (pending → active → resolved | cancelled | timeout | error), else after max_wait_seconds (default ${defaultWaitSeconds}, at most ${maxWaitSeconds}); call it again while the status is pending or active. ` +
        'Carry on in the browser only once it returns resolved.',
      inputSchema: z.object({
        session_id: sessionIdSchema,
        max_wait_seconds: z
          .number()
          .min(0)
          .max(maxWaitSeconds)
          .optional()
          .describe(
            `Seconds to wait for a change (default ${defaultWaitSeconds}, max ${maxWaitSeconds}).`,
          ),
      }),
      outputSchema: handoffStateOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ session_id, max_wait_seconds }, ctx: ServerContext) =>
      guardToolErrors(ctx, async () => {
        const seconds = max_wait_seconds ?? defaultWaitSeconds;
        const stop = startProgress(ctx, tickMs, (s) => `Waiting for the human (${s}s)`, seconds);
        try {
          const view = await handoff.waitForChange(session_id, seconds, requestSignal(ctx));
          const outcome = describeHandoff(view);
          return toolResult(outcome.text, waitShape(view), outcome.isError);
        } finally {
          stop();
        }
      }),
  );

  // A 2025-11-25 client may run the wait as a task and poll tasks/get (waitTasks.ts).
  waitTool.execution = { taskSupport: 'optional' };

  server.registerTool(
    'cancel_handoff',
    {
      title: 'Cancel a browser handoff',
      description:
        'Withdraw a browser_handoff session you no longer need: the live view stops, the link stops working, the status becomes cancelled. Fails if it already ended.',
      inputSchema: z.object({ session_id: sessionIdSchema }),
      outputSchema: handoffStateOutputSchema,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    ({ session_id }, ctx: ServerContext) =>
      guardToolErrors(ctx, async () => {
        const view = await handoff.cancel(session_id);
        return toolResult(`Cancelled handoff ${view.session_id}.`, waitShape(view));
      }),
  );

  const authloopTool = server.registerTool(
    'authloop_handoff',
    {
      title: 'Hand the browser to a human and wait (AuthLoop-compatible)',
      description:
        'AuthLoop-compatible: starts a browser handoff and blocks until the human finishes, returning {session_url, status} with status resolved, cancelled, error or timeout. ' +
        'The session_url comes in the first progress notification and then every 10 s at most; send it to the user. ' +
        'Clients with a 60 s tool-call timeout (most do by default) should use browser_handoff + wait_for_handoff instead, or run this as a task (then tasks/get carries the session_url).',
      inputSchema: z.object(handoffInputShape),
      outputSchema: authloopHandoffOutputSchema,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: true,
      },
    },
    (input, ctx: ServerContext) =>
      guardToolErrors(ctx, async () => {
        const started = await handoff.start(input);
        const signal = requestSignal(ctx);
        const stop = startProgress(ctx, Math.min(tickMs, 10_000), (s) => {
          const state = handoff.viewerState(started.session_id);
          if (state?.keysConfirmed)
            return `The human is connected, end-to-end encrypted (${s}s); waiting for them to finish and press Done. Session: ${started.session_url}`;
          if (state?.viewerConnected)
            return `The human opened the link (${s}s); checking the encryption keys. Session: ${started.session_url}`;
          return `Waiting for the human (${s}s). Send them: ${started.session_url}`;
        });
        try {
          let view = await handoff.get(started.session_id);
          while (!isFinalHandoffStatus(view.status) && !signal.aborted) {
            view = await handoff.waitForChange(started.session_id, maxWaitSeconds, signal);
          }
          return authloopResult(view, started.session_url);
        } finally {
          stop();
        }
      }),
  );
  // A 2025-11-25 client may run the whole handoff as a task and poll tasks/get (waitTasks.ts).
  authloopTool.execution = { taskSupport: 'optional' };
}

/** The `authloop_handoff` answer for a handoff that ended (or was left) in `view`. */
function authloopResult(view: HandoffView, sessionUrl: string) {
  const status =
    view.status === 'resolved' || view.status === 'cancelled' || view.status === 'timeout'
      ? view.status
      : 'error';
  return toolResult(
    describeHandoff(view).text,
    { session_url: sessionUrl, status, session_id: view.session_id },
    status !== 'resolved',
  );
}

/** What the human's side of a handoff looks like now, with the link to send them. */
function describeViewer(
  handoff: HandoffAgent,
  started: { session_id: string; session_url: string },
) {
  const state = handoff.viewerState(started.session_id);
  if (state?.keysConfirmed)
    return `The human is connected, end-to-end encrypted; waiting for them to finish and press Done. Session: ${started.session_url}`;
  if (state?.viewerConnected)
    return `The human opened the link; checking the encryption keys. Session: ${started.session_url}`;
  return `Waiting for the human. Send them: ${started.session_url}`;
}

/**
 * `authloop_handoff` as a task (waitTasks.ts): starts the handoff at once, so the task's
 * `statusMessage` (each `tasks/get`) carries session_url and whether the human is connected;
 * the wait goes through every change until the handoff ends, and its ending is the task's
 * result, as `authloop_handoff` words it. `tasks/cancel` cancels the handoff itself (the live
 * view stops, the link stops working): the task started it and no one else holds its id.
 * @throws ProtocolError InvalidParams for bad arguments, or a handoff that could not start
 */
export async function startAuthloopHandoffTask(
  handoff: HandoffAgent,
  args: Record<string, unknown>,
): Promise<WaitTaskSpec> {
  const parsed = z.object(handoffInputShape).safeParse(args);
  if (!parsed.success)
    throw new ProtocolError(
      ProtocolErrorCode.InvalidParams,
      `authloop_handoff needs {service, cdp_url?, context?}: ${parsed.error.message}`,
    );
  let started: { session_id: string; session_url: string };
  try {
    started = await handoff.start(parsed.data);
  } catch (err) {
    if (!isLoopgateError(err)) throw err;
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${err.code}: ${err.message}`);
  }
  return {
    statusMessage: () => describeViewer(handoff, started),
    wait: async (signal) => {
      const view = await handoff.waitForChange(started.session_id, maxWaitSeconds, signal);
      return isFinalHandoffStatus(view.status)
        ? authloopResult(view, started.session_url)
        : undefined;
    },
    onCancel: () => handoff.cancel(started.session_id),
  };
}

/**
 * Checks `wait_for_handoff`'s arguments and that the session is this agent's; its session_id.
 * @throws ProtocolError InvalidParams for bad arguments or an unknown session
 */
async function openHandoffSession(
  handoff: HandoffAgent,
  args: Record<string, unknown>,
): Promise<string> {
  const parsed = z.object({ session_id: sessionIdSchema }).safeParse(args);
  if (!parsed.success)
    throw new ProtocolError(
      ProtocolErrorCode.InvalidParams,
      `wait_for_handoff needs {session_id}: ${parsed.error.message}`,
    );
  try {
    await handoff.get(parsed.data.session_id);
  } catch (err) {
    if (!isLoopgateError(err)) throw err;
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${err.code}: ${err.message}`);
  }
  return parsed.data.session_id;
}

/**
 * `wait_for_handoff` and `authloop_handoff` as tasks of the 2026-07-28 tasks extension
 * (waitTasks.ts). `wait_for_handoff`'s `start` checks the session is this agent's;
 * `authloop_handoff`'s starts the handoff, so its `tasks/get` carries the session_url (kept by
 * this process's {@link HandoffAgent}) and `tasks/cancel` cancels the handoff itself. Each
 * `tasks/get` reads the session; its ending is the task's result, as each tool words it.
 */
export function statelessHandoffWaits(handoff: HandoffAgent): Record<string, StatelessWaitTask> {
  return {
    wait_for_handoff: {
      start: (args) => openHandoffSession(handoff, args),
      async probe(sessionId) {
        const view = await handoff.get(sessionId);
        const outcome = describeHandoff(view);
        return isFinalHandoffStatus(view.status)
          ? { result: toolResult(outcome.text, waitShape(view), outcome.isError) }
          : { statusMessage: outcome.text };
      },
    },
    authloop_handoff: {
      async start(args) {
        const parsed = z.object(handoffInputShape).safeParse(args);
        if (!parsed.success)
          throw new ProtocolError(
            ProtocolErrorCode.InvalidParams,
            `authloop_handoff needs {service, cdp_url?, context?}: ${parsed.error.message}`,
          );
        try {
          return (await handoff.start(parsed.data)).session_id;
        } catch (err) {
          if (!isLoopgateError(err)) throw err;
          throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${err.code}: ${err.message}`);
        }
      },
      async probe(sessionId) {
        const view = await handoff.get(sessionId);
        const started = {
          session_id: sessionId,
          session_url:
            handoff.sessionUrl(sessionId) ??
            '(the link is held by the loopgate process that started this handoff)',
        };
        return isFinalHandoffStatus(view.status)
          ? { result: authloopResult(view, started.session_url) }
          : { statusMessage: describeViewer(handoff, started) };
      },
      onCancel: (sessionId) => handoff.cancel(sessionId),
    },
  };
}

/**
 * `wait_for_handoff` as a task (waitTasks.ts): checks the session is this agent's, then waits
 * through every change until the handoff ends (resolved, cancelled, timeout or error); the
 * ending is the task's result, as `wait_for_handoff` words it.
 * @throws ProtocolError InvalidParams for bad arguments or an unknown session
 */
export async function startHandoffWaitTask(
  handoff: HandoffAgent,
  args: Record<string, unknown>,
): Promise<TaskWait> {
  const session_id = await openHandoffSession(handoff, args);
  return async (signal) => {
    const view = await handoff.waitForChange(session_id, maxWaitSeconds, signal);
    if (!isFinalHandoffStatus(view.status)) return undefined;
    const outcome = describeHandoff(view);
    return toolResult(outcome.text, waitShape(view), outcome.isError);
  };
}
