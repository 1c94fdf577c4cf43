import { describe, expect, it } from 'vitest';
import { createRemoteApprovalsClient } from './approvalsClient.js';

const unreachable = async (): Promise<Response> => {
  throw new TypeError('fetch failed');
};

describe('createRemoteApprovalsClient while the server restarts', () => {
  it('retries a wait that cannot reach the server, within retryUnreachableMs', async () => {
    let attempts = 0;
    const client = createRemoteApprovalsClient({
      serverUrl: 'http://127.0.0.1:7878',
      apiKey: 'lg_test',
      retryUnreachableMs: 60_000,
      fetch: async () => {
        attempts += 1;
        if (attempts < 3) return unreachable();
        return new Response(JSON.stringify({ pause_id: 'pause_1', status: 'pending' }), {
          status: 200,
        });
      },
    });
    await expect(client.waitForApproval('pause_1', 1)).resolves.toMatchObject({
      status: 'pending',
    });
    expect(attempts).toBe(3);
  });

  it('tells the agent to call wait_for_approval again once retrying is over', async () => {
    const client = createRemoteApprovalsClient({
      serverUrl: 'http://127.0.0.1:7878',
      apiKey: 'lg_test',
      fetch: unreachable,
    });
    await expect(client.waitForApproval('pause_1', 1)).rejects.toMatchObject({
      code: 'E_REMOTE_WAIT_INTERRUPTED',
      message: expect.stringContaining('Call wait_for_approval again with pause_id "pause_1"'),
    });
    // Other calls keep their own code.
    await expect(client.createApproval({} as never)).rejects.toMatchObject({
      code: 'E_REMOTE_UNREACHABLE',
    });
  });
});
