import { describe, expect, it } from 'vitest';
import { isLoopgateError } from '../core/errors.js';
import { createRequestStateSealer, requestStateTtlSeconds } from './requestState.js';

const payload = { tool: 'request_approval', pause_id: 'pa_1', action_hash: 'h' };

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (isLoopgateError(err)) return err.code;
    throw err;
  }
  return 'opened';
}

describe('requestState sealing', () => {
  it('opens its own state once, for its own agent, before it expires', async () => {
    let now = 1_000_000;
    const sealer = createRequestStateSealer({ agentId: 'a', secret: 's', now: () => now });
    const state = sealer.seal(payload);
    await expect(sealer.open(state)).resolves.toEqual(payload);
    expect(await refusal(sealer.open(state))).toBe('E_MCP_REQUEST_STATE_REPLAYED');

    const late = sealer.seal(payload);
    now += requestStateTtlSeconds * 1_000 + 1_000;
    expect(await refusal(sealer.open(late))).toBe('E_MCP_REQUEST_STATE_EXPIRED');
  });

  it('refuses another secret’s state and another agent’s', async () => {
    const state = createRequestStateSealer({ agentId: 'a', secret: 's' }).seal(payload);
    const otherSecret = createRequestStateSealer({ agentId: 'a', secret: 't' });
    expect(await refusal(otherSecret.open(state))).toBe('E_MCP_REQUEST_STATE_INVALID');
    const otherAgent = createRequestStateSealer({ agentId: 'b', secret: 's' });
    expect(await refusal(otherAgent.open(state))).toBe('E_MCP_REQUEST_STATE_FOREIGN');
    // Without a secret each process has its own key.
    const a = createRequestStateSealer({ agentId: 'a' });
    const b = createRequestStateSealer({ agentId: 'a' });
    expect(await refusal(b.open(a.seal(payload)))).toBe('E_MCP_REQUEST_STATE_INVALID');
  });
});
