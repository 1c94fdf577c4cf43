import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { InMemoryTransport } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { testOrigin } from '../../test/support/appHarness.js';
import {
  createGatedBank,
  decideAsHuman,
  useListeningAppHarness,
  useStrictToolResults,
  type AppHarness,
  type ToolResult,
} from '../../test/support/mcpHarness.js';
import { recordToolResults } from '../../test/support/toolResultRecorder.js';
import { createAgentKey } from '../service/operatorAuth.js';
import { createGatewayServer } from './gatewayServer.js';
import { createRequestStateSealer } from './requestState.js';

type InputRequired = {
  resultType: 'input_required';
  inputRequests: Record<string, { method: string; params: Record<string, unknown> }>;
  requestState: string;
};

let h: AppHarness;
let baseUrl: string;
const closers = useListeningAppHarness({ progressIntervalMs: 100 }, (started, url) => {
  h = started;
  baseUrl = url;
});
const strict = useStrictToolResults();

/** A 2026-07-28 client over HTTP that declares URL elicitation (or not). */
async function modernClient(options: { declares: boolean; manual?: boolean; key?: string }) {
  const asked: { mode?: string; url?: string; message: string }[] = [];
  const client = new Client(
    { name: 'mrtr-test', version: '1.0.0' },
    {
      capabilities: options.declares ? { elicitation: { url: {} } } : {},
      versionNegotiation: { mode: { pin: '2026-07-28' } },
      ...(options.manual ? { inputRequired: { autoFulfill: false } } : {}),
    },
  );
  if (options.declares)
    client.setRequestHandler('elicitation/create', (request) => {
      asked.push(request.params as (typeof asked)[number]);
      return { action: 'accept' };
    });
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${options.key ?? h.agent.key}` } },
  });
  await client.connect(transport);
  closers.push(() => client.close());
  strict.push(recordToolResults(client, transport));
  return { client, asked };
}

const humanApproves = (pauseId: string) => decideAsHuman(h, pauseId, 'approved', 'go');

const approvalArgs = {
  action_description: 'Drop the staging database',
  action_details: { db: 'staging' },
};

async function pendingCount() {
  return (await h.service.listApprovals({ status: 'pending', limit: 100 })).length;
}

describe('input-required results for request_approval (2026-07-28)', () => {
  it('asks a client that declares URL elicitation to open the approval page, and its retry names the same request', async () => {
    const { client, asked } = await modernClient({ declares: true });
    const created = (await client.callTool({
      name: 'request_approval',
      arguments: approvalArgs,
    })) as ToolResult;
    const { pause_id, approval_url, elicitation } = created.structuredContent as Record<
      string,
      string
    >;
    expect(asked).toEqual([expect.objectContaining({ mode: 'url', url: approval_url })]);
    expect(approval_url).toBe(`${testOrigin}/approvals/${pause_id}`);
    expect(elicitation).toBe('accept');
    // The retry continued the first round's request: one approval, not two.
    expect(await pendingCount()).toBe(1);

    await humanApproves(pause_id!);
    const decided = (await client.callTool({
      name: 'wait_for_approval',
      arguments: { pause_id },
    })) as ToolResult;
    expect(decided.structuredContent).toMatchObject({
      status: 'responded',
      response: { decision: 'approved' },
    });
  });

  it('gives a 2026-07-28 client that does not declare it today’s result', async () => {
    const { client } = await modernClient({ declares: false });
    const created = (await client.callTool({
      name: 'request_approval',
      arguments: approvalArgs,
    })) as ToolResult;
    expect(created.content[0]?.text).toMatch(/^Approval requested\. A human can decide at /);
    expect(created.structuredContent).not.toHaveProperty('elicitation');
  });

  describe('a requestState loopgate did not issue as sent is refused', () => {
    async function firstRound() {
      const { client } = await modernClient({ declares: true, manual: true });
      const first = (await client.callTool(
        { name: 'request_approval', arguments: approvalArgs },
        { allowInputRequired: true },
      )) as unknown as InputRequired;
      expect(first.resultType).toBe('input_required');
      expect(first.inputRequests['approval_page']).toMatchObject({
        method: 'elicitation/create',
        params: { mode: 'url' },
      });
      return { client, state: first.requestState };
    }
    const retry = async (client: Client, requestState: string, args = approvalArgs) =>
      (await client.callTool(
        {
          name: 'request_approval',
          arguments: args,
          inputResponses: { approval_page: { action: 'accept' } },
          requestState,
        } as never,
        { allowInputRequired: true },
      )) as ToolResult;

    it('forged or altered: E_MCP_REQUEST_STATE_INVALID', async () => {
      const { client, state } = await firstRound();
      const [label, body, tag] = state.split('.');
      const claims = JSON.parse(Buffer.from(body!, 'base64url').toString()) as Record<
        string,
        unknown
      >;
      const altered = Buffer.from(JSON.stringify({ ...claims, pause_id: 'pa_other' })).toString(
        'base64url',
      );
      for (const bad of [`${label}.${altered}.${tag}`, 'lgrs1.e30.AAAA', 'not-a-state']) {
        const refused = await retry(client, bad);
        expect(refused.isError).toBe(true);
        expect(refused.content[0]?.text).toMatch(/^E_MCP_REQUEST_STATE_INVALID: /);
      }
    });

    it('replayed: E_MCP_REQUEST_STATE_REPLAYED', async () => {
      const { client, state } = await firstRound();
      expect((await retry(client, state)).isError).toBeFalsy();
      const replayed = await retry(client, state);
      expect(replayed.isError).toBe(true);
      expect(replayed.content[0]?.text).toMatch(/^E_MCP_REQUEST_STATE_REPLAYED: /);
    });

    it('another agent’s: E_MCP_REQUEST_STATE_FOREIGN, and it reads nothing of the request', async () => {
      const { state } = await firstRound();
      const other = await createAgentKey(h.store, 'other-agent', Date.now());
      const { client: thief } = await modernClient({
        declares: true,
        manual: true,
        key: other.key,
      });
      const refused = await retry(thief, state);
      expect(refused.isError).toBe(true);
      expect(refused.content[0]?.text).toMatch(/^E_MCP_REQUEST_STATE_FOREIGN: /);
      expect(refused.structuredContent).toBeUndefined();
    });

    it('for other arguments: E_MCP_REQUEST_STATE_MISMATCH', async () => {
      const { client, state } = await firstRound();
      const refused = await retry(client, state, {
        action_description: 'Drop the production database',
        action_details: { db: 'production' },
      });
      expect(refused.content[0]?.text).toMatch(/^E_MCP_REQUEST_STATE_MISMATCH: /);
    });
  });
});

describe('input-required results for a gated call in loopgate proxy (2026-07-28)', () => {
  async function proxyClient(options: { declares: boolean; manual?: boolean }) {
    // One process serves every round (stdio): its sealer, with in-memory claims, is shared.
    const { gateway, sent } = await createGatedBank(h, closers, {
      requestState: createRequestStateSealer({ agentId: 'claude', secret: h.signingSecret }),
    });
    const { serveStdio } = await import('@modelcontextprotocol/server/stdio');
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const handle = serveStdio(() => createGatewayServer(gateway), { transport: serverSide });
    closers.push(() => handle.close());
    const asked: { url?: string; message: string }[] = [];
    const client = new Client(
      { name: 'agent', version: '1.0.0' },
      {
        capabilities: options.declares ? { elicitation: { url: {} } } : {},
        versionNegotiation: { mode: { pin: '2026-07-28' } },
        ...(options.manual ? { inputRequired: { autoFulfill: false } } : {}),
      },
    );
    if (options.declares)
      client.setRequestHandler('elicitation/create', (request) => {
        const params = request.params as (typeof asked)[number];
        asked.push(params);
        // The user opens the page; a signed-in human approves there.
        void humanApproves(params.url!.split('/').at(-1)!);
        return { action: 'accept' };
      });
    await client.connect(clientSide);
    closers.push(() => client.close());
    strict.push(recordToolResults(client, clientSide));
    return { client, asked, sent };
  }

  it('sends the client to the approval page and runs the call once a human approved', async () => {
    const { client, asked, sent } = await proxyClient({ declares: true });
    const result = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 5000 },
    })) as ToolResult;
    expect(asked).toEqual([
      expect.objectContaining({
        mode: 'url',
        url: expect.stringMatching(new RegExp(`^${testOrigin}/approvals/pa_`)),
        message: expect.stringMatching(/transfer/),
      }),
    ]);
    expect(result.isError).toBeFalsy();
    expect(result.content[0]?.text).toBe('sent 5000');
    expect(sent).toEqual([5000]);
  });

  it('holds the call as before for a 2026-07-28 client that does not declare it', async () => {
    const { client, sent } = await proxyClient({ declares: false });
    const held = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 5000 },
    })) as ToolResult;
    expect(held.content[0]?.text).toMatch(/^APPROVAL REQUIRED/);
    expect(sent).toEqual([]);
  });

  it('refuses a state replayed to run the call again, or carried over to other arguments', async () => {
    const { client, sent } = await proxyClient({ declares: true, manual: true });
    const first = (await client.callTool(
      { name: 'transfer', arguments: { amount: 5 } },
      { allowInputRequired: true },
    )) as unknown as InputRequired;
    const url = first.inputRequests['approval_page']!.params['url'] as string;
    await humanApproves(url.split('/').at(-1)!);
    const retry = async (amount: number) =>
      (await client.callTool(
        {
          name: 'transfer',
          arguments: { amount },
          inputResponses: { approval_page: { action: 'accept' } },
          requestState: first.requestState,
        } as never,
        { allowInputRequired: true },
      )) as ToolResult;

    const moved = await retry(5000);
    expect(moved.content[0]?.text).toMatch(/^E_MCP_REQUEST_STATE_MISMATCH: /);
    expect(sent).toEqual([]);
    // The mismatched retry used the state up: it opens once.
    const again = await retry(5);
    expect(again.content[0]?.text).toMatch(/^E_MCP_REQUEST_STATE_REPLAYED: /);
    expect(sent).toEqual([]);
  });

  it('runs an approved call once: the same state replayed is refused', async () => {
    const { client, sent } = await proxyClient({ declares: true, manual: true });
    const first = (await client.callTool(
      { name: 'transfer', arguments: { amount: 5 } },
      { allowInputRequired: true },
    )) as unknown as InputRequired;
    const url = first.inputRequests['approval_page']!.params['url'] as string;
    await humanApproves(url.split('/').at(-1)!);
    const retry = async () =>
      (await client.callTool(
        {
          name: 'transfer',
          arguments: { amount: 5 },
          inputResponses: { approval_page: { action: 'accept' } },
          requestState: first.requestState,
        } as never,
        { allowInputRequired: true },
      )) as ToolResult;
    expect((await retry()).content[0]?.text).toBe('sent 5');
    const replayed = await retry();
    expect(replayed.content[0]?.text).toMatch(/^E_MCP_REQUEST_STATE_REPLAYED: /);
    expect(sent).toEqual([5]);
  });
});
