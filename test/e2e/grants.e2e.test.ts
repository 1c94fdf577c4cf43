import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchTestBrowser, signInWithLink, type TestBrowser } from '../support/chromium.js';
import { runCli, startServe, type ServeProcess } from '../support/cli.js';
import type { ToolResult } from '../support/mcpHarness.js';
import {
  callTool,
  connectProxyClient,
  resultText,
  signInOperator,
  stopProxyTests,
  writeWrappedServer,
  type Operator,
} from '../support/proxyClient.js';

/** The wrapped server: each tool answers with what it received, so the test sees what ran. */
const wrappedServer = `
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';
serveStdio(() => {
  const server = new McpServer({ name: 'shop', version: '1.0.0' });
  server.registerTool('get_weather', { inputSchema: z.object({ city: z.string(), days: z.number().optional() }) },
    async (args) => ({ content: [{ type: 'text', text: 'weather ' + JSON.stringify(args) }] }));
  server.registerTool('pay', { inputSchema: z.object({ amount: z.number(), to: z.string(), memo: z.string().optional() }) },
    async (args) => ({ content: [{ type: 'text', text: 'paid ' + JSON.stringify(args) }] }));
  server.registerTool('ping', { inputSchema: z.object({ n: z.number() }) },
    async ({ n }) => ({ content: [{ type: 'text', text: 'pong ' + n }] }));
  return server;
});
`;

const policyText = `default: none
rules:
  - tool: get_weather
    gate: approve
    grants: { max_minutes: 60, patterns: true, session: true, max_uses: 5 }
  - tool: pay
    gate: approve
    grants: { max_minutes: 120, patterns: true }
  - tool: ping
    gate: approve
`;

/** Each test spawns proxies and CLI runs; one drives Chromium. */
const spawnsSeveral = 240_000;

let dataDir: string;
let workDir: string;
let policy: string;
let serve: ServeProcess;
let browser: TestBrowser;
const clients: Client[] = [];

const proxyClient = (agentName: string) =>
  connectProxyClient(
    {
      clientName: 'grants-e2e',
      dataDir,
      policy,
      command: ['node', join(workDir, 'shop.mjs')],
      flags: ['--agent-name', agentName],
    },
    clients,
  );

const call = callTool;
const text = resultText;
const grantOf = (r: ToolResult) =>
  r._meta?.['loopgate/grant'] as Record<string, unknown> | undefined;

/** Calls a gated tool that is held back; returns the pause_id of its approval. */
async function heldBack(client: Client, name: string, args: Record<string, unknown>) {
  const result = await call(client, name, args);
  expect(text(result)).toMatch(/^APPROVAL REQUIRED/);
  return result.structuredContent!['pause_id'] as string;
}

async function expectForwarded(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  grantId: string,
): Promise<ToolResult> {
  const result = await call(client, name, args);
  expect(result.isError ?? false, text(result)).toBe(false);
  expect(text(result)).toContain(JSON.stringify(args));
  expect(grantOf(result)).toMatchObject({ grant_id: grantId });
  return result;
}

async function expectHeld(client: Client, name: string, args: Record<string, unknown>) {
  const result = await call(client, name, args);
  expect(result.isError).toBe(true);
  expect(text(result)).toMatch(/^APPROVAL REQUIRED/);
  expect(grantOf(result)).toBeUndefined();
}

/** A signed-in operator over the API, as the approval page is. */
const operator = () => signInOperator(serve, dataDir);

/** A grant as the decision and grants APIs return it (the fields the tests read). */
type GrantJson = {
  grant_id: string;
  reach: string;
  receipt: string;
  max_uses: number | null;
  uses: number;
  status: string;
};

let human: Operator;

async function approveWithGrant(pauseId: string, grant: Record<string, unknown>) {
  const decided = await human.post(`/v1/approvals/${pauseId}/decision`, {
    decision: 'approved',
    grant,
  });
  expect(decided.status, JSON.stringify(decided.body)).toBe(200);
  return decided.body['grant'] as GrantJson;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'loopgate-grants-'));
  workDir = writeWrappedServer('grants', 'shop.mjs', wrappedServer).dir;
  policy = join(workDir, 'policy.yaml');
  writeFileSync(policy, policyText);
  serve = await startServe(dataDir);
  human = await operator();
  browser = await launchTestBrowser();
});
afterAll(() => stopProxyTests({ clients, serve, browser, dirs: [dataDir, workDir] }));

describe('standing grants through the real proxy', { timeout: spawnsSeveral }, () => {
  it('an exact-call grant forwards that call up to max_uses, for that agent only', async () => {
    const agent = await proxyClient('weather-bot');
    const args = { city: 'Paris', days: 2 };
    const pauseId = await heldBack(agent, 'get_weather', args);
    const grant = await approveWithGrant(pauseId, { reach: 'exact', minutes: 30, max_uses: 3 });
    expect(grant).toMatchObject({ reach: 'exact', max_uses: 3, uses: 0, status: 'live' });

    // The approved call runs as the grant's first use; then two more; then it is used up.
    const first = await expectForwarded(agent, 'get_weather', args, grant['grant_id']);
    expect(grantOf(first)).toMatchObject({ uses: 1, max_uses: 3 });
    await expectForwarded(agent, 'get_weather', args, grant['grant_id']);
    await expectHeld(agent, 'get_weather', { city: 'Paris', days: 3 });
    await expectForwarded(agent, 'get_weather', args, grant['grant_id']);
    await expectHeld(agent, 'get_weather', args);
    // The approval became the grant; each forwarded use is then one audit entry, with the grant
    // id and the call's action hash.
    const exported = await runCli(['audit', 'export', '--data-dir', dataDir]);
    const entries = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> })
      .filter((e) => e.data['grant_id'] === grant['grant_id']);
    expect(entries.map((e) => e.type)).toEqual([
      'grant.created',
      'approval.consumed',
      'grant.used',
      'grant.used',
      'grant.used',
    ]);
    expect(new Set(entries.slice(2).map((e) => e.data['action_hash'])).size).toBe(1);

    // Another agent's identical call is not this agent's grant.
    const other = await proxyClient('other-bot');
    await expectHeld(other, 'get_weather', { city: 'Lyon' });
  });

  it('a tool grant forwards calls within its constraints and nothing else, until revoked', async () => {
    const agent = await proxyClient('pay-bot');
    const pauseId = await heldBack(agent, 'pay', { amount: 50, to: 'ACME' });
    const grant = await approveWithGrant(pauseId, {
      reach: 'tool',
      minutes: 120,
      constraints: { amount: { lte: 100 }, to: { eq: 'ACME' }, memo: '*' },
    });
    await expectForwarded(agent, 'pay', { amount: 50, to: 'ACME' }, grant['grant_id']);
    await expectForwarded(agent, 'pay', { amount: 100, to: 'ACME', memo: 'x' }, grant['grant_id']);
    await expectHeld(agent, 'pay', { amount: 101, to: 'ACME' });
    await expectHeld(agent, 'pay', { amount: 5, to: 'EVIL' });
    await expectHeld(agent, 'pay', { amount: 5, to: 'ACME ' });

    // Revoked from the CLI: from the next call on, nothing is forwarded under it.
    const listed = await runCli(['grants', 'list', '--data-dir', dataDir]);
    expect(listed.stdout).toContain(grant['grant_id']);
    expect(listed.stdout).toContain('amount ≤ 100');
    const revoked = await runCli(['grants', 'revoke', grant['grant_id'], '--data-dir', dataDir]);
    expect(revoked.code, revoked.stderr).toBe(0);
    await expectHeld(agent, 'pay', { amount: 50, to: 'ACME' });
    expect((await human.get(`/v1/grants/${grant['grant_id']}`))['status']).toBe('revoked');
  });

  it('a session grant serves that proxy session only, and its receipt verifies', async () => {
    const agent = await proxyClient('session-bot');
    const pauseId = await heldBack(agent, 'get_weather', { city: 'Rome' });
    const grant = await approveWithGrant(pauseId, { reach: 'session', minutes: 10 });
    // The rule caps uses at 5; a grant without max_uses gets the rule's cap.
    expect(grant['max_uses']).toBe(5);
    await expectForwarded(agent, 'get_weather', { city: 'Rome' }, grant['grant_id']);
    await expectForwarded(agent, 'get_weather', { city: 'Oslo', days: 9 }, grant['grant_id']);
    // The same agent in another session (a new proxy) is asked again.
    const again = await proxyClient('session-bot');
    await expectHeld(again, 'get_weather', { city: 'Oslo' });
    // Other tools of the session are not granted.
    await expectHeld(agent, 'pay', { amount: 1, to: 'ACME' });

    const verified = await runCli(['verify', '-', '--data-dir', dataDir], {
      input: grant['receipt'],
    });
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(
      /^VALID GRANT gr_\S+: get_weather for agent session-bot, session/,
    );
    const tampered = `${grant['receipt'].slice(0, -4)}AAAA`;
    const refused = await runCli(['verify', '-', '--data-dir', dataDir], { input: tampered });
    expect(refused.code).toBe(1);
  });

  it('refuses a crafted decision asking for a reach the rule did not offer, deciding nothing', async () => {
    const agent = await proxyClient('crafty-bot');
    const ping = await heldBack(agent, 'ping', { n: 1 });
    const weather = await heldBack(agent, 'get_weather', { city: 'Bern' });
    const pay = await heldBack(agent, 'pay', { amount: 10, to: 'ACME' });
    const attempts: [string, Record<string, unknown>, string][] = [
      [ping, { reach: 'exact', minutes: 1 }, 'E_GRANT_NOT_OFFERED'],
      [weather, { reach: 'exact', minutes: 61 }, 'E_GRANT_NOT_OFFERED'],
      [weather, { reach: 'exact', minutes: 10, max_uses: 6 }, 'E_GRANT_NOT_OFFERED'],
      [pay, { reach: 'session', minutes: 10 }, 'E_GRANT_NOT_OFFERED'],
      [
        pay,
        { reach: 'tool', minutes: 10, constraints: { amount: { lte: 5 }, to: '*' } },
        'E_GRANT_INVALID',
      ],
      [pay, { reach: 'tool', minutes: 10, constraints: { amount: '*' } }, 'E_GRANT_INVALID'],
    ];
    for (const [pauseId, grant, code] of attempts) {
      const answer = await human.post(`/v1/approvals/${pauseId}/decision`, {
        decision: 'approved',
        grant,
      });
      expect(
        (answer.body['error'] as { code?: string } | undefined)?.code,
        JSON.stringify(grant),
      ).toBe(code);
    }
    for (const pauseId of [ping, weather, pay])
      expect((await human.get(`/v1/approvals/${pauseId}`))['status']).toBe('pending');
    expect((await human.get('/v1/grants?agent=crafty-bot'))['items']).toEqual([]);
    // Nothing was forwarded either.
    await expectHeld(agent, 'ping', { n: 1 });
  });

  it('lets the human choose the reach on the approval page, and revoke it on the grants page', async () => {
    const agent = await proxyClient('page-bot');
    const result = await call(agent, 'pay', { amount: 40, to: 'ACME' });
    const approvalUrl = result.structuredContent!['approval_url'] as string;
    const link = (await runCli(['login-url', '--data-dir', dataDir])).stdout.trim();
    const page = await browser.browser.newPage({ viewport: { width: 390, height: 844 } });
    await signInWithLink(page, link);
    await page.goto(approvalUrl);
    await page.getByRole('group', { name: 'How far your approval reaches' }).waitFor();
    // pay offers exact and tool, not session.
    expect(
      await page.getByLabel('Every call of this tool in this agent’s session').isVisible(),
    ).toBe(false);
    await page.getByLabel('This tool within the argument limits below').check();
    await page.getByLabel('amount').selectOption({ label: 'at most 40' });
    await page.getByLabel('to', { exact: true }).selectOption({ label: 'exactly this value' });
    await page.getByLabel('Minutes', { exact: true }).fill('15');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();

    const grant = ((await human.get('/v1/grants?agent=page-bot'))['items'] as GrantJson[])[0]!;
    expect(grant).toMatchObject({
      reach: 'tool',
      constraints: { amount: { lte: 40 }, to: { eq: 'ACME' } },
    });
    await expectForwarded(agent, 'pay', { amount: 40, to: 'ACME' }, grant['grant_id']);
    await expectForwarded(agent, 'pay', { amount: 39.5, to: 'ACME' }, grant['grant_id']);
    await expectHeld(agent, 'pay', { amount: 41, to: 'ACME' });

    await page.goto(`${serve.url}/grants`);
    const row = page.locator(`tr[data-grant-id="${grant['grant_id']}"]`);
    await row.getByRole('button', { name: 'Revoke the grant for pay' }).click();
    await row.getByText('Revoked').waitFor();
    await expectHeld(agent, 'pay', { amount: 40, to: 'ACME' });
    await page.close();
  });
});
