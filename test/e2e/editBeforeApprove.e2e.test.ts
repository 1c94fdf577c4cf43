import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeActionHash } from '../../src/core/actionHash.js';
import { generateTotpCode } from '../../src/gates/index.js';
import { launchTestBrowser, type TestBrowser } from '../support/chromium.js';
import { runCli, startServe, type ServeProcess } from '../support/cli.js';
import {
  callTool,
  connectProxyClient,
  openSignedInPage,
  repoRoot,
  resultText,
  signInOperator,
  stopProxyTests,
} from '../support/proxyClient.js';

/** The wrapped server: `pay` appends every call it receives to a log, so the test sees what ran. */
const wrappedServer = (log: string) => `
import { appendFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';
serveStdio(() => {
  const server = new McpServer({ name: 'bank', version: '1.0.0' });
  server.registerTool('pay', { inputSchema: z.object({ amount: z.number(), to: z.string() }) },
    async (args) => {
      appendFileSync(${JSON.stringify(log)}, JSON.stringify(args) + '\\n');
      return { content: [{ type: 'text', text: 'paid ' + JSON.stringify(args) }] };
    });
  return server;
});
`;

// Payments over 1000 are never made; the rest need the human's authenticator code.
const policyText = `default: none
rules:
  - tool: pay
    when: { amount: { gt: 1000 } }
    gate: deny
  - tool: pay
    gate: totp
`;

const spawnsSeveral = 240_000;

let dataDir: string;
let workDir: string;
let log: string;
let serve: ServeProcess;
let browser: TestBrowser;
let totpSecret: string;
const clients: Client[] = [];

const proxyClient = (agentName: string) =>
  connectProxyClient(
    {
      clientName: 'edit-e2e',
      dataDir,
      policy: join(workDir, 'policy.yaml'),
      command: ['node', join(workDir, 'bank.mjs')],
      flags: ['--agent-name', agentName],
    },
    clients,
  );

const call = callTool;
const text = resultText;
/** Every call the wrapped server received, in order. */
const received = () =>
  readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

async function heldBack(client: Client, args: Record<string, unknown>) {
  const result = await call(client, 'pay', args);
  expect(text(result)).toMatch(/^APPROVAL REQUIRED/);
  return result.structuredContent as { pause_id: string; approval_url: string };
}

/** A signed-in operator over the API, as the approval page is. */
const operator = () => signInOperator(serve, dataDir);

/** Opens the approval page signed in, ticks "Change the arguments" and types `args` as JSON. */
async function editOnPage(approvalUrl: string, args: Record<string, unknown>) {
  const page = await openSignedInPage(browser, dataDir);
  await page.goto(approvalUrl);
  await page.getByLabel('Change the arguments before approving').check();
  await page.getByLabel('Arguments (JSON)').fill(JSON.stringify(args, null, 2));
  return page;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'loopgate-edit-'));
  workDir = mkdtempSync(join(repoRoot, '.tmp-edit-'));
  log = join(workDir, 'received.log');
  writeFileSync(log, '');
  writeFileSync(join(workDir, 'bank.mjs'), wrappedServer(log));
  writeFileSync(join(workDir, 'policy.yaml'), policyText);
  serve = await startServe(dataDir);
  const enrolled = await runCli(['totp', 'enroll', '--data-dir', dataDir]);
  expect(enrolled.code, enrolled.stderr).toBe(0);
  totpSecret = new URL(/otpauth:\/\/\S+/.exec(enrolled.stdout)![0]).searchParams.get('secret')!;
  browser = await launchTestBrowser();
});
afterAll(() => stopProxyTests({ clients, serve, browser, dirs: [dataDir, workDir] }));

describe('edit before approve through the real proxy', { timeout: spawnsSeveral }, () => {
  it('forwards the edited call once, tells the agent what changed, and never the original', async () => {
    const agent = await proxyClient('pay-bot');
    const asked = { amount: 500, to: 'ACME' };
    const { pause_id, approval_url } = await heldBack(agent, asked);

    const page = await editOnPage(approval_url, { amount: 50, to: 'ACME' });
    const changes = page.getByRole('table', { name: 'Your changes' });
    await expect
      .poll(() => changes.locator('tbody tr').allInnerTexts())
      .toEqual(['amount\t500\t50']);
    // The gate still asks for the authenticator code.
    await page.getByLabel('Authenticator code').fill(generateTotpCode({ secret: totpSecret }));
    await page.getByRole('button', { name: 'Approve edited call' }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
    await page.getByRole('heading', { name: 'Edited before approval' }).waitFor();
    expect(await page.locator('#original-action-hash').textContent()).toBe(
      computeActionHash({ tool: 'pay', arguments: asked }),
    );
    await page.close();
    expect(received()).toEqual([]);

    // The approval and its receipt bind the edited call; the original hash is kept.
    const human = await operator();
    const view = await human.get(`/v1/approvals/${pause_id}`);
    const editedHash = computeActionHash({ tool: 'pay', arguments: { amount: 50, to: 'ACME' } });
    expect(view['action_hash']).toBe(editedHash);
    const payload = JSON.parse(
      Buffer.from((view['receipt'] as string).split('.')[1]!, 'base64url').toString('utf8'),
    ) as Record<string, unknown>;
    expect(payload).toMatchObject({
      action_hash: editedHash,
      original_action_hash: computeActionHash({ tool: 'pay', arguments: asked }),
      decision: 'approved',
      gate: { type: 'totp' },
    });

    const waited = await call(agent, 'wait_for_approval', { pause_id, max_wait_seconds: 5 });
    expect(text(waited)).toMatch(/APPROVED WITH EDITS.*amount: 500 → 50/s);

    // The agent retries with its own arguments: the edited call runs, once, and it is told.
    const ran = await call(agent, 'pay', asked);
    expect(ran.isError ?? false, text(ran)).toBe(false);
    expect(text(ran)).toContain('paid {"amount":50,"to":"ACME"}');
    expect(text(ran)).toMatch(/A human edited this call.*amount: 500 → 50/);
    expect(ran._meta?.['loopgate/edited']).toEqual({
      pause_id,
      original_action_hash: computeActionHash({ tool: 'pay', arguments: asked }),
      action_hash: editedHash,
      changes: [{ path: 'amount', from: 500, to: 50 }],
    });
    expect(received()).toEqual([{ amount: 50, to: 'ACME' }]);

    // Neither the original arguments nor the edited ones run again under that approval.
    const again = await heldBack(agent, asked);
    expect(again.pause_id).not.toBe(pause_id);
    const edited = await heldBack(agent, { amount: 50, to: 'ACME' });
    expect(edited.pause_id).not.toBe(pause_id);
    expect(received()).toEqual([{ amount: 50, to: 'ACME' }]);
  });

  it('refuses an edit that does not match the tool’s input schema, on the page, and decides nothing', async () => {
    const agent = await proxyClient('schema-bot');
    const { pause_id, approval_url } = await heldBack(agent, { amount: 300, to: 'ACME' });
    const page = await editOnPage(approval_url, { amount: 'fifty', to: 'AC\u202eME' });
    // The human sees each change, with the hidden character in their own edit made visible.
    const changes = page.getByRole('table', { name: 'Your changes' }).locator('tbody tr');
    await expect
      .poll(() => changes.allInnerTexts())
      .toEqual([
        'amount\t300\t"fifty"',
        expect.stringMatching(/^to\t"ACME"\t"AC⟨U\+202E[^⟩]*⟩ME"$/),
      ]);
    await page.getByLabel('Authenticator code').fill('123456');
    await page.getByRole('button', { name: 'Approve edited call' }).click();
    await expect
      .poll(() => page.locator('#decision-error').textContent())
      .toMatch(/input schema.*amount must be number/);
    await page.close();

    const human = await operator();
    const refused = await human.post(`/v1/approvals/${pause_id}/decision`, {
      decision: 'approved',
      totp_code: '123456',
      arguments: { amount: 'fifty', to: 'ACME' },
    });
    expect(refused.status).toBe(400);
    expect(refused.body['error']).toMatchObject({ code: 'E_APPROVAL_EDIT_INVALID' });
    expect((await human.get(`/v1/approvals/${pause_id}`))['status']).toBe('pending');
    expect(text(await call(agent, 'pay', { amount: 300, to: 'ACME' }))).toMatch(
      /^APPROVAL REQUIRED/,
    );
    expect(received().filter((r) => r['amount'] !== 50)).toEqual([]);
  });

  it('refuses an edit the policy would deny, and decides nothing', async () => {
    const agent = await proxyClient('deny-bot');
    const { pause_id } = await heldBack(agent, { amount: 900, to: 'ACME' });
    const human = await operator();
    const refused = await human.post(`/v1/approvals/${pause_id}/decision`, {
      decision: 'approved',
      totp_code: '123456',
      arguments: { amount: 5000, to: 'ACME' },
    });
    expect(refused.status).toBe(403);
    expect(refused.body['error']).toMatchObject({ code: 'E_APPROVAL_EDIT_DENIED' });
    expect((refused.body['error'] as { message: string }).message).toMatch(/denies pay/);
    expect((await human.get(`/v1/approvals/${pause_id}`))['status']).toBe('pending');
    expect(received().filter((r) => r['amount'] !== 50)).toEqual([]);
  });
});
