import { describe, expect, it } from 'vitest';
import { createTaskLedger, statelessTaskTtlMs } from './taskLedger.js';

describe('task ids of the 2026-07-28 tasks extension', () => {
  const t0 = Date.parse('2026-12-01T00:00:00Z');
  const target = { tool: 'wait_for_approval', target: 'pa_1' };

  it('open for the agent they were issued to, with the same secret, until their ttl', () => {
    let now = t0;
    const ledger = createTaskLedger({ agentId: 'claude', secret: 's', now: () => now });
    const { taskId, task } = ledger.issue(target);
    expect(ledger.open(taskId)).toEqual(task);
    // Another server of the deployment (same secret) opens it too.
    expect(createTaskLedger({ agentId: 'claude', secret: 's' }).open(taskId)).toEqual(task);
    expect(createTaskLedger({ agentId: 'other', secret: 's' }).open(taskId)).toBeUndefined();
    expect(createTaskLedger({ agentId: 'claude', secret: 't' }).open(taskId)).toBeUndefined();
    now = t0 + statelessTaskTtlMs;
    expect(ledger.open(taskId)).toEqual(task);
    now += 1;
    expect(ledger.open(taskId)).toBeUndefined();
  });

  it('outlives the longest approval request', () => {
    expect(statelessTaskTtlMs).toBeGreaterThan(168 * 3_600_000);
  });

  it('remembers a cancellation of one task only, in memory until the task expires', async () => {
    let now = t0;
    const ledger = createTaskLedger({ agentId: 'claude', now: () => now });
    const first = ledger.issue(target).task;
    const second = ledger.issue(target).task;
    await ledger.cancel(first);
    expect(await ledger.isCancelled(first)).toBe(true);
    expect(await ledger.isCancelled(second)).toBe(false);
    now = first.expiresAt + 1;
    expect(await ledger.isCancelled(first)).toBe(false);
  });
});
