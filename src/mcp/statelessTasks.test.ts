import { createMcpHandler } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import {
  decideAsHuman,
  useListeningAppHarness,
  type AppHarness,
} from '../../test/support/mcpHarness.js';
import { LoopgateError } from '../core/errors.js';
import { createAgentKey } from '../service/operatorAuth.js';
import type { ApprovalsClient } from './approvalsClient.js';
import { createMcpServer } from './createMcpServer.js';
import { createTaskLedger } from './taskLedger.js';
import { tasksExtensionId } from './waitTasks.js';
import { scriptedHandoff } from '../../test/support/scriptedHandoff.js';
import { modernRpc, type Rpc } from '../../test/support/tasksClient.js';

let h: AppHarness;
let baseUrl: string | undefined;
useListeningAppHarness({}, (started, url) => {
  h = started;
  baseUrl = url;
});

/** A 2026-07-28 request from a client declaring the tasks extension (unless told otherwise). */
const rpc = (
  method: string,
  params: Record<string, unknown>,
  options: { declares?: boolean; key?: string; via?: (request: Request) => Promise<Response> } = {},
): Promise<Rpc> =>
  modernRpc(baseUrl ?? 'http://127.0.0.1', options.key ?? h.agent.key, method, params, options);

async function requestApproval(key?: string): Promise<string> {
  const created = await rpc(
    'tools/call',
    {
      name: 'request_approval',
      arguments: { action_description: 'Rotate the prod keys', action_details: {} },
    },
    key ? { key } : {},
  );
  return (created.result!['structuredContent'] as Record<string, string>)['pause_id']!;
}

async function startWait(pauseId: string, options: { key?: string } = {}) {
  return rpc(
    'tools/call',
    { name: 'wait_for_approval', arguments: { pause_id: pauseId } },
    options,
  );
}

const taskIdOf = (created: Rpc) => created.result!['taskId'] as string;

/** The cancel ack of SEP-2663: `resultType: "complete"` and no task envelope. */
function expectEmptyAck(answer: Rpc) {
  expect(answer.result?.['resultType']).toBe('complete');
  for (const field of ['taskId', 'status', 'result', 'error', 'inputRequests'])
    expect(answer.result).not.toHaveProperty(field);
}

describe('waits as tasks of the 2026-07-28 tasks extension', () => {
  it('advertises the extension, creates a flat task, and tasks/get carries the decision', async () => {
    const discovered = await rpc('server/discover', {});
    expect(
      (discovered.result!['capabilities'] as { extensions?: Record<string, unknown> }).extensions,
    ).toHaveProperty([tasksExtensionId]);

    const pauseId = await requestApproval();
    const created = await startWait(pauseId);
    expect(created.result).toMatchObject({
      resultType: 'task',
      status: 'working',
      ttlMs: expect.any(Number),
      pollIntervalMs: 1_000,
    });
    expect(created.result).not.toHaveProperty('task');
    expect(created.result).not.toHaveProperty('result');
    expect(Number.isInteger(created.result!['ttlMs'])).toBe(true);
    const taskId = taskIdOf(created);

    const working = await rpc('tasks/get', { taskId });
    expect(working.result).toMatchObject({ resultType: 'complete', taskId, status: 'working' });
    expect(working.result).not.toHaveProperty('result');

    await decideAsHuman(h, pauseId, 'approved', 'go');
    const done = await rpc('tasks/get', { taskId });
    expect(done.result).toMatchObject({ taskId, status: 'completed' });
    const result = done.result!['result'] as {
      isError?: boolean;
      structuredContent: Record<string, unknown>;
    };
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      pause_id: pauseId,
      status: 'responded',
      response: { decision: 'approved', comment: 'go' },
      receipt: expect.any(String),
    });

    const verified = await rpc('tools/call', {
      name: 'verify_receipt',
      arguments: { result: result.structuredContent },
    });
    expect(verified.result!['structuredContent']).toMatchObject({ valid: true, pause_id: pauseId });
    // The extension has no tasks/result: tasks/get carries the result.
    expect((await rpc('tasks/result', { taskId })).error?.code).toBe(-32601);
  });

  it('ends a rejected wait as a completed task whose result is an error', async () => {
    const pauseId = await requestApproval();
    const taskId = taskIdOf(await startWait(pauseId));
    await decideAsHuman(h, pauseId, 'rejected', 'not today');
    const done = await rpc('tasks/get', { taskId });
    expect(done.result).toMatchObject({
      status: 'completed',
      result: { isError: true, structuredContent: { response: { decision: 'rejected' } } },
    });
  });

  it('cancels the wait, not the request, and acknowledges a repeated or late cancel alike', async () => {
    const pauseId = await requestApproval();
    const taskId = taskIdOf(await startWait(pauseId));
    expectEmptyAck(await rpc('tasks/cancel', { taskId }));
    expect((await rpc('tasks/get', { taskId })).result).toMatchObject({ status: 'cancelled' });
    expectEmptyAck(await rpc('tasks/cancel', { taskId }));
    // The request waited on is unchanged: a human can still decide it.
    expect((await h.service.getApproval(pauseId)).status).toBe('pending');
    await decideAsHuman(h, pauseId, 'approved', 'go');
    expect((await rpc('tasks/get', { taskId })).result).toMatchObject({ status: 'cancelled' });

    // A task that already completed stays completed.
    const second = await requestApproval();
    const finished = taskIdOf(await startWait(second));
    await decideAsHuman(h, second, 'approved', 'go');
    expectEmptyAck(await rpc('tasks/cancel', { taskId: finished }));
    expect((await rpc('tasks/get', { taskId: finished })).result).toMatchObject({
      status: 'completed',
    });
  });

  it('gives a client that does not declare the extension the long-poll and refuses it tasks/*', async () => {
    const pauseId = await requestApproval();
    const plain = await rpc(
      'tools/call',
      { name: 'wait_for_approval', arguments: { pause_id: pauseId, max_wait_seconds: 1 } },
      { declares: false },
    );
    expect(plain.result).toMatchObject({
      resultType: 'complete',
      structuredContent: { pause_id: pauseId, status: 'pending' },
    });
    expect(plain.result).not.toHaveProperty('taskId');

    const taskId = taskIdOf(await startWait(pauseId));
    for (const method of ['tasks/get', 'tasks/cancel', 'tasks/update']) {
      const refused = await rpc(method, { taskId, inputResponses: {} }, { declares: false });
      expect(refused.error).toMatchObject({
        code: -32021,
        data: { requiredCapabilities: { extensions: { [tasksExtensionId]: {} } } },
      });
    }
    expect((await rpc('tasks/get', { taskId })).result).toMatchObject({ status: 'working' });
  });

  it('knows no task of another agent, and no task id that was changed or made up', async () => {
    const other = await createAgentKey(h.store, 'other-agent', Date.now());
    const pauseId = await requestApproval();
    const taskId = taskIdOf(await startWait(pauseId));

    // Another agent can neither read nor cancel it.
    for (const method of ['tasks/get', 'tasks/cancel']) {
      const refused = await rpc(method, { taskId }, { key: other.key });
      expect(refused.error?.code).toBe(-32602);
    }
    expect((await rpc('tasks/get', { taskId })).result).toMatchObject({ status: 'working' });

    // Nor start a task on this agent's request.
    const foreign = await startWait(pauseId, { key: other.key });
    expect(foreign.result).toBeUndefined();
    expect(foreign.error?.code).toBe(-32602);

    // A task id whose body names another request fails its MAC.
    const [label, body, tag] = taskId.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    const forged = `${label}.${Buffer.from(JSON.stringify({ ...claims, target: 'pa_other' })).toString('base64url')}.${tag}`;
    for (const bad of [forged, 'tasks-conformance-nonexistent-12345', `${taskId}x`]) {
      expect((await rpc('tasks/get', { taskId: bad })).error?.code).toBe(-32602);
      expect((await rpc('tasks/cancel', { taskId: bad })).error?.code).toBe(-32602);
    }
    await decideAsHuman(h, pauseId, 'approved', 'go');
    expect((await rpc('tasks/get', { taskId })).result).toMatchObject({ status: 'completed' });
  });
});

describe('a wait that cannot go on', () => {
  it('fails the task with the reason when its request is gone, and fails only the poll when the store is away', async () => {
    let answer: 'pending' | 'gone' | 'away' = 'pending';
    const client = {
      tasks: createTaskLedger({ agentId: 'claude' }),
      getApproval: (pauseId: string) => {
        if (answer === 'gone')
          return Promise.reject(
            new LoopgateError('E_APPROVAL_NOT_FOUND', `No request "${pauseId}".`),
          );
        if (answer === 'away')
          return Promise.reject(new LoopgateError('E_STORE_UNREACHABLE', 'The database is away.'));
        return Promise.resolve({ pause_id: pauseId, status: 'pending' });
      },
    } as unknown as ApprovalsClient;
    const handler = createMcpHandler(() => createMcpServer(client), { legacy: 'stateless' });
    const via = (request: Request) => handler.fetch(request);
    const taskId = taskIdOf(
      await rpc(
        'tools/call',
        { name: 'wait_for_approval', arguments: { pause_id: 'pa_1' } },
        { via },
      ),
    );
    answer = 'away';
    expect((await rpc('tasks/get', { taskId }, { via })).error).toBeDefined();
    answer = 'pending';
    expect((await rpc('tasks/get', { taskId }, { via })).result).toMatchObject({
      status: 'working',
    });
    answer = 'gone';
    const failed = (await rpc('tasks/get', { taskId }, { via })).result!;
    expect(failed).toMatchObject({
      status: 'failed',
      error: { code: -32603, message: expect.stringMatching(/^E_APPROVAL_NOT_FOUND: /) },
    });
    expect(failed).not.toHaveProperty('result');
  });
});

describe('handoff waits as tasks of the 2026-07-28 tasks extension (loopgate mcp)', () => {
  /** The scripted handoff, served as loopgate mcp serves 2026-07-28: an instance per request. */
  function scriptedHandoffServer() {
    const script = scriptedHandoff();
    const client = { tasks: createTaskLedger({ agentId: 'claude' }) } as unknown as ApprovalsClient;
    const handler = createMcpHandler(() => createMcpServer(client, { handoff: script.handoff }), {
      legacy: 'stateless',
    });
    return { ...script, via: (request: Request) => handler.fetch(request) };
  }

  it('authloop_handoff: tasks/get shows the link while it works, and the ending is the result', async () => {
    const script = scriptedHandoffServer();
    const { via } = script;
    const created = await rpc(
      'tools/call',
      {
        name: 'authloop_handoff',
        arguments: { service: 'Acme Bank', cdp_url: 'http://127.0.0.1:9222' },
      },
      { via },
    );
    expect(created.result).toMatchObject({ resultType: 'task', status: 'working' });
    const taskId = taskIdOf(created);
    expect((await rpc('tasks/get', { taskId }, { via })).result).toMatchObject({
      status: 'working',
      statusMessage: `Waiting for the human. Send them: ${script.sessionUrl}`,
    });
    script.set('active', true);
    expect((await rpc('tasks/get', { taskId }, { via })).result?.['statusMessage']).toMatch(
      /^The human is connected, end-to-end encrypted/,
    );
    script.set('resolved', false);
    expect((await rpc('tasks/get', { taskId }, { via })).result).toMatchObject({
      status: 'completed',
      result: {
        structuredContent: {
          session_url: script.sessionUrl,
          status: 'resolved',
          session_id: 'ho_1',
        },
      },
    });
    expect(script.cancelled).toEqual([]);
  });

  it('authloop_handoff: tasks/cancel cancels the handoff the task started', async () => {
    const script = scriptedHandoffServer();
    const { via } = script;
    const taskId = taskIdOf(
      await rpc(
        'tools/call',
        {
          name: 'authloop_handoff',
          arguments: { service: 'Acme Bank', cdp_url: 'http://127.0.0.1:9222' },
        },
        { via },
      ),
    );
    expectEmptyAck(await rpc('tasks/cancel', { taskId }, { via }));
    expect(script.cancelled).toEqual(['ho_1']);
    expect((await rpc('tasks/get', { taskId }, { via })).result).toMatchObject({
      status: 'cancelled',
    });
  });

  it('wait_for_handoff: a task on an existing session, and none on an unknown one', async () => {
    const script = scriptedHandoffServer();
    const { via } = script;
    const taskId = taskIdOf(
      await rpc(
        'tools/call',
        { name: 'wait_for_handoff', arguments: { session_id: 'ho_1' } },
        { via },
      ),
    );
    expect((await rpc('tasks/get', { taskId }, { via })).result).toMatchObject({
      status: 'working',
    });
    script.set('resolved', false);
    expect((await rpc('tasks/get', { taskId }, { via })).result).toMatchObject({
      status: 'completed',
      result: { structuredContent: { session_id: 'ho_1', status: 'resolved' } },
    });
    const unknown = await rpc(
      'tools/call',
      { name: 'wait_for_handoff', arguments: { session_id: 'ho_2' } },
      { via },
    );
    expect(unknown.error).toMatchObject({
      code: -32602,
      message: expect.stringMatching(/E_HANDOFF_NOT_FOUND/),
    });
  });
});
