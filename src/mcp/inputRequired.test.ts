import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAppHarness, testOrigin } from '../../test/support/appHarness.js';
import { createAgentKey } from '../service/operatorAuth.js';

type Harness = Awaited<ReturnType<typeof createAppHarness>>;
type ToolResult = {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
};
type InputRequired = {
  resultType: 'input_required';
  inputRequests: Record<string, { method: string; params: Record<string, unknown> }>;
  requestState: string;
};

let h: Harness;
let baseUrl: string;
const closers: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  h = await createAppHarness({ progressIntervalMs: 100 });
  baseUrl = await h.listen();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  await h.close();
});

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
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${options.key ?? h.agent.key}` } },
    }),
  );
  closers.push(() => client.close());
  return { client, asked };
}

async function humanApproves(pauseId: string) {
  const auth = await h.signIn();
  const response = await h.request(`/v1/approvals/${pauseId}/decision`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-loopgate-session': auth.session,
      'x-csrf-token': auth.csrf,
      origin: testOrigin,
    },
    body: JSON.stringify({ decision: 'approved', comment: 'go' }),
  });
  expect(response.status).toBe(200);
}

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
