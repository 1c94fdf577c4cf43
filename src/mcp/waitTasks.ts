import { randomUUID } from 'node:crypto';
import {
  CLIENT_CAPABILITIES_META_KEY,
  MissingRequiredClientCapabilityError,
  PROTOCOL_VERSION_META_KEY,
  ProtocolError,
  ProtocolErrorCode,
  RELATED_TASK_META_KEY,
  type CallToolResult,
  type ClientCapabilities,
  type McpServer,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { isLoopgateError } from '../core/errors.js';
import { statelessTaskTtlMs, type OpenedTask, type TaskLedger } from './taskLedger.js';

/** The task states of MCP 2025-11-25 §Tasks (experimental). */
type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

/** A task as `tasks/get` describes it (MCP 2025-11-25 §Tasks, `Task`). */
interface TaskView {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: string;
  lastUpdatedAt: string;
  ttl: number | null;
  pollInterval: number;
}

interface WaitTask {
  view: TaskView;
  stop: AbortController;
  done: Promise<CallToolResult | undefined>;
  spec: WaitTaskSpec;
}

/** The first revision without the core `tasks` of 2025-11-25. */
const firstStatelessRevision = '2026-07-28';

/** How often a client should poll `tasks/get`, ms. */
export const taskPollIntervalMs = 1_000;

/** How long a finished task's result is kept, ms, unless the client asked for less. */
export const taskTtlMs = 60 * 60_000;

/** Tasks one server instance (one session or stdio connection) keeps at once. */
export const maxTasksPerServer = 100;

/**
 * One wait, run as a task: `wait` long-polls (each round at most `maxWaitSeconds`) and
 * resolves with the decision's tool result, or `undefined` while still undecided.
 */
export type TaskWait = (signal: AbortSignal) => Promise<CallToolResult | undefined>;

/** A wait with more to say than {@link TaskWait} alone. */
export interface WaitTaskSpec {
  wait: TaskWait;
  /**
   * What `tasks/get` says while the task works (read at each `tasks/get`); default "Waiting for
   * a human decision."
   */
  statusMessage?: () => string;
  /** Runs once when `tasks/cancel` stops the wait (e.g. to end what the task itself started). */
  onCancel?: () => Promise<unknown>;
}

/** Starts one wait: checks the arguments and the caller's right to it, then hands the wait over. */
export type StartWaitTask = (
  args: Record<string, unknown>,
  ctx: ServerContext,
) => Promise<TaskWait | WaitTaskSpec>;

/** The identifier of the 2026-07-28 tasks extension (SEP-2663). */
export const tasksExtensionId = 'io.modelcontextprotocol/tasks';

/**
 * One wait as a task of the 2026-07-28 tasks extension: nothing runs between polls, and every
 * `tasks/get` (on whichever server instance it lands) reads where the task's target stands.
 */
export interface StatelessWaitTask {
  /**
   * Checks the arguments and the caller's right to the target (and starts what the task itself
   * starts); returns the target's id (a pause_id, a handoff session_id).
   * @throws ProtocolError InvalidParams for bad arguments or a target not found
   */
  start(args: Record<string, unknown>, ctx: ServerContext): Promise<string>;
  /** Where `target` stands now, without waiting: the tool's result once it ended. */
  probe(target: string): Promise<{ result: CallToolResult } | { statusMessage: string }>;
  /** Runs once when `tasks/cancel` stops a working task (e.g. to end what the task started). */
  onCancel?(target: string): Promise<unknown>;
}

/** True when this request is a 2026-07-28 one (or later), from its own `_meta` envelope. */
function isStatelessRequest(ctx: ServerContext): boolean {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const version = envelope?.[PROTOCOL_VERSION_META_KEY];
  return typeof version === 'string' && version >= firstStatelessRevision;
}

/** True when this 2026-07-28 request declares the tasks extension in its client capabilities. */
function declaresTasksExtension(ctx: ServerContext): boolean {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const capabilities = envelope?.[CLIENT_CAPABILITIES_META_KEY] as
    (ClientCapabilities & { extensions?: Record<string, unknown> }) | undefined;
  return capabilities?.extensions?.[tasksExtensionId] !== undefined;
}

/**
 * Lets a 2025-11-25 client run loopgate's waits as tasks (MCP 2025-11-25 §Tasks, experimental):
 * a `tools/call` of a tool in `waits` that carries `params.task` answers at once with a
 * `CreateTaskResult`; the wait goes on in this server; `tasks/get` reads its status,
 * `tasks/result` returns the decision (the same result the tool returns without a task) once
 * there is one, `tasks/cancel` stops the wait (the request waited on stays, unless the wait's
 * {@link WaitTaskSpec.onCancel} ends what the task itself started). Every other
 * call, and every call without `params.task`, goes to the tool as before.
 *
 * The MCP server SDK has no task runtime: this installs the `tasks/*` handlers and wraps the
 * SDK's own `tools/call` handler. Tasks live in this server instance, which serves one stdio
 * connection or one streamable-HTTP session (clients learn of tasks at `initialize`, which opens
 * a session). Call after every tool is registered.
 *
 * With `stateless`, a 2026-07-28 request that declares the tasks extension (SEP-2663) gets the
 * waits in `stateless.waits` as tasks too, without `params.task` (the server decides): a flat
 * `CreateTaskResult`, `tasks/get` with the result inlined once the wait ended, `tasks/cancel`
 * answered with an empty ack; `tasks/result` is -32601 on that revision, and `tasks/*` from a
 * request that did not declare the extension is -32021 (MissingRequiredClientCapability).
 */
export function serveWaitsAsTasks(
  server: McpServer,
  waits: Record<string, StartWaitTask>,
  /**
   * The same waits for 2026-07-28 clients that declare the tasks extension (SEP-2663), with the
   * ledger that issues and opens their task ids; without it those clients get the plain tools.
   */
  stateless?: { ledger: TaskLedger; waits: Record<string, StatelessWaitTask> },
): void {
  const tasks = new Map<string, WaitTask>();
  const protocol = server.server;
  protocol.registerCapabilities({
    tasks: { cancel: {}, requests: { tools: { call: {} } } },
    ...(stateless ? { extensions: { [tasksExtensionId]: {} } } : {}),
  });
  const modernTasks = stateless
    ? statelessTaskSurface(stateless.ledger, stateless.waits)
    : undefined;

  const callTool = (
    protocol as unknown as {
      _getRequestHandler(
        method: string,
      ): ((request: unknown, ctx: ServerContext) => Promise<unknown>) | undefined;
    }
  )._getRequestHandler('tools/call');
  if (!callTool) throw new Error('serveWaitsAsTasks: register the tools first');

  const touch = (task: WaitTask, status: TaskStatus, statusMessage?: string) => {
    task.view = {
      ...task.view,
      status,
      lastUpdatedAt: new Date().toISOString(),
      ...(statusMessage ? { statusMessage } : {}),
    };
  };
  const find = (taskId: string): WaitTask => {
    const task = tasks.get(taskId);
    if (!task)
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `No task has taskId "${taskId}" on this connection.`,
      );
    return task;
  };

  const closed = protocol.onclose;
  protocol.onclose = () => {
    for (const task of tasks.values()) task.stop.abort();
    closed?.();
  };

  protocol.removeRequestHandler('tools/call');
  protocol.setRequestHandler('tools/call', async (request, ctx) => {
    const params = request.params as {
      name: string;
      arguments?: Record<string, unknown>;
      task?: { ttl?: number };
    };
    const start = waits[params.name];
    // 2026-07-28 removed these tasks from the core protocol (its tasks extension asks servers to
    // ignore params.task, and creates tasks itself for a client that declares the extension).
    const version = protocol.getNegotiatedProtocolVersion();
    const modern =
      (version !== undefined && version >= firstStatelessRevision) || isStatelessRequest(ctx);
    if (modern) {
      const created = await modernTasks?.create(params.name, params.arguments ?? {}, ctx);
      return (created ?? (await callTool(request, ctx))) as CallToolResult;
    }
    if (!params.task || !start) return (await callTool(request, ctx)) as CallToolResult;
    // Checks the arguments and the request (another agent's pause is not found) before a task.
    const started = await start(params.arguments ?? {}, ctx);
    const spec: WaitTaskSpec = typeof started === 'function' ? { wait: started } : started;
    const wait = spec.wait;
    for (const [id, old] of tasks)
      if (tasks.size >= maxTasksPerServer && old.view.status !== 'working') tasks.delete(id);
    if (tasks.size >= maxTasksPerServer)
      throw new ProtocolError(
        ProtocolErrorCode.InvalidRequest,
        `This connection already runs ${maxTasksPerServer} tasks; cancel one or wait without a task.`,
      );
    const now = new Date().toISOString();
    const ttl = Math.min(params.task.ttl ?? taskTtlMs, taskTtlMs);
    const stop = new AbortController();
    const task: WaitTask = {
      view: {
        taskId: randomUUID(),
        status: 'working',
        statusMessage: spec.statusMessage?.() ?? 'Waiting for a human decision.',
        createdAt: now,
        lastUpdatedAt: now,
        ttl,
        pollInterval: taskPollIntervalMs,
      },
      stop,
      done: Promise.resolve(undefined),
      spec,
    };
    task.done = (async () => {
      try {
        let result = await wait(stop.signal);
        while (result === undefined && !stop.signal.aborted) result = await wait(stop.signal);
        if (stop.signal.aborted) return undefined;
        // The decision is the task's result, a rejection included (its result says isError).
        touch(task, 'completed', 'A human decided, or the request ended.');
        return result;
      } catch (err) {
        if (stop.signal.aborted) return undefined;
        touch(task, 'failed', `The wait failed: ${(err as Error).message}`);
        return undefined;
      } finally {
        setTimeout(() => tasks.delete(task.view.taskId), ttl).unref();
      }
    })();
    tasks.set(task.view.taskId, task);
    // The SDK checks every tools/call answer as a CallToolResult, so the CreateTaskResult also
    // carries content: a text a client without a task runtime could still show.
    return {
      task: task.view,
      content: [
        {
          type: 'text',
          text: `Waiting for a human decision as task ${task.view.taskId}: poll tasks/get, then read tasks/result.`,
        },
      ],
    } as CallToolResult;
  });

  // The SDK's typed surface has no tasks/* methods: they are registered as custom methods.
  const byTaskId = { params: z.object({ taskId: z.string() }) };
  /** The 2026-07-28 task surface, for a request that declared the extension; -32021 otherwise. */
  const extensionTasks = (ctx: ServerContext) => {
    if (!modernTasks || !declaresTasksExtension(ctx))
      throw new MissingRequiredClientCapabilityError(
        { requiredCapabilities: { extensions: { [tasksExtensionId]: {} } } },
        `Declare the ${tasksExtensionId} extension in this request's client capabilities to use tasks.`,
      );
    return modernTasks;
  };
  protocol.setRequestHandler(
    'tasks/update',
    { params: z.object({ taskId: z.string() }).passthrough() },
    async (params, ctx) => {
      if (!isStatelessRequest(ctx))
        throw new ProtocolError(ProtocolErrorCode.MethodNotFound, 'Method not found: tasks/update');
      await extensionTasks(ctx).get(params.taskId);
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        "This task asks for no input: loopgate's tasks wait for a human on loopgate's own pages.",
      );
    },
  );
  protocol.setRequestHandler('tasks/get', byTaskId, (params, ctx) => {
    if (isStatelessRequest(ctx)) return extensionTasks(ctx).get(params.taskId);
    const task = find(params.taskId);
    if (task.view.status === 'working' && task.spec.statusMessage)
      task.view = { ...task.view, statusMessage: task.spec.statusMessage() };
    return Promise.resolve({ ...task.view });
  });

  protocol.setRequestHandler('tasks/result', byTaskId, async (params, ctx) => {
    if (isStatelessRequest(ctx))
      throw new ProtocolError(
        ProtocolErrorCode.MethodNotFound,
        "tasks/result is not a method of the tasks extension: tasks/get carries a finished task's result.",
      );
    const task = find(params.taskId);
    const result = await task.done;
    if (!result)
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `Task "${task.view.taskId}" ended without a result: ${task.view.status}${task.view.statusMessage ? ` (${task.view.statusMessage})` : ''}.`,
      );
    return {
      ...result,
      _meta: { ...result._meta, [RELATED_TASK_META_KEY]: { taskId: task.view.taskId } },
    };
  });

  protocol.setRequestHandler('tasks/cancel', byTaskId, async (params, ctx) => {
    if (isStatelessRequest(ctx)) return extensionTasks(ctx).cancel(params.taskId);
    const task = find(params.taskId);
    if (task.view.status !== 'working')
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `Task "${task.view.taskId}" already ended (${task.view.status}); it cannot be cancelled.`,
      );
    touch(
      task,
      'cancelled',
      task.spec.onCancel
        ? 'The client cancelled the task.'
        : 'The client cancelled the wait; the request it waited on is unchanged.',
    );
    task.stop.abort();
    await task.spec.onCancel?.().catch(() => undefined);
    return { ...task.view };
  });
}

/** At most this much of an unknown task id is echoed back in an error, in characters. */
const taskIdEchoChars = 24;

/**
 * The task surface of the 2026-07-28 tasks extension (SEP-2663) over a {@link TaskLedger}:
 * `create` answers a `tools/call` of a wait with a flat `CreateTaskResult`; `get` answers
 * `tasks/get` with the task's status, and its result once the wait ended (a rejection is a
 * completed task whose result says isError; `failed` means the wait itself could not go on);
 * `cancel` answers `tasks/cancel` with an empty ack, idempotently. The request or handoff
 * waited on is never changed by a cancellation, unless the task started it
 * ({@link StatelessWaitTask.onCancel}).
 */
function statelessTaskSurface(ledger: TaskLedger, waits: Record<string, StatelessWaitTask>) {
  const unknown = (taskId: string) =>
    new ProtocolError(
      ProtocolErrorCode.InvalidParams,
      `No task has taskId "${taskId.slice(0, taskIdEchoChars)}${taskId.length > taskIdEchoChars ? '…' : ''}" for this agent: it is unknown, another agent's, or expired.`,
    );
  const view = (
    taskId: string,
    task: OpenedTask,
    status: TaskStatus,
    statusMessage: string,
    lastUpdatedAt: number,
  ) => ({
    taskId,
    status,
    statusMessage,
    createdAt: new Date(task.createdAt).toISOString(),
    lastUpdatedAt: new Date(lastUpdatedAt).toISOString(),
    ttlMs: statelessTaskTtlMs,
    pollIntervalMs: taskPollIntervalMs,
  });
  const read = (taskId: string) => {
    const task = ledger.open(taskId);
    const spec = task ? waits[task.tool] : undefined;
    if (!task || !spec) throw unknown(taskId);
    return { task, spec };
  };

  return {
    /** The `CreateTaskResult` for a wait, or undefined when this call is not one to run as a task. */
    async create(
      name: string,
      args: Record<string, unknown>,
      ctx: ServerContext,
    ): Promise<Record<string, unknown> | undefined> {
      const spec = waits[name];
      if (!spec || !declaresTasksExtension(ctx)) return undefined;
      const target = await spec.start(args, ctx);
      const { taskId, task } = ledger.issue({ tool: name, target });
      return {
        resultType: 'task',
        ...view(taskId, task, 'working', 'Waiting for a human.', task.createdAt),
        // Shown by a client that reads the result as a plain tool result.
        content: [
          {
            type: 'text',
            text: `Waiting for a human as task ${taskId}: poll tasks/get until it completes.`,
          },
        ],
      };
    },
    async get(taskId: string): Promise<Record<string, unknown>> {
      const { task, spec } = read(taskId);
      if (await ledger.isCancelled(task))
        return view(taskId, task, 'cancelled', 'The client cancelled the task.', Date.now());
      let state: Awaited<ReturnType<StatelessWaitTask['probe']>>;
      try {
        state = await spec.probe(task.target);
      } catch (err) {
        // A store that cannot be reached fails this poll only; a target that is gone ends the task.
        if (!isLoopgateError(err) || err.code === 'E_STORE_UNREACHABLE') throw err;
        return {
          ...view(taskId, task, 'failed', 'The wait could not go on.', Date.now()),
          error: { code: ProtocolErrorCode.InternalError, message: `${err.code}: ${err.message}` },
        };
      }
      if ('result' in state)
        return {
          ...view(taskId, task, 'completed', 'A human decided, or the wait ended.', Date.now()),
          result: state.result,
        };
      return view(taskId, task, 'working', state.statusMessage, task.createdAt);
    },
    async cancel(taskId: string): Promise<Record<string, never>> {
      const { task, spec } = read(taskId);
      if (await ledger.isCancelled(task)) return {};
      const state = await spec.probe(task.target).catch(() => undefined);
      // A task that already ended stays as it ended; the ack is the same (SEP-2663).
      if (state && 'result' in state) return {};
      await ledger.cancel(task);
      await spec.onCancel?.(task.target).catch(() => undefined);
      return {};
    },
  };
}
