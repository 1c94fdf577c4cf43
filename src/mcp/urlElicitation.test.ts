import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { InMemoryTransport } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { testOrigin } from '../../test/support/appHarness.js';
import {
  createGatedBank,
  decideAsHuman,
  useListeningAppHarness,
  type AppHarness,
  type ToolResult,
} from '../../test/support/mcpHarness.js';
import { createGatewayServer } from './gatewayServer.js';

type Elicitation = { mode?: string; url?: string; elicitationId?: string; message: string };

let h: AppHarness;
let baseUrl: string;
const closers = useListeningAppHarness({ progressIntervalMs: 100 }, (started, url) => {
  h = started;
  baseUrl = url;
});

/** A client that declares URL elicitation (or not), recording what it is asked and told. */
function elicitingClient(declares: boolean, era: 'legacy' | 'modern' = 'legacy') {
  const asked: Elicitation[] = [];
  const completed: string[] = [];
  const client = new Client(
    { name: 'elicit-test', version: '1.0.0' },
    {
      capabilities: declares ? { elicitation: { url: {} } } : {},
      ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}),
    },
  );
  if (declares) {
    client.setRequestHandler('elicitation/create', (request) => {
      asked.push(request.params as Elicitation);
      return { action: 'accept' };
    });
    client.setNotificationHandler('notifications/elicitation/complete', (n) => {
      completed.push(n.params.elicitationId);
    });
  }
  closers.push(() => client.close());
  return { client, asked, completed };
}

const connectHttp = (client: Client) =>
  client.connect(
    new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${h.agent.key}` } },
    }),
  );

/** A human signed in to loopgate decides on the approval page's API. */
const humanApproves = (pauseId: string) => decideAsHuman(h, pauseId, 'approved', 'go');

describe('URL-mode elicitation for request_approval', () => {
  it('asks a client that declares it to open the approval page, then says when a human decided', async () => {
    const { client, asked, completed } = elicitingClient(true);
    await connectHttp(client);
    const created = (await client.callTool({
      name: 'request_approval',
      arguments: { action_description: 'Delete the staging database', action_details: {} },
    })) as ToolResult;
    const { pause_id, approval_url, elicitation } = created.structuredContent as Record<
      string,
      string
    >;
    expect(elicitation).toBe('accept');
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ mode: 'url', url: approval_url });
    expect(approval_url).toBe(`${testOrigin}/approvals/${pause_id}`);
    const elicitationId = asked[0]!.elicitationId!;
    expect(elicitationId).toMatch(/^[0-9a-f-]{36}$/);

    // The URL alone decides nothing: without a signed-in session the decision is refused.
    const anonymous = await h.request(`/v1/approvals/${pause_id}/decision`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: testOrigin },
      body: JSON.stringify({ decision: 'approved' }),
    });
    expect(anonymous.status).toBe(401);
    expect(completed).toEqual([]);

    await humanApproves(pause_id!);
    await expect.poll(() => completed).toEqual([elicitationId]);
    const decided = (await client.callTool({
      name: 'wait_for_approval',
      arguments: { pause_id },
    })) as ToolResult;
    expect(decided.isError).toBeFalsy();
    expect(decided.structuredContent).toMatchObject({
      status: 'responded',
      response: { decision: 'approved' },
    });
  });

  // A 2026-07-28 client that declares it gets an input-required result (inputRequired.test.ts).
  for (const [what, declares, era] of [
    ['a client that does not declare it', false, 'legacy'],
    ['a 2026-07-28 client that does not declare it', false, 'modern'],
  ] as const) {
    it(`leaves ${what} with today's result`, async () => {
      const { client, asked } = elicitingClient(declares, era);
      await connectHttp(client);
      const created = (await client.callTool({
        name: 'request_approval',
        arguments: { action_description: 'Email all customers', action_details: {} },
      })) as ToolResult;
      expect(asked).toEqual([]);
      expect(created.structuredContent).not.toHaveProperty('elicitation');
      expect(created.content[0]?.text).toMatch(/^Approval requested\. A human can decide at /);
    });
  }
});

describe('URL-mode elicitation for a gated call in loopgate proxy', () => {
  async function proxyClient(declares: boolean) {
    const { gateway: deps, sent } = await createGatedBank(h, closers);
    const gateway = createGatewayServer(deps);
    const agent = elicitingClient(declares);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await gateway.connect(serverSide);
    await agent.client.connect(clientSide);
    return { ...agent, sent };
  }

  it('asks the client to open the page for the held call and tells it once a human decided', async () => {
    const { client, asked, completed, sent } = await proxyClient(true);
    const held = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 5000 },
    })) as ToolResult;
    expect(held.isError).toBe(true);
    const { pause_id, approval_url, elicitation } = held.structuredContent as Record<
      string,
      string
    >;
    expect(elicitation).toBe('accept');
    expect(asked).toEqual([
      expect.objectContaining({
        mode: 'url',
        url: approval_url,
        message: expect.stringMatching(/transfer/),
      }),
    ]);
    await humanApproves(pause_id!);
    await expect.poll(() => completed).toEqual([asked[0]!.elicitationId]);
    expect(sent).toEqual([]);
  });

  it('holds the call as before for a client that does not declare it', async () => {
    const { client, asked } = await proxyClient(false);
    const held = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 5000 },
    })) as ToolResult;
    expect(held.content[0]?.text).toMatch(/^APPROVAL REQUIRED/);
    expect(held.structuredContent).not.toHaveProperty('elicitation');
    expect(asked).toEqual([]);
  });
});
