import { randomUUID } from 'node:crypto';
import {
  ProtocolError,
  ProtocolErrorCode,
  RELATED_TASK_META_KEY,
  type CallToolResult,
  type McpServer,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { z } from 'zod';

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
 */
export function serveWaitsAsTasks(server: McpServer, waits: Record<string, StartWaitTask>): void {
  const tasks = new Map<string, WaitTask>();
  const protocol = server.server;
  protocol.registerCapabilities({
    tasks: { cancel: {}, requests: { tools: { call: {} } } },
  });

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
    // ignore params.task), and serves each request on its own: such a call is the plain tool.
    const version = protocol.getNegotiatedProtocolVersion();
    const modern = version !== undefined && version >= firstStatelessRevision;
    if (!params.task || !start || modern) return (await callTool(request, ctx)) as CallToolResult;
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
  protocol.setRequestHandler('tasks/get', byTaskId, (params) => {
    const task = find(params.taskId);
    if (task.view.status === 'working' && task.spec.statusMessage)
      task.view = { ...task.view, statusMessage: task.spec.statusMessage() };
    return Promise.resolve({ ...task.view });
  });

  protocol.setRequestHandler('tasks/result', byTaskId, async (params) => {
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

  protocol.setRequestHandler('tasks/cancel', byTaskId, async (params) => {
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
