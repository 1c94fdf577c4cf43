import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAgentKey } from '../service/operatorAuth.js';
import { createAppHarness } from '../../test/support/appHarness.js';

let h: Awaited<ReturnType<typeof createAppHarness>>;
let url: string;
let key: string;

beforeEach(async () => {
  h = await createAppHarness({ gatewayRoutes: true });
  key = (await createAgentKey(h.store, 'pay-bot', h.clock.now, 'gateway')).key;
  url = await h.listen();
});
afterEach(async () => h.close());

describe('POST /v1/gateway/forwarded', () => {
  it('records the call for the key’s agent, and never a grant id the agent names', async () => {
    const response = await fetch(`${url}/v1/gateway/forwarded`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'pay', gate: 'otp_argument', pause_id: null, grant_id: 'g_x' }),
    });
    expect(response.status).toBe(204);
    const entry = (await h.store.listAuditEntries(0, 100)).find(
      (e) => e.type === 'gateway.forwarded',
    );
    expect(entry).toMatchObject({ actor: 'agent:pay-bot' });
    expect(entry?.data).toEqual({ tool: 'pay', gate: 'otp_argument' });
  });
});
