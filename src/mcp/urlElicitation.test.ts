import {
  Client,
  ProtocolErrorCode,
  StreamableHTTPClientTransport,
  UrlElicitationRequiredError,
} from '@modelcontextprotocol/client';
import { InMemoryTransport, McpServer } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
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
import { createGatewayServer } from './gatewayServer.js';

type Elicitation = { mode?: string; url?: string; elicitationId?: string; message: string };

let h: AppHarness;
let baseUrl: string;
const closers = useListeningAppHarness({ progressIntervalMs: 100 }, (started, url) => {
  h = started;
  baseUrl = url;
});
const strict = useStrictToolResults();

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

async function connectHttp(client: Client) {
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${h.agent.key}` } },
  });
  await client.connect(transport);
  strict.push(recordToolResults(client, transport));
}

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

/** loopgate proxy over wrapped `transfer` and `quote` tools (gate: approve), and a client of it. */
async function proxyClient(declares: boolean, urlElicitation?: 'request' | 'error') {
  const { gateway: deps, sent } = await createGatedBank(h, closers);
  const gateway = createGatewayServer({ ...deps, ...(urlElicitation ? { urlElicitation } : {}) });
  const agent = elicitingClient(declares);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await gateway.connect(serverSide);
  await agent.client.connect(clientSide);
  strict.push(recordToolResults(agent.client, clientSide));
  return { ...agent, sent };
}

describe('URL-mode elicitation for a gated call in loopgate proxy', () => {
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

describe('URL-elicitation-required error (-32042) for a gated call (--url-elicitation error)', () => {
  /** The -32042 error a held call is answered with (a UrlElicitationRequiredError). */
  async function heldWithUrlError(client: Client, amount: number) {
    const error = await client.callTool({ name: 'transfer', arguments: { amount } }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(UrlElicitationRequiredError);
    const urlError = error as UrlElicitationRequiredError;
    expect(urlError.code).toBe(ProtocolErrorCode.UrlElicitationRequired);
    expect(urlError.code).toBe(-32042);
    expect(urlError.elicitations).toHaveLength(1);
    return urlError.elicitations[0] as Elicitation;
  }

  it('answers the call with -32042 naming the approval page; the retry after the human approved runs once', async () => {
    const { client, asked, completed, sent } = await proxyClient(true, 'error');
    const first = await heldWithUrlError(client, 5000);
    expect(first).toMatchObject({
      mode: 'url',
      url: expect.stringMatching(new RegExp(`^${testOrigin}/approvals/pa_`)),
      message: expect.stringMatching(/transfer/),
      elicitationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    // The client shows the link itself: loopgate sends no elicitation/create.
    expect(asked).toEqual([]);
    const pauseId = first.url!.split('/').at(-1)!;

    // Retried before a human decided: the same request, the same elicitationId; nothing runs.
    const again = await heldWithUrlError(client, 5000);
    expect(again).toEqual(first);
    expect(sent).toEqual([]);
    expect(completed).toEqual([]);

    // The URL alone decides nothing.
    const anonymous = await h.request(`/v1/approvals/${pauseId}/decision`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: testOrigin },
      body: JSON.stringify({ decision: 'approved' }),
    });
    expect(anonymous.status).toBe(401);

    await humanApproves(pauseId);
    await expect.poll(() => completed).toEqual([first.elicitationId]);
    const ran = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 5000 },
    })) as ToolResult;
    expect(ran.isError).toBeFalsy();
    expect(ran.content[0]?.text).toBe('sent 5000');
    expect(sent).toEqual([5000]);

    // The approval was used up: the same call again asks anew, under a new elicitationId.
    const next = await heldWithUrlError(client, 5000);
    expect(next.elicitationId).not.toBe(first.elicitationId);
    expect(next.url).not.toBe(first.url);
    expect(sent).toEqual([5000]);
  });

  it('a rejected call is refused once with how it ended, and never runs', async () => {
    const { client, completed, sent } = await proxyClient(true, 'error');
    const first = await heldWithUrlError(client, 7);
    const pauseId = first.url!.split('/').at(-1)!;
    await decideAsHuman(h, pauseId, 'rejected', 'no');
    await expect.poll(() => completed).toEqual([first.elicitationId]);
    const refused = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 7 },
    })) as ToolResult;
    expect(refused.isError).toBe(true);
    expect(refused.content[0]?.text).toMatch(/^NOT RUN: transfer was held back/);
    expect(sent).toEqual([]);
  });

  it('holds the call as before for a client that does not declare URL elicitation', async () => {
    const { client, sent } = await proxyClient(false, 'error');
    const held = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 5000 },
    })) as ToolResult;
    expect(held.isError).toBe(true);
    expect(held.content[0]?.text).toMatch(/^APPROVAL REQUIRED/);
    expect(sent).toEqual([]);
  });
});

describe('structuredContent and the wrapped tool’s outputSchema', () => {
  it('a refusal of a tool whose server declared an outputSchema carries its JSON in the text only; the approved call’s result fits the schema', async () => {
    const { client } = await proxyClient(false);
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'quote')?.outputSchema).toMatchObject({
      properties: { item: {}, price: {} },
    });
    const held = (await client.callTool({
      name: 'quote',
      arguments: { item: 'gold' },
    })) as ToolResult;
    expect(held.isError).toBe(true);
    // A strict client would check a structuredContent against {item, price}: there is none.
    expect(held.structuredContent).toBeUndefined();
    const text = held.content[0]!.text!;
    expect(text).toMatch(/^APPROVAL REQUIRED/);
    const json = JSON.parse(text.slice(text.indexOf('\n\n{') + 2)) as Record<string, string>;
    expect(json).toMatchObject({ status: 'approval_required', pause_id: expect.any(String) });

    await humanApproves(json['pause_id']!);
    const ran = (await client.callTool({
      name: 'quote',
      arguments: { item: 'gold' },
    })) as ToolResult;
    expect(ran.structuredContent).toEqual({ item: 'gold', price: 12 });

    // A tool without an outputSchema keeps loopgate's structuredContent (nothing to contradict).
    const transfer = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 1 },
    })) as ToolResult;
    expect(transfer.structuredContent).toMatchObject({ status: 'approval_required' });
  });

  it('the strict check refuses a refusal whose structuredContent the declared schema does not describe', async () => {
    // The shape loopgate proxy used to send for such a tool.
    const server = new McpServer({ name: 'old-proxy', version: '1.0.0' });
    server.registerTool(
      'quote',
      {
        description: 'Quote a price.',
        inputSchema: z.object({ item: z.string() }),
        outputSchema: z.object({ item: z.string(), price: z.number() }),
      },
      () => ({
        isError: true,
        content: [{ type: 'text', text: 'APPROVAL REQUIRED' }],
        structuredContent: { status: 'approval_required', pause_id: 'pa_1' },
      }),
    );
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'strict', version: '1.0.0' });
    await client.connect(clientSide);
    closers.push(() => client.close());
    const recorder = recordToolResults(client, clientSide);
    await client.callTool({ name: 'quote', arguments: { item: 'gold' } });
    expect(recorder.recorded).toHaveLength(1);
    expect(await recorder.violations()).toEqual([
      expect.stringMatching(/^quote \(tools\/call, isError\): /),
    ]);
  });
});
