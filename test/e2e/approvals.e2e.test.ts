import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchTestBrowser, signInWithLink, type TestBrowser } from '../support/chromium.js';
import { cliPath, runCli, startServe, type ServeProcess } from '../support/cli.js';

type ToolResult = {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
};

let browser: TestBrowser;
const dirs: string[] = [];
const servers: ServeProcess[] = [];

function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-e2e-'));
  dirs.push(dir);
  return dir;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  browser = await launchTestBrowser();
});
afterAll(async () => {
  for (const server of servers) await server.stop('SIGKILL');
  await browser?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A phone-sized page signed in through a one-time link from `loopgate login-url`. */
async function signedInPage(dataDir: string): Promise<Page> {
  const link = await runCli(['login-url', '--data-dir', dataDir]);
  expect(link.code, link.stderr).toBe(0);
  const page = await browser.browser.newPage({ viewport: { width: 390, height: 844 } });
  await signInWithLink(page, link.stdout.trim());
  return page;
}

async function decideInBrowser(
  page: Page,
  approvalUrl: string,
  button: 'Approve' | 'Reject',
  comment: string,
) {
  await page.goto(approvalUrl);
  await page.getByLabel('Comment').fill(comment);
  await page.getByRole('button', { name: button }).click();
  await page
    .getByRole('heading', { name: button === 'Approve' ? 'Approved' : 'Rejected' })
    .waitFor();
}

async function agentKey(dataDir: string, name: string): Promise<string> {
  const created = await runCli(['keys', 'create', '--name', name, '--data-dir', dataDir]);
  expect(created.code, created.stderr).toBe(0);
  return created.stdout.trim();
}

async function connectHttp(url: string, key: string): Promise<ClientV2> {
  const client = new ClientV2(
    { name: 'e2e-v2', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

describe('loopgate mcp over stdio with the v1 client, decided in Chromium', () => {
  let dataDir: string;
  let client: ClientV1;

  beforeAll(async () => {
    dataDir = tempDataDir();
    client = new ClientV1({ name: 'e2e-v1', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [cliPath, 'mcp', '--data-dir', dataDir, '--port', '0'],
        stderr: 'pipe',
      }),
    );
  });
  afterAll(async () => {
    await client?.close();
  });

  const call = (name: string, args: Record<string, unknown>) =>
    client.callTool({ name, arguments: args }) as Promise<ToolResult>;

  it('approves: the waiting agent gets the decision and a receipt that loopgate verify accepts', async () => {
    const created = await call('request_approval', {
      action_description: 'Transfer $1,250 to ACME Corp',
      action_details: { amount: '1250', currency: 'USD', payee: 'ACME Corp' },
    });
    const { pause_id, approval_url } = created.structuredContent as {
      pause_id: string;
      approval_url: string;
    };
    const waiting = call('wait_for_approval', { pause_id, max_wait_seconds: 40 });

    const page = await signedInPage(dataDir);
    await page.goto(approval_url);
    await expect
      .poll(() => page.getByRole('table', { name: 'Details' }).innerText())
      .toMatch(/ACME Corp/);
    await decideInBrowser(page, approval_url, 'Approve', 'Paid from the ops account');
    const receiptOnPage = await page.getByLabel('Receipt').inputValue();
    await page.close();

    const result = await waiting;
    expect(result.isError).toBeFalsy();
    const view = result.structuredContent as {
      status: string;
      receipt: string;
      response: Record<string, unknown>;
    };
    expect(view.status).toBe('responded');
    expect(view.response).toMatchObject({
      decision: 'approved',
      comment: 'Paid from the ops account',
      responder: 'admin',
      channel: 'web',
    });
    expect(view.receipt).toBe(receiptOnPage);

    const resultFile = join(dataDir, 'result.json');
    writeFileSync(resultFile, JSON.stringify(result));
    const secret = (await runCli(['secret', 'show', '--data-dir', dataDir])).stdout.trim();
    const ok = await runCli([
      'verify',
      resultFile,
      '--data-dir',
      dataDir,
      '--signing-secret',
      secret,
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/VALID: approved by admin/);
    expect(ok.stdout).toMatch(/HMAC checked/);

    // One byte changed anywhere in the signed decision is caught.
    const tampered = JSON.stringify(result.structuredContent).replace(
      'Paid from the ops account',
      'Paid from the ops accounT',
    );
    const bad = await runCli(['verify', '-', '--data-dir', dataDir], { input: tampered });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/INVALID/);
    const jws = view.receipt;
    const flipped = jws.slice(0, -5) + (jws.at(-5) === 'A' ? 'B' : 'A') + jws.slice(-4);
    const badSig = await runCli(['verify', '-', '--data-dir', dataDir], { input: flipped });
    expect(badSig.code).not.toBe(0);
    expect(badSig.stderr).toMatch(/E_RECEIPT_SIGNATURE_INVALID/);
  });

  it('shows a new request in the open inbox at once, without a reload', async () => {
    const page = await signedInPage(dataDir);
    await page.getByRole('heading', { name: /Waiting for you/ }).waitFor();
    const created = await call('request_approval', {
      action_description: 'Restart the billing worker',
      action_details: { host: 'w-3' },
    });
    const { pause_id } = created.structuredContent as { pause_id: string };
    await page.getByRole('link', { name: 'Restart the billing worker' }).waitFor();
    await expect.poll(() => page.title()).toMatch(/^\(\d+\) /);
    await call('cancel_approval', { pause_id });
    await page.locator(`li[data-pause-id="${pause_id}"][data-status="expired"]`).waitFor();
    await page.close();
  });

  it('rejects: the agent is told not to act', async () => {
    const created = await call('request_approval', {
      action_description: 'Drop table users',
      action_details: { table: 'users' },
    });
    const { pause_id, approval_url } = created.structuredContent as {
      pause_id: string;
      approval_url: string;
    };
    const waiting = call('wait_for_approval', { pause_id, max_wait_seconds: 40 });
    const page = await signedInPage(dataDir);
    await decideInBrowser(page, approval_url, 'Reject', 'Never in production');
    await page.close();
    const result = await waiting;
    expect(result.isError).toBe(true);
    expect(result.content[0]?.text).toMatch(
      /REJECTED by admin.*Never in production.*Do not perform/s,
    );
  });

  it('times out: an undecided request ends timed_out and can no longer be approved', async () => {
    const created = await call('request_approval', {
      action_description: 'Short fuse',
      action_details: {},
      timeout_hours: 1 / 3600,
    });
    const { pause_id, approval_url } = created.structuredContent as {
      pause_id: string;
      approval_url: string;
    };
    const result = await call('wait_for_approval', { pause_id, max_wait_seconds: 20 });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ status: 'timed_out' });
    const page = await signedInPage(dataDir);
    await page.goto(approval_url);
    await page.getByText(/nothing can be decided any more/).waitFor();
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await page.close();
  });

  it('cancels: the page says so and offers no buttons', async () => {
    const created = await call('request_approval', {
      action_description: 'Maybe later',
      action_details: {},
    });
    const { pause_id, approval_url } = created.structuredContent as {
      pause_id: string;
      approval_url: string;
    };
    const cancelled = await call('cancel_approval', { pause_id });
    expect(cancelled.structuredContent).toMatchObject({ status: 'expired' });
    const page = await signedInPage(dataDir);
    await page.goto(approval_url);
    await page
      .getByText(/cancelled/)
      .first()
      .waitFor();
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await page.close();
  });

  it('writes nothing but MCP to stdout', async () => {
    // Any stray byte on stdout would have broken the v1 client's JSON-RPC parsing by now.
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toEqual(
      expect.arrayContaining([
        'cancel_approval',
        'check_approval',
        'request_approval',
        'verify_receipt',
        'wait_for_approval',
      ]),
    );
  });
});

describe('loopgate serve with the v2 client over streamable HTTP', () => {
  it('survives kill -9 while a request is pending, and the agent waits again afterwards', async () => {
    const dataDir = tempDataDir();
    const port = String(await freePort());
    const first = await startServe(dataDir, ['--port', port]);
    servers.push(first);
    const key = await agentKey(dataDir, 'claude-code');
    const client = await connectHttp(first.url, key);
    const created = (await client.callTool({
      name: 'request_approval',
      arguments: {
        action_description: 'Deploy v2 to production',
        action_details: { service: 'api' },
      },
    })) as ToolResult;
    const { pause_id, approval_url } = created.structuredContent as {
      pause_id: string;
      approval_url: string;
    };
    await client.close().catch(() => undefined);
    await first.stop('SIGKILL');

    const second = await startServe(dataDir, ['--port', port]);
    servers.push(second);
    const again = await connectHttp(second.url, key);
    const checked = (await again.callTool({
      name: 'check_approval',
      arguments: { pause_id },
    })) as ToolResult;
    expect(checked.structuredContent).toMatchObject({ status: 'pending', pause_id });
    const waiting = again.callTool({
      name: 'wait_for_approval',
      arguments: { pause_id, max_wait_seconds: 40 },
    }) as Promise<ToolResult>;
    const page = await signedInPage(dataDir);
    await decideInBrowser(page, approval_url, 'Approve', 'after restart');
    await page.close();
    const result = await waiting;
    expect(result.structuredContent).toMatchObject({
      status: 'responded',
      response: { decision: 'approved', comment: 'after restart' },
    });
    await again.close();

    const jwksFile = join(dataDir, 'jwks.json');
    writeFileSync(
      jwksFile,
      await (await fetch(`${second.url}/.well-known/loopgate/jwks.json`)).text(),
    );
    const verified = await runCli(['verify', '-', '--jwks', jwksFile], {
      input: JSON.stringify(result.structuredContent),
    });
    expect(verified.code, verified.stderr).toBe(0);
    await second.stop();
  });

  it('marks a request timed_out that expired while the server was down', async () => {
    const dataDir = tempDataDir();
    const first = await startServe(dataDir);
    servers.push(first);
    const key = await agentKey(dataDir, 'agent');
    const response = await fetch(`${first.url}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        action_description: 'x',
        action_details: {},
        timeout_hours: 1 / 3600,
      }),
    });
    const { pause_id } = (await response.json()) as { pause_id: string };
    await first.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 1_500));
    const second = await startServe(dataDir);
    servers.push(second);
    const view = (await (
      await fetch(`${second.url}/v1/approvals/${pause_id}`, {
        headers: { authorization: `Bearer ${key}` },
      })
    ).json()) as {
      status: string;
    };
    expect(view.status).toBe('timed_out');
    const audit = await runCli(['keys', 'list', '--data-dir', dataDir]);
    expect(audit.stdout).toMatch(/agent/);
    await second.stop();
  });

  it('refuses to start on a public address without --allow-public-bind, naming the flag', async () => {
    const result = await runCli(['serve', '--host', '0.0.0.0', '--data-dir', tempDataDir()]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/E_CONFIG_PUBLIC_BIND.*--allow-public-bind/);
  });

  it('refuses a bad flag value, naming the flag', async () => {
    const result = await runCli(['serve', '--port', 'seventy', '--data-dir', tempDataDir()]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/E_CONFIG_INVALID: --port/);
  });
});
