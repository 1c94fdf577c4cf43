import {
  Client as ClientV2,
  StreamableHTTPClientTransport as StreamableHTTPClientTransportV2,
} from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as StreamableHTTPClientTransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { InMemoryTransport } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  decideAsHuman,
  useListeningAppHarness,
  useStrictToolResults,
  type AppHarness,
  type ToolResult,
} from '../../test/support/mcpHarness.js';
import { scriptedHandoff } from '../../test/support/scriptedHandoff.js';
import { recordToolResults } from '../../test/support/toolResultRecorder.js';
import { LoopgateError } from '../core/errors.js';
import type { HandoffView } from '../handoff/handoffView.js';
import { createAgentKey } from '../service/operatorAuth.js';
import type { ApprovalsClient } from './approvalsClient.js';
import { createMcpServer } from './createMcpServer.js';
import type { HandoffAgent } from './handoffAgent.js';

let h: AppHarness;
let baseUrl: string;
const closers = useListeningAppHarness({ progressIntervalMs: 100 }, (started, url) => {
  h = started;
  baseUrl = url;
});
const strict = useStrictToolResults();

/** A v1 SDK client (it implements 2025-11-25 tasks) on a streamable-HTTP session. */
async function connectV1(key = h.agent.key): Promise<ClientV1> {
  const client = new ClientV1({ name: 'tasks-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransportV1(new URL(`${baseUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  closers.push(() => client.close());
  strict.push(recordToolResults(client, transport as never));
  await client.listTools();
  return client;
}

async function requestApproval(client: ClientV1): Promise<string> {
  const created = (await client.callTool({
    name: 'request_approval',
    arguments: { action_description: 'Rotate the prod keys', action_details: {} },
  })) as ToolResult;
  return created.structuredContent!['pause_id'] as string;
}

const humanDecides = (pauseId: string, decision: 'approved' | 'rejected') =>
  decideAsHuman(h, pauseId, decision, decision === 'rejected' ? 'not today' : 'go');

const startTask = (client: ClientV1, pauseId: string) =>
  client.request(
    {
      method: 'tools/call',
      params: { name: 'wait_for_approval', arguments: { pause_id: pauseId }, task: {} },
    },
    CreateTaskResultSchema,
  );

describe('wait_for_approval as a 2025-11-25 task', () => {
  it('declares tasks; the host polls tasks/get and the decision is the task’s result', async () => {
    const client = await connectV1();
    expect(client.getServerCapabilities()?.tasks?.requests?.tools?.call).toBeDefined();
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'wait_for_approval')?.execution).toEqual({
      taskSupport: 'optional',
    });
    const pauseId = await requestApproval(client);

    const seen: string[] = [];
    let result: ToolResult | undefined;
    for await (const message of client.experimental.tasks.callToolStream({
      name: 'wait_for_approval',
      arguments: { pause_id: pauseId },
    })) {
      if (message.type === 'taskCreated') seen.push('created');
      if (message.type === 'taskStatus') {
        seen.push(message.task.status);
        // The human decides while the host polls.
        if (message.task.status === 'working' && !seen.includes('decided')) {
          seen.push('decided');
          await humanDecides(pauseId, 'approved');
        }
      }
      if (message.type === 'result') result = message.result as ToolResult;
      if (message.type === 'error') throw message.error;
    }
    expect(seen.slice(0, 3)).toEqual(['created', 'working', 'decided']);
    expect(seen.at(-1)).toBe('completed');
    expect(result?.isError).toBeFalsy();
    expect(result?.structuredContent).toMatchObject({
      pause_id: pauseId,
      status: 'responded',
      response: { decision: 'approved', responder: 'admin' },
    });
  });

  it('a rejection is the task’s result too, with the human’s reason', async () => {
    const client = await connectV1();
    const pauseId = await requestApproval(client);
    const { task } = await startTask(client, pauseId);
    await humanDecides(pauseId, 'rejected');
    const result = (await client.experimental.tasks.getTaskResult(
      task.taskId,
      CallToolResultSchema,
    )) as ToolResult;
    expect(result.isError).toBe(true);
    expect(result.content[0]?.text).toMatch(/^REJECTED by admin.*not today/);
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
  });

  it('tasks/cancel stops the wait and leaves the approval request pending', async () => {
    const client = await connectV1();
    const pauseId = await requestApproval(client);
    const { task } = await startTask(client, pauseId);
    expect(task.status).toBe('working');
    const cancelled = await client.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled.status).toBe('cancelled');
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('cancelled');
    await expect(
      client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema),
    ).rejects.toThrow(/ended without a result: cancelled/);
    expect((await h.service.getApproval(pauseId)).status).toBe('pending');
    await expect(client.experimental.tasks.cancelTask(task.taskId)).rejects.toThrow(
      /cannot be cancelled/,
    );
  });

  it('no task for another agent’s request', async () => {
    const pauseId = await requestApproval(await connectV1());
    const other = await createAgentKey(h.store, 'other-agent', Date.now());
    const thief = await connectV1(other.key);
    await expect(startTask(thief, pauseId)).rejects.toThrow(/E_APPROVAL_NOT_FOUND/);
  });

  it('a 2026-07-28 call carrying params.task is the plain tool (no core tasks on that revision)', async () => {
    const client = new ClientV2(
      { name: 'tasks-test', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    const transport = new StreamableHTTPClientTransportV2(new URL(`${baseUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${h.agent.key}` } },
    });
    await client.connect(transport);
    closers.push(() => client.close());
    strict.push(recordToolResults(client, transport));
    const created = (await client.callTool({
      name: 'request_approval',
      arguments: { action_description: 'Rotate the prod keys', action_details: {} },
    })) as ToolResult;
    const pauseId = created.structuredContent!['pause_id'] as string;
    const result = (await client.request(
      {
        method: 'tools/call',
        params: {
          name: 'wait_for_approval',
          arguments: { pause_id: pauseId, max_wait_seconds: 0 },
          task: {},
        },
      },
      z.object({ task: z.unknown().optional() }).passthrough(),
    )) as Record<string, unknown>;
    expect(result['task']).toBeUndefined();
    expect(result['structuredContent']).toMatchObject({ pause_id: pauseId, status: 'pending' });
  });

  it('a call without a task is today’s bounded long-poll', async () => {
    const client = await connectV1();
    const pauseId = await requestApproval(client);
    const pending = (await client.callTool({
      name: 'wait_for_approval',
      arguments: { pause_id: pauseId, max_wait_seconds: 0 },
    })) as ToolResult;
    expect(pending.structuredContent).toMatchObject({ status: 'pending' });
    expect(pending.content[0]?.text).toMatch(/^Still pending/);
  });
});

describe('wait_for_handoff as a 2025-11-25 task', () => {
  it('waits through every change until the handoff ends; its ending is the task’s result', async () => {
    const statuses: HandoffView['status'][] = ['active', 'active', 'resolved'];
    const view = (status: HandoffView['status']): HandoffView => ({
      session_id: 'ho_1',
      agent_id: 'claude',
      service: 'Acme Bank',
      status,
      viewer_connected: status === 'active',
      created_at: new Date().toISOString(),
      expires_at: new Date(Date.now() + 600_000).toISOString(),
    });
    let waits = 0;
    const handoff = {
      get: (id: string) =>
        id === 'ho_1'
          ? Promise.resolve(view('pending'))
          : Promise.reject(new LoopgateError('E_HANDOFF_NOT_FOUND', `No handoff "${id}".`)),
      waitForChange: () => Promise.resolve(view(statuses[Math.min(waits++, 2)]!)),
    } as unknown as HandoffAgent;
    const server = createMcpServer({} as ApprovalsClient, { handoff });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new ClientV1({ name: 'tasks-test', version: '1.0.0' });
    await client.connect(clientSide as unknown as Transport);
    closers.push(() => client.close());
    strict.push(recordToolResults(client, clientSide));

    const { task } = await client.request(
      {
        method: 'tools/call',
        params: { name: 'wait_for_handoff', arguments: { session_id: 'ho_1' }, task: {} },
      },
      CreateTaskResultSchema,
    );
    const result = (await client.experimental.tasks.getTaskResult(
      task.taskId,
      CallToolResultSchema,
    )) as ToolResult;
    expect(waits).toBe(3);
    expect(result.content[0]?.text).toMatch(/^RESOLVED: the human pressed Done/);
    expect(result.structuredContent).toMatchObject({ session_id: 'ho_1', status: 'resolved' });

    await expect(
      client.request(
        {
          method: 'tools/call',
          params: { name: 'wait_for_handoff', arguments: { session_id: 'ho_2' }, task: {} },
        },
        CreateTaskResultSchema,
      ),
    ).rejects.toThrow(/E_HANDOFF_NOT_FOUND/);
  });
});

describe('authloop_handoff as a 2025-11-25 task (v2 client)', () => {
  const taskShape = z.object({
    taskId: z.string(),
    status: z.string(),
    statusMessage: z.string().optional(),
    pollInterval: z.number().optional(),
  });
  const createdShape = z.object({ task: taskShape });
  const resultShape = z.object({
    isError: z.boolean().optional(),
    content: z.array(z.object({ type: z.string(), text: z.string().optional() })),
    structuredContent: z.record(z.string(), z.unknown()).optional(),
  });

  async function connectV2(handoff: HandoffAgent) {
    const server = createMcpServer({} as ApprovalsClient, { handoff });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new ClientV2(
      { name: 'tasks-test', version: '1.0.0' },
      { capabilities: { tasks: { requests: { tools: { call: {} } } } } as never },
    );
    await client.connect(clientSide);
    closers.push(() => client.close());
    strict.push(recordToolResults(client, clientSide));
    return client;
  }

  const startAuthloop = (client: ClientV2) =>
    client.request(
      {
        method: 'tools/call',
        params: {
          name: 'authloop_handoff',
          arguments: { service: 'Acme Bank', cdp_url: 'http://127.0.0.1:9222' },
          task: {},
        },
      },
      createdShape,
    );
  const getTask = (client: ClientV2, taskId: string) =>
    client.request({ method: 'tasks/get', params: { taskId } } as never, taskShape);

  it('tasks/get shows the link while it works; the handoff’s ending is the task’s result', async () => {
    const script = scriptedHandoff();
    const client = await connectV2(script.handoff);
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'authloop_handoff')?.execution).toEqual({
      taskSupport: 'optional',
    });

    const { task } = await startAuthloop(client);
    expect(task.status).toBe('working');
    expect(task.statusMessage).toBe(`Waiting for the human. Send them: ${script.sessionUrl}`);

    script.set('active', true);
    await expect
      .poll(async () => (await getTask(client, task.taskId)).statusMessage)
      .toMatch(/^The human is connected, end-to-end encrypted/);
    expect((await getTask(client, task.taskId)).status).toBe('working');

    script.set('resolved', false);
    const result = await client.request(
      { method: 'tasks/result', params: { taskId: task.taskId } } as never,
      resultShape,
    );
    expect(result.isError).toBeFalsy();
    expect(result.content[0]?.text).toMatch(/^RESOLVED: the human pressed Done/);
    expect(result.structuredContent).toEqual({
      session_url: script.sessionUrl,
      status: 'resolved',
      session_id: 'ho_1',
    });
    expect((await getTask(client, task.taskId)).status).toBe('completed');
    expect(script.cancelled).toEqual([]);
  });

  it('tasks/cancel cancels the handoff the task started', async () => {
    const script = scriptedHandoff();
    const client = await connectV2(script.handoff);
    const { task } = await startAuthloop(client);
    const cancelled = await client.request(
      { method: 'tasks/cancel', params: { taskId: task.taskId } } as never,
      taskShape,
    );
    expect(cancelled.status).toBe('cancelled');
    expect(script.cancelled).toEqual(['ho_1']);
    expect((await getTask(client, task.taskId)).status).toBe('cancelled');
    await expect(
      client.request(
        { method: 'tasks/result', params: { taskId: task.taskId } } as never,
        resultShape,
      ),
    ).rejects.toThrow(/ended without a result: cancelled/);
  });

  it('a call without a task blocks as before and returns the same ending', async () => {
    const script = scriptedHandoff();
    const client = await connectV2(script.handoff);
    const call = client.callTool({
      name: 'authloop_handoff',
      arguments: { service: 'Acme Bank', cdp_url: 'http://127.0.0.1:9222' },
    });
    script.set('resolved', false);
    const result = (await call) as ToolResult;
    expect(result.structuredContent).toEqual({
      session_url: script.sessionUrl,
      status: 'resolved',
      session_id: 'ho_1',
    });
  });
});
