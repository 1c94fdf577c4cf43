import { randomUUID } from 'node:crypto';
import { approvalLimits } from '../core/approval.js';
import { createClaimSealer } from './sealedClaims.js';

/** What a task of the 2026-07-28 tasks extension stands for: one tool's wait on one target. */
export interface TaskTarget {
  /** The tool the task runs: `wait_for_approval`, `wait_for_handoff` or `authloop_handoff`. */
  tool: string;
  /** What it waits on: a pause_id, or a handoff session_id. */
  target: string;
}

/** An opened task id: its target, when it was made and until when it lives (ms since epoch). */
export interface OpenedTask extends TaskTarget {
  /** A short stable key of this task (no secret in it), for its cancellation record. */
  key: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * The task ids of loopgate's 2026-07-28 tasks (SEP-2663, `io.modelcontextprotocol/tasks`):
 * nothing of a task is kept but its cancellation. Each 2026-07-28 request may be served by
 * another server instance (or another server of a deployment), so the task id itself carries
 * what the task waits on, MACed and bound to one agent; its status is read from the store each
 * `tasks/get` (the request or handoff waited on is the truth).
 */
export interface TaskLedger {
  /** A new task id for `target`, living {@link statelessTaskTtlMs} from now. */
  issue(target: TaskTarget): { taskId: string; task: OpenedTask };
  /**
   * The task behind `taskId` when this ledger issued it to this agent and it has not expired;
   * undefined otherwise (the caller answers "unknown task", -32602).
   */
  open(taskId: string): OpenedTask | undefined;
  /** Records that the client cancelled `task` (on every server of the deployment). */
  cancel(task: OpenedTask): Promise<void>;
  /** True once {@link cancel} ran for `task`, on any server of the deployment. */
  isCancelled(task: OpenedTask): Promise<boolean>;
}

/**
 * How long a 2026-07-28 task is kept (its `ttlMs`): longer than the longest approval request
 * (`approvalLimits.maxTimeoutHours`) by an hour, so a task never vanishes before its wait ends.
 */
export const statelessTaskTtlMs = (approvalLimits.maxTimeoutHours + 1) * 3_600_000;

const prefix = 'lgtk1';

/** Where cancellations are recorded: the store's task claims, or this process's memory. */
export interface TaskCancellations {
  /** Records `key` until `keepUntil` (ms). */
  record(key: string, keepUntil: number): Promise<unknown>;
  has(key: string): Promise<boolean>;
}

/** Cancellations in this process's memory: right where one process serves every request (stdio). */
export function createMemoryTaskCancellations(now: () => number = Date.now): TaskCancellations {
  const kept = new Map<string, number>();
  return {
    record(key, keepUntil) {
      for (const [k, until] of kept) if (until < now()) kept.delete(k);
      kept.set(key, keepUntil);
      return Promise.resolve();
    },
    has: (key) => Promise.resolve((kept.get(key) ?? -1) >= now()),
  };
}

/**
 * Cancellations in the store's task claims (`Store.claimTask` / `hasTaskClaim`): seen by every
 * server of the deployment.
 */
export function storeTaskCancellations(store: {
  claimTask(key: string, now: number, keepUntil: number): Promise<boolean>;
  hasTaskClaim(key: string): Promise<boolean>;
}): TaskCancellations {
  return {
    record: (key, keepUntil) => store.claimTask(key, Date.now(), keepUntil),
    has: (key) => store.hasTaskClaim(key),
  };
}

/**
 * Makes the {@link TaskLedger} of one agent. The MAC is HMAC-SHA256 (RFC 2104) under a key
 * derived from `secret` (the server's signing secret; a random per-process key when there is
 * none, which only works where one process serves every request) with its own label, so a task
 * id is never a receipt's or a requestState's MAC. Pass store-backed `cancellations` where
 * several servers share a deployment (the `/mcp` endpoint), the in-memory ones otherwise.
 */
export function createTaskLedger(options: {
  agentId: string;
  secret?: string | undefined;
  cancellations?: TaskCancellations;
  now?: () => number;
}): TaskLedger {
  const now = options.now ?? Date.now;
  const cancellations = options.cancellations ?? createMemoryTaskCancellations(now);
  const sealer = createClaimSealer({
    prefix,
    label: 'loopgate mcp task id v1',
    secret: options.secret,
  });
  const cancelKey = (task: OpenedTask) => `mcp-task-cancel:${task.key}`;

  return {
    issue(target) {
      const createdAt = now();
      const claims = {
        ...target,
        agent: options.agentId,
        iat: createdAt,
        exp: createdAt + statelessTaskTtlMs,
        id: randomUUID(),
      };
      const taskId = sealer.seal(claims);
      return {
        taskId,
        task: { ...target, key: claims.id, createdAt, expiresAt: claims.exp },
      };
    },
    open(taskId) {
      const claims = sealer.open(taskId);
      if (!claims) return undefined;
      const { tool, target, agent, iat, exp, id } = claims;
      if (
        typeof tool !== 'string' ||
        typeof target !== 'string' ||
        typeof iat !== 'number' ||
        typeof exp !== 'number' ||
        typeof id !== 'string' ||
        agent !== options.agentId ||
        exp < now()
      )
        return undefined;
      return { tool, target, key: id, createdAt: iat, expiresAt: exp };
    },
    async cancel(task) {
      await cancellations.record(cancelKey(task), task.expiresAt);
    },
    isCancelled: (task) => cancellations.has(cancelKey(task)),
  };
}
