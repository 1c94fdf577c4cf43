import {
  Client,
  LOG_LEVEL_META_KEY,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/client/validators/ajv';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as StreamableHTTPClientTransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { InMemoryTransport, McpServer } from '@modelcontextprotocol/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAppHarness } from '../../test/support/appHarness.js';
import { recordToolResults } from '../../test/support/toolResultRecorder.js';
import type { HandoffView } from '../handoff/handoffView.js';
import { createAgentKey } from '../service/operatorAuth.js';
import { parsePolicy } from '../gates/policyParse.js';
import type { ApprovalView } from '../core/approvalView.js';
import type { ApprovalsClient } from './approvalsClient.js';
import { createDownstreamClient } from './connectDownstream.js';
import { createMcpServer } from './createMcpServer.js';
import type { GatewayBackend } from './gatewayBackend.js';
import { createGatewayServer, DownstreamToolList, listDownstreamTools } from './gatewayServer.js';
import type { HandoffAgent } from './handoffAgent.js';
import { createLocalApprovalsClient } from './localApprovalsClient.js';

type Harness = Awaited<ReturnType<typeof createAppHarness>>;
type ToolResult = {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
};
type LogLine = { level: string; logger?: string; data: Record<string, unknown> };

let h: Harness;
let baseUrl: string;
const closers: (() => Promise<unknown>)[] = [];
/** Every client's tool results, checked against the declared outputSchemas after each test. */
const strict: ReturnType<typeof recordToolResults>[] = [];

beforeEach(async () => {
  h = await createAppHarness({ progressIntervalMs: 100 });
  baseUrl = await h.listen();
});
afterEach(async () => {
  for (const recorder of strict.splice(0)) expect(await recorder.violations()).toEqual([]);
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  await h.close();
});

const bearer = (key = h.agent.key) => ({ headers: { authorization: `Bearer ${key}` } });

async function connectV2(
  era: 'legacy' | 'modern',
  options: ConstructorParameters<typeof Client>[1] = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client(
    { name: 'features-test', version: '1.0.0' },
    {
      ...options,
      ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}),
    },
  );
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
    requestInit: bearer(),
  });
  await client.connect(transport);
  closers.push(() => client.close());
  strict.push(recordToolResults(client, transport));
  return { client, transport };
}

const secretDetails = { amount: 5, password: 'hunter2', to: 'ACME' };

describe('logging: logging/setLevel and redacted log notifications', () => {
  it('declares logging, and on 2025-11-25 sends log lines at or above the level the client set, redacted', async () => {
    const lines: LogLine[] = [];
    const { client, transport } = await connectV2('legacy');
    expect(client.getServerCapabilities()?.logging).toBeDefined();
    expect(transport.sessionId).toMatch(/^mcps_/);
    client.setNotificationHandler('notifications/message', (n) => {
      lines.push(n.params as LogLine);
    });

    await client.setLoggingLevel('error');
    await client.callTool({
      name: 'request_approval',
      arguments: { action_description: 'Pay ACME', action_details: secretDetails },
    });
    expect(lines).toEqual([]);

    await client.setLoggingLevel('info');
    const created = (await client.callTool({
      name: 'request_approval',
      arguments: { action_description: 'Pay ACME', action_details: secretDetails },
    })) as ToolResult;
    const pauseId = created.structuredContent?.['pause_id'];
    await expect.poll(() => lines.length).toBeGreaterThan(0);
    const line = lines.find((l) => l.data['message'] === 'approval requested');
    expect(line).toMatchObject({
      level: 'info',
      logger: 'loopgate',
      data: {
        pause_id: pauseId,
        action_details: { amount: 5, password: '[redacted]', to: 'ACME' },
      },
    });
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it('sends the 2026-07-28 client its log lines at the level it asked for, redacted', async () => {
    const lines: LogLine[] = [];
    const { client } = await connectV2('modern');
    client.setNotificationHandler('notifications/message', (n) => {
      lines.push(n.params as LogLine);
    });
    // 2026-07-28 has no logging/setLevel: the level rides in each request's _meta.
    await client.callTool({
      name: 'request_approval',
      arguments: { action_description: 'Pay ACME', action_details: secretDetails },
    });
    expect(lines).toEqual([]);
    await client.callTool({
      name: 'request_approval',
      arguments: { action_description: 'Pay ACME', action_details: secretDetails },
      _meta: { [LOG_LEVEL_META_KEY]: 'info' },
    });
    await expect.poll(() => lines.length).toBeGreaterThan(0);
    expect(lines[0]?.data).toMatchObject({
      message: 'approval requested',
      action_details: { password: '[redacted]' },
    });
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it('gives a v1 SDK client a session, honours its log level and redacts its log lines', async () => {
    const client = new ClientV1({ name: 'v1-client', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransportV1(new URL(`${baseUrl}/mcp`), {
      requestInit: bearer(),
    });
    await client.connect(transport);
    closers.push(() => client.close());
    expect(transport.sessionId).toMatch(/^mcps_/);
    const lines: LogLine[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      lines.push(n.params as LogLine);
    });
    await client.setLoggingLevel('warning');
    await client.callTool({
      name: 'request_approval',
      arguments: { action_description: 'Pay ACME', action_details: secretDetails },
    });
    await client.callTool({ name: 'check_approval', arguments: { pause_id: 'pa_nope' } });
    await expect.poll(() => lines.length).toBeGreaterThan(0);
    expect(lines.map((l) => [l.level, l.data['message']])).toEqual([
      ['warning', 'tool call refused'],
    ]);
    expect(lines[0]?.data['error_code']).toBe('E_APPROVAL_NOT_FOUND');
  });
});

describe('2025-11-25 streamable-HTTP sessions', () => {
  it('issues Mcp-Session-Id on initialize, serves the session, and refuses it to another agent key', async () => {
    const { client, transport } = await connectV2('legacy');
    const sessionId = transport.sessionId!;
    // Two calls on one session: the session's own server answers both.
    await client.callTool({ name: 'check_approval', arguments: { pause_id: 'pa_nope' } });
    const other = await createAgentKey(h.store, 'other-agent', Date.now());
    const stolen = await fetch(`${baseUrl}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${other.key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sessionId,
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(stolen.status).toBe(404);
    expect(await stolen.text()).toMatch(/Session not found/);

    const modern = await connectV2('modern');
    expect(modern.transport.sessionId).toBeUndefined();
  });

  it('answers a 2026-07-28 initialize (a removed method) 404 with -32601 and opens no session', async () => {
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
      'io.modelcontextprotocol/clientInfo': { name: 'features-test', version: '1.0.0' },
    };
    const response = await fetch(`${baseUrl}/mcp`, {
      method: 'POST',
      headers: {
        ...bearer().headers,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'initialize',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'initialize',
        params: { _meta: meta },
      }),
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('mcp-session-id')).toBeNull();
    expect(await response.json()).toMatchObject({ id: 7, error: { code: -32601 } });
  });
});

/** Every property of a JSON Schema (at any depth) has a description. */
function undescribed(schema: unknown, path = '$'): string[] {
  if (schema === null || typeof schema !== 'object') return [];
  const node = schema as Record<string, unknown>;
  const out: string[] = [];
  const properties = node['properties'] as Record<string, Record<string, unknown>> | undefined;
  for (const [name, property] of Object.entries(properties ?? {})) {
    if (typeof property['description'] !== 'string') out.push(`${path}.${name}`);
    out.push(...undescribed(property, `${path}.${name}`));
  }
  for (const key of ['items', 'additionalProperties'])
    if (node[key] && typeof node[key] === 'object') out.push(...undescribed(node[key], path));
  for (const key of ['anyOf', 'oneOf', 'allOf'])
    for (const branch of (node[key] as unknown[] | undefined) ?? [])
      out.push(...undescribed(branch, path));
  return out;
}

const validationKeywords = ['type', '$ref', 'anyOf', 'oneOf', 'allOf', 'enum', 'const', 'not'];
/**
 * What `@modelcontextprotocol/inspector --cli --strict` warns about in a tool schema, at any
 * depth: a `type` array (clients that map schemas onto a one-type dialect reject it) and a
 * subschema with no validation keyword (it accepts anything, like a bare `true`).
 */
function unportable(schema: unknown, path = '$'): string[] {
  if (schema === null || typeof schema !== 'object') return [];
  const node = schema as Record<string, unknown>;
  const out: string[] = [];
  if (Array.isArray(node['type'])) out.push(`${path}: type array`);
  if (!validationKeywords.some((k) => k in node)) out.push(`${path}: no validation keyword`);
  const children: [string, unknown][] = [];
  for (const key of ['properties', '$defs'])
    for (const [name, sub] of Object.entries((node[key] as object | undefined) ?? {}))
      children.push([`${path}.${key === '$defs' ? '$defs.' : ''}${name}`, sub]);
  for (const key of ['items', 'additionalProperties'])
    if (node[key] && typeof node[key] === 'object') children.push([`${path}.${key}`, node[key]]);
  for (const key of ['anyOf', 'oneOf', 'allOf'])
    ((node[key] as unknown[] | undefined) ?? []).forEach((branch, i) =>
      children.push([`${path}.${key}[${i}]`, branch]),
    );
  for (const [at, sub] of children) out.push(...unportable(sub, at));
  return out;
}

/** The handoff agent side, as views the relay would give: the tools' result shapes only. */
function handoffAgentStub(): HandoffAgent {
  const view = (status: HandoffView['status']): HandoffView => ({
    session_id: 'ho_1',
    agent_id: 'claude',
    service: 'Acme Bank',
    status,
    viewer_connected: status === 'active',
    ...(status === 'cancelled' ? { detail: 'the agent cancelled' } : {}),
    created_at: new Date().toISOString(),
    expires_at: new Date(Date.now() + 600_000).toISOString(),
  });
  return {
    start: () =>
      Promise.resolve({
        session_id: 'ho_1',
        session_url: 'http://127.0.0.1:7878/handoff/ho_1?t=x#k=y',
        expires_at: new Date(Date.now() + 600_000).toISOString(),
      }),
    get: () => Promise.resolve(view('resolved')),
    waitForChange: () => Promise.resolve(view('active')),
    cancel: () => Promise.resolve(view('cancelled')),
    viewerState: () => null,
  } as unknown as HandoffAgent;
}

describe('output schemas', () => {
  it('every structured result validates against its tool’s outputSchema, and every property is described and portable', async () => {
    const approvals = createLocalApprovalsClient({
      service: h.service,
      agentId: 'claude',
      jwks: () => h.jwks,
    });
    const server = createMcpServer(approvals, { handoff: handoffAgentStub() });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'strict', version: '1.0.0' });
    await client.connect(clientSide);
    closers.push(() => client.close());
    strict.push(recordToolResults(client, clientSide));

    const { tools } = await client.listTools();
    const ajv = new AjvJsonSchemaValidator();
    const schemas = new Map(tools.map((t) => [t.name, t.outputSchema]));
    for (const tool of tools) {
      expect(tool.outputSchema, `${tool.name} declares an outputSchema`).toBeDefined();
      expect(undescribed(tool.outputSchema), tool.name).toEqual([]);
      expect(undescribed(tool.inputSchema), tool.name).toEqual([]);
      expect(unportable(tool.outputSchema), tool.name).toEqual([]);
      expect(unportable(tool.inputSchema), tool.name).toEqual([]);
    }
    const call = async (name: string, args: Record<string, unknown>) => {
      // The SDK client itself validates every successful result against the declared schema.
      const result = (await client.callTool({ name, arguments: args })) as ToolResult;
      expect(result.structuredContent, `${name} returns structuredContent`).toBeDefined();
      const check = ajv.getValidator(schemas.get(name)!)(result.structuredContent);
      expect(check.valid ? '' : check.errorMessage, `${name} ${JSON.stringify(args)}`).toBe('');
      return result;
    };

    const created = await call('request_approval', {
      action_description: 'Pay',
      action_details: { amount: 1 },
    });
    const pauseId = created.structuredContent!['pause_id'] as string;
    await call('check_approval', { pause_id: pauseId });
    await call('wait_for_approval', { pause_id: pauseId, max_wait_seconds: 0 });
    await h.service.decide(pauseId, {
      decision: 'rejected',
      comment: 'no',
      responder: 'admin',
      channel: 'web',
    });
    const decided = await call('wait_for_approval', { pause_id: pauseId });
    expect(decided.isError).toBe(true);
    await call('verify_receipt', { result: decided.structuredContent });
    const invalid = await call('verify_receipt', { receipt: 'not.a.jws' });
    expect(invalid.isError).toBe(true);
    const second = await call('request_approval', { action_description: 'x', action_details: {} });
    await call('cancel_approval', { pause_id: second.structuredContent!['pause_id'] });

    await call('browser_handoff', { service: 'Acme Bank' });
    await call('wait_for_handoff', { session_id: 'ho_1', max_wait_seconds: 0 });
    await call('cancel_handoff', { session_id: 'ho_1' });
    await call('authloop_handoff', { service: 'Acme Bank' });
  });

  it('annotations agree with behaviour', async () => {
    const server = createMcpServer({} as ApprovalsClient, { handoff: handoffAgentStub() });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'annotations', version: '1.0.0' });
    await client.connect(clientSide);
    closers.push(() => client.close());
    const { tools } = await client.listTools();
    const hints = Object.fromEntries(tools.map((t) => [t.name, t.annotations]));
    expect(hints['cancel_approval']?.idempotentHint).toBe(true);
    expect(hints['cancel_handoff']?.idempotentHint).toBe(true);
    // request_approval may notify a human over Slack, email or a webhook.
    expect(hints['request_approval']?.openWorldHint).toBe(true);
    expect(hints['check_approval']?.readOnlyHint).toBe(true);
    // loopgate's own tool list never changes while a client is connected.
    expect(client.getServerCapabilities()?.tools?.listChanged).toBeFalsy();
  });
});

describe('loopgate proxy follows the wrapped server’s tool list', () => {
  async function startProxy() {
    const wrapped = new McpServer({ name: 'bank', version: '1.0.0' });
    wrapped.registerTool(
      'balance',
      { description: 'Read the balance.', inputSchema: z.object({}) },
      () => ({ content: [{ type: 'text', text: '100' }] }),
    );
    const tools = new DownstreamToolList();
    const downstream = createDownstreamClient({
      onToolsChanged: (list) => tools.replace(list),
    });
    const [down, up] = InMemoryTransport.createLinkedPair();
    await wrapped.connect(up);
    await downstream.connect(down);
    closers.push(() => downstream.close());
    tools.replace(await listDownstreamTools(downstream));
    const parsed = parsePolicy(
      'default: none\nrules:\n  - {tool: wire_money, gate: approve}\n',
      'policy.yaml',
    );
    if (!parsed.ok) throw new Error(parsed.message);
    const held: string[] = [];
    const backend = {
      consumeToolApproval: () => Promise.resolve(null),
      requestToolApproval: (call: { tool: string }) => {
        held.push(call.tool);
        return Promise.resolve({
          pause_id: 'pa_held',
          approval_url: 'http://127.0.0.1:7878/approvals/pa_held',
          gate: { type: 'approve' },
          expires_at: new Date(Date.now() + 60_000).toISOString(),
          action_hash: 'x',
        } as ApprovalView);
      },
    } as unknown as GatewayBackend;
    return { wrapped, tools, downstream, backend, policy: parsed.value, held };
  }

  for (const era of ['legacy', 'modern'] as const) {
    it(`tells its own client, with the policy re-applied (${era === 'legacy' ? '2025-11-25' : '2026-07-28'})`, async () => {
      const proxy = await startProxy();
      const gateway = createGatewayServer({
        downstream: proxy.downstream,
        tools: proxy.tools,
        policy: proxy.policy,
        backend: proxy.backend,
        approvals: {} as ApprovalsClient,
      });
      const seen: string[][] = [];
      const client = new Client(
        { name: 'agent', version: '1.0.0' },
        {
          listChanged: {
            tools: {
              debounceMs: 0,
              onChanged: (_error, tools) => {
                if (tools) seen.push(tools.map((t) => t.name));
              },
            },
          },
          ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}),
        },
      );
      const { serveStdio } = await import('@modelcontextprotocol/server/stdio');
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      const handle = serveStdio(() => gateway, { transport: serverSide });
      closers.push(() => handle.close());
      await client.connect(clientSide);
      closers.push(() => client.close());
      expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);
      expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('wire_money');

      proxy.wrapped.registerTool(
        'wire_money',
        { description: 'Send money.', inputSchema: z.object({ amount: z.number() }) },
        () => ({ content: [{ type: 'text', text: 'sent' }] }),
      );
      await expect.poll(() => seen.at(-1) ?? []).toContain('wire_money');
      const listed = (await client.listTools()).tools.find((t) => t.name === 'wire_money');
      expect(listed?.description).toMatch(/\[loopgate\].*approv/i);
      const result = (await client.callTool({
        name: 'wire_money',
        arguments: { amount: 5 },
      })) as ToolResult;
      expect(result.isError).toBe(true);
      expect(result.content[0]?.text).toMatch(/^APPROVAL REQUIRED/);
      expect(proxy.held).toEqual(['wire_money']);

      proxy.wrapped.registerTool('audit', { inputSchema: z.object({}) }, () => ({
        content: [{ type: 'text', text: 'ok' }],
      }));
      await expect.poll(() => seen.at(-1) ?? []).toContain('audit');
    });
  }
});
