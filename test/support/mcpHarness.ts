import { Client } from '@modelcontextprotocol/client';
import { InMemoryTransport, McpServer } from '@modelcontextprotocol/server';
import { afterEach, beforeEach, expect } from 'vitest';
import { z } from 'zod';
import { computeActionHash } from '../../src/core/actionHash.js';
import { parsePolicy } from '../../src/gates/policyParse.js';
import type { GatewayBackend } from '../../src/mcp/gatewayBackend.js';
import { DownstreamToolList, listDownstreamTools } from '../../src/mcp/gatewayServer.js';
import { createLocalApprovalsClient } from '../../src/mcp/localApprovalsClient.js';
import type { RequestStateSealer } from '../../src/mcp/requestState.js';
import { createAppHarness, testOrigin } from './appHarness.js';
import type { recordToolResults } from './toolResultRecorder.js';

/** The app harness of {@link createAppHarness}. */
export type AppHarness = Awaited<ReturnType<typeof createAppHarness>>;

/** What a `tools/call` answers, as the tests read it. */
export type ToolResult = {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  _meta?: Record<string, unknown>;
};

/** Things a test opened (clients, servers) that are closed after it, last opened first. */
export type Closers = (() => Promise<unknown>)[];

/**
 * Gives every test of the file a fresh app harness listening on a loopback port (for real MCP
 * client transports): `onStart` receives it and its base URL before each test. After each test
 * everything pushed onto the returned list is closed, last first (failures ignored), then the
 * harness.
 */
export function useListeningAppHarness(
  options: Parameters<typeof createAppHarness>[0],
  onStart: (h: AppHarness, baseUrl: string) => void,
): Closers {
  const closers: Closers = [];
  let h: AppHarness | undefined;
  beforeEach(async () => {
    h = await createAppHarness(options);
    onStart(h, await h.listen());
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    await h?.close();
  });
  return closers;
}

/** A recorder of {@link recordToolResults}: one client's tool results and their schemas. */
export type ToolResultRecorder = ReturnType<typeof recordToolResults>;

/**
 * Checks, after each test of the file, every client's tool results pushed onto the returned
 * list against the outputSchemas those clients were given (error and task results included):
 * the test fails on any result a strict client would refuse. Call it after
 * {@link useListeningAppHarness} so the check runs before the clients are closed.
 */
export function useStrictToolResults(): ToolResultRecorder[] {
  const strict: ToolResultRecorder[] = [];
  afterEach(async () => {
    for (const recorder of strict.splice(0)) expect(await recorder.violations()).toEqual([]);
  });
  return strict;
}

/**
 * A signed-in human sends `body` as the approval page's decision on `pauseId`
 * (`POST /v1/approvals/:id/decision`, with session, CSRF token and origin); the response.
 */
export async function postDecision(
  h: AppHarness,
  pauseId: string,
  body: Record<string, unknown>,
): Promise<Response> {
  const auth = await h.signIn();
  return h.request(`/v1/approvals/${pauseId}/decision`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-loopgate-session': auth.session,
      'x-csrf-token': auth.csrf,
      origin: testOrigin,
    },
    body: JSON.stringify(body),
  });
}

/**
 * A signed-in human decides `pauseId` through the approval page's API
 * (`POST /v1/approvals/:id/decision`) and the test expects a 200.
 */
export async function decideAsHuman(
  h: AppHarness,
  pauseId: string,
  decision: 'approved' | 'rejected',
  comment: string,
): Promise<void> {
  const response = await postDecision(h, pauseId, { decision, comment });
  expect(response.status).toBe(200);
}

/**
 * What `loopgate proxy` is built from, in process, for agent `claude` in front of a wrapped
 * `bank` server whose one tool `transfer({amount})` is gated behind a human's approval:
 * `gateway` is what `createGatewayServer` takes; `sent` lists the amounts that reached the bank.
 * The downstream client is closed through `closers`. Pass `requestState` to continue
 * input-required rounds (the sealer `loopgate proxy` shares across rounds).
 */
export async function createGatedBank(
  h: AppHarness,
  closers: Closers,
  options: { requestState?: RequestStateSealer } = {},
) {
  const wrapped = new McpServer({ name: 'bank', version: '1.0.0' });
  const sent: number[] = [];
  wrapped.registerTool(
    'transfer',
    { description: 'Send money.', inputSchema: z.object({ amount: z.number() }) },
    ({ amount }) => {
      sent.push(amount);
      return { content: [{ type: 'text', text: `sent ${amount}` }] };
    },
  );
  // A wrapped tool whose own server declares an outputSchema.
  wrapped.registerTool(
    'quote',
    {
      description: 'Quote a price.',
      inputSchema: z.object({ item: z.string() }),
      outputSchema: z.object({ item: z.string(), price: z.number() }),
    },
    ({ item }) => ({
      content: [{ type: 'text', text: `${item}: 12` }],
      structuredContent: { item, price: 12 },
    }),
  );
  const downstream = new Client({ name: 'proxy', version: '1.0.0' });
  const [down, up] = InMemoryTransport.createLinkedPair();
  await wrapped.connect(up);
  await downstream.connect(down);
  closers.push(() => downstream.close());
  const parsed = parsePolicy(
    'default: none\nrules:\n  - {tool: transfer, gate: approve}\n  - {tool: quote, gate: approve}\n',
    'p',
  );
  if (!parsed.ok) throw new Error(parsed.message);
  const policy = parsed.value;
  const approvals = createLocalApprovalsClient({
    service: h.service,
    agentId: 'claude',
    jwks: () => h.jwks,
    ...(options.requestState ? { requestState: options.requestState } : {}),
  });
  const backend = {
    async requestToolApproval(call) {
      const record = await h.service.requestToolApproval('claude', {
        tool: call.tool,
        arguments: call.arguments,
        gate: call.gate,
        timeoutMs: call.timeoutMinutes * 60_000,
      });
      return h.service.view(record);
    },
    async consumeToolApproval(call) {
      const hash = computeActionHash({ tool: call.tool, arguments: call.arguments });
      const record = await h.service.consumeApproval('claude', hash, call.gate);
      return record ? h.service.view(record) : null;
    },
    recordForwarded: () => Promise.resolve(),
  } as Partial<GatewayBackend> as GatewayBackend;
  const tools = new DownstreamToolList(await listDownstreamTools(downstream));
  return { gateway: { downstream, tools, policy, backend, approvals }, sent };
}
