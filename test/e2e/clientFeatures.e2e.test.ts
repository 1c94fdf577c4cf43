import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchTestBrowser, signInWithLink, type TestBrowser } from '../support/chromium.js';
import { cliPath, runCli, startServe, type ServeProcess } from '../support/cli.js';
import { tasksExtensionId } from '../../src/mcp/waitTasks.js';
import { modernRpc } from '../support/tasksClient.js';
import { waitFor } from '../support/waitFor.js';

// What a client declares decides how loopgate points the human at the approval page: URL
// elicitation (2025-11-25), an input-required result (2026-07-28), a task for the wait
// (2025-11-25 tasks, or the 2026-07-28 tasks extension), or, declaring none, the approval_url in
// the tool's text. Each is driven here
// by a real SDK client against the built CLI, with the human deciding in Chromium.

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
type Elicitation = { mode?: string; url?: string; elicitationId?: string; message: string };

let browser: TestBrowser;
let serve: ServeProcess;
let serveDir: string;
let agentKey: string;
const dirs: string[] = [];
const clients: { close(): Promise<void> }[] = [];

function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-e2e-features-'));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  browser = await launchTestBrowser();
  serveDir = tempDataDir();
  serve = await startServe(serveDir);
  const created = await runCli(['keys', 'create', '--name', 'features', '--data-dir', serveDir]);
  expect(created.code, created.stderr).toBe(0);
  agentKey = created.stdout.trim();
}, 120_000);
afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  await serve?.stop('SIGKILL');
  await browser?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A human signs in to the data dir's loopgate through a one-time link, opens exactly `url` in
 * Chromium and presses Approve; returns the receipt the page shows.
 */
async function approveInChromium(dataDir: string, url: string): Promise<string> {
  const link = await runCli(['login-url', '--data-dir', dataDir]);
  expect(link.code, link.stderr).toBe(0);
  const page: Page = await browser.browser.newPage();
  try {
    await signInWithLink(page, link.stdout.trim());
    await page.goto(url);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
    return await page.getByLabel('Receipt').inputValue();
  } finally {
    await page.close();
  }
}

/** A v2 client on `serve`'s /mcp, declaring URL elicitation (or nothing), recording what it is asked. */
async function connectV2(options: {
  declares: boolean;
  revision: '2025-11-25' | '2026-07-28';
  manual?: boolean;
}) {
  const asked: Elicitation[] = [];
  const completed: string[] = [];
  const client = new ClientV2(
    { name: 'e2e-features', version: '1.0.0' },
    {
      capabilities: options.declares ? { elicitation: { url: {} } } : {},
      ...(options.revision === '2026-07-28'
        ? { versionNegotiation: { mode: { pin: '2026-07-28' } } }
        : {}),
      ...(options.manual ? { inputRequired: { autoFulfill: false } } : {}),
    },
  );
  if (options.declares) {
    client.setRequestHandler('elicitation/create', (request) => {
      asked.push(request.params as Elicitation);
      return { action: 'accept' };
    });
    client.setNotificationHandler('notifications/elicitation/complete', (n) => {
      completed.push(n.params.elicitationId);
    });
  }
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${serve.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${agentKey}` } },
    }),
  );
  clients.push(client);
  expect(client.getNegotiatedProtocolVersion()).toBe(options.revision);
  return { client, asked, completed };
}

const approvalArgs = (what: string) => ({
  action_description: what,
  action_details: { target: what },
});

/** The decided view through a tool, and its receipt checked by verify_receipt. */
async function expectApprovedAndVerified(
  call: (name: string, args: Record<string, unknown>) => Promise<ToolResult>,
  view: ToolResult,
  pauseId: string,
  receiptOnPage: string,
) {
  expect(view.isError).toBeFalsy();
  expect(view.structuredContent).toMatchObject({
    pause_id: pauseId,
    status: 'responded',
    response: { decision: 'approved', responder: 'admin', channel: 'web' },
  });
  const receipt = view.structuredContent!['receipt'] as string;
  expect(receipt).toBe(receiptOnPage);
  const verified = await call('verify_receipt', { result: view.structuredContent });
  expect(verified.isError, verified.content[0]?.text).toBeFalsy();
  expect(verified.structuredContent).toMatchObject({
    valid: true,
    pause_id: pauseId,
    decision: 'approved',
    responder: 'admin',
  });
}

describe('a v2 client on 2025-11-25 that declares URL elicitation', () => {
  it('is asked to open the approval page; once a human approved it in Chromium it is told, and the approval carries a valid receipt', async () => {
    const { client, asked, completed } = await connectV2({
      declares: true,
      revision: '2025-11-25',
    });
    const call = (name: string, args: Record<string, unknown>) =>
      client.callTool({ name, arguments: args }) as Promise<ToolResult>;

    const created = await call('request_approval', approvalArgs('Rotate the billing API key'));
    const { pause_id, approval_url, elicitation } = created.structuredContent as Record<
      string,
      string
    >;
    expect(elicitation).toBe('accept');
    expect(asked).toEqual([
      expect.objectContaining({ mode: 'url', url: approval_url, message: expect.any(String) }),
    ]);
    expect(approval_url).toBe(`${serve.url}/approvals/${pause_id}`);
    expect(completed).toEqual([]);

    // The human opens exactly the URL the client was given.
    const receiptOnPage = await approveInChromium(serveDir, asked[0]!.url!);
    await waitFor('notifications/elicitation/complete', () => completed.length > 0);
    expect(completed).toEqual([asked[0]!.elicitationId]);

    const decided = await call('wait_for_approval', { pause_id });
    await expectApprovedAndVerified(call, decided, pause_id!, receiptOnPage);
    const checked = await call('check_approval', { pause_id });
    expect(checked.structuredContent).toMatchObject({
      status: 'responded',
      receipt: receiptOnPage,
    });
  });
});

describe('a v2 client on 2026-07-28 that declares URL elicitation', () => {
  it('gets an input-required result naming the approval page; after a human approved it in Chromium, the retry with the requestState continues the same request, approved', async () => {
    const { client } = await connectV2({
      declares: true,
      revision: '2026-07-28',
      manual: true,
    });
    const call = (name: string, args: Record<string, unknown>) =>
      client.callTool({ name, arguments: args }) as Promise<ToolResult>;
    const args = approvalArgs('Drop the staging database');

    const first = (await client.callTool(
      { name: 'request_approval', arguments: args },
      { allowInputRequired: true },
    )) as unknown as InputRequired;
    expect(first.resultType).toBe('input_required');
    const asked = first.inputRequests['approval_page']!;
    expect(asked).toMatchObject({ method: 'elicitation/create', params: { mode: 'url' } });
    const url = asked.params['url'] as string;
    expect(url).toMatch(new RegExp(`^${serve.url}/approvals/pa_`));

    const receiptOnPage = await approveInChromium(serveDir, url);

    const retried = (await client.callTool(
      {
        name: 'request_approval',
        arguments: args,
        inputResponses: { approval_page: { action: 'accept' } },
        requestState: first.requestState,
      } as never,
      { allowInputRequired: true },
    )) as ToolResult;
    expect(retried.isError, retried.content[0]?.text).toBeFalsy();
    const { pause_id, approval_url, elicitation, status } = retried.structuredContent as Record<
      string,
      string
    >;
    // The retry says the human approved, not "requested".
    expect(status).toBe('responded');
    expect(retried.content[0]?.text).toMatch(/^APPROVED by admin at /);
    // The retry continued the first round's request (the page the human decided on).
    expect(approval_url).toBe(url);
    expect(elicitation).toBe('accept');

    const decided = await call('check_approval', { pause_id });
    await expectApprovedAndVerified(call, decided, pause_id!, receiptOnPage);
  });
});

describe('a v1 client over stdio (loopgate mcp) that runs wait_for_approval as a task', () => {
  let dataDir: string;
  let client: ClientV1;

  beforeAll(async () => {
    dataDir = tempDataDir();
    client = new ClientV1(
      { name: 'e2e-features-v1', version: '1.0.0' },
      { capabilities: { tasks: { requests: {} } } },
    );
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [cliPath, 'mcp', '--data-dir', dataDir, '--port', '0'],
        stderr: 'pipe',
      }),
    );
    clients.push(client);
  }, 120_000);

  it('polls the task while a human approves in Chromium; the approval is the task’s result', async () => {
    const call = (name: string, args: Record<string, unknown>) =>
      client.callTool({ name, arguments: args }) as Promise<ToolResult>;
    expect(client.getServerCapabilities()?.tasks?.requests?.tools?.call).toBeDefined();
    // The host reads the tool list first: callToolStream runs a tool as a task when it says so.
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'wait_for_approval')?.execution).toEqual({
      taskSupport: 'optional',
    });
    const created = await call('request_approval', approvalArgs('Wire $9,000 to ACME Corp'));
    const { pause_id, approval_url } = created.structuredContent as Record<string, string>;

    const seen: string[] = [];
    let approving: Promise<string> | undefined;
    let result: ToolResult | undefined;
    for await (const message of client.experimental.tasks.callToolStream({
      name: 'wait_for_approval',
      arguments: { pause_id },
    })) {
      if (message.type === 'taskCreated') seen.push('created');
      if (message.type === 'taskStatus') {
        seen.push(message.task.status);
        // The human decides in the browser while the host polls the task.
        if (message.task.status === 'working' && !approving) {
          seen.push('approving');
          approving = approveInChromium(dataDir, approval_url!);
        }
      }
      if (message.type === 'result') result = message.result as ToolResult;
      if (message.type === 'error') throw message.error;
    }
    expect(seen.slice(0, 3)).toEqual(['created', 'working', 'approving']);
    expect(seen.at(-1)).toBe('completed');
    const receiptOnPage = await approving!;
    await expectApprovedAndVerified(call, result!, pause_id!, receiptOnPage);
  });
});

describe('a 2026-07-28 client that declares the tasks extension', () => {
  it('gets wait_for_approval as a task; the host polls tasks/get while a human approves in Chromium, and the approval is the task’s result', async () => {
    const rpc = (method: string, params: Record<string, unknown>) =>
      modernRpc(serve.url, agentKey, method, params);
    const call = async (name: string, args: Record<string, unknown>) =>
      (await rpc('tools/call', { name, arguments: args })).result as unknown as ToolResult;
    const discovered = await rpc('server/discover', {});
    expect(discovered.result?.['capabilities']).toMatchObject({
      extensions: { [tasksExtensionId]: {} },
    });
    const created = await call('request_approval', approvalArgs('Close the Q3 books'));
    const { pause_id, approval_url } = created.structuredContent as Record<string, string>;

    const task = (await rpc('tools/call', { name: 'wait_for_approval', arguments: { pause_id } }))
      .result!;
    expect(task).toMatchObject({ resultType: 'task', status: 'working' });
    const taskId = task['taskId'] as string;
    expect((await rpc('tasks/get', { taskId })).result).toMatchObject({ status: 'working' });

    const receiptOnPage = await approveInChromium(serveDir, approval_url!);
    let done: Record<string, unknown> | undefined;
    await waitFor('the task to complete', async () => {
      done = (await rpc('tasks/get', { taskId })).result;
      return done?.['status'] !== 'working';
    });
    expect(done).toMatchObject({ taskId, status: 'completed' });
    await expectApprovedAndVerified(call, done!['result'] as ToolResult, pause_id!, receiptOnPage);
  });
});

describe('a v2 client that declares none of these', () => {
  for (const revision of ['2025-11-25', '2026-07-28'] as const) {
    it(`on ${revision} gets today's text naming approval_url, and a human approving in Chromium decides it`, async () => {
      const { client } = await connectV2({ declares: false, revision });
      const call = (name: string, args: Record<string, unknown>) =>
        client.callTool({ name, arguments: args }) as Promise<ToolResult>;
      const created = await call('request_approval', approvalArgs(`Email customers (${revision})`));
      expect(created.isError).toBeFalsy();
      const structured = created.structuredContent as Record<string, string>;
      expect(structured).not.toHaveProperty('elicitation');
      expect(structured).toMatchObject({ status: 'pending' });
      expect(created.content[0]?.text?.split('\n\n')[0]).toBe(
        `Approval requested. A human can decide at ${structured['approval_url']}. ${structured['next_step']}`,
      );
      expect(structured['approval_url']).toBe(`${serve.url}/approvals/${structured['pause_id']}`);

      const receiptOnPage = await approveInChromium(serveDir, structured['approval_url']!);
      const decided = await call('wait_for_approval', { pause_id: structured['pause_id'] });
      await expectApprovedAndVerified(call, decided, structured['pause_id']!, receiptOnPage);
    });
  }
});
