import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchTestBrowser, type TestBrowser } from '../support/chromium.js';
import { runCli, startServe, type ServeProcess } from '../support/cli.js';
import {
  callTool,
  connectProxyClient,
  openSignedInPage,
  resultText,
  stopProxyTests,
  writeWrappedServer,
} from '../support/proxyClient.js';

/**
 * The wrapped server: a read-only tool, a write and a tool without annotations. Each answers
 * with what it received, so the test sees exactly what reached it.
 */
const filesServer = `
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';
serveStdio(() => {
  const server = new McpServer({ name: 'files', version: '1.0.0' });
  server.registerTool('read_file', { inputSchema: z.object({ path: z.string() }), annotations: { readOnlyHint: true } },
    async ({ path }) => ({ content: [{ type: 'text', text: 'read ' + path }] }));
  server.registerTool('write_file', { inputSchema: z.object({ path: z.string() }), annotations: { readOnlyHint: false, destructiveHint: true } },
    async ({ path }) => ({ content: [{ type: 'text', text: 'wrote ' + path }] }));
  server.registerTool('deploy', { inputSchema: z.object({ env: z.string() }) },
    async ({ env }) => ({ content: [{ type: 'text', text: 'deployed ' + env }] }));
  return server;
});
`;

/** Each test spawns several proxies and CLI runs, and some drive Chromium. */
const spawnsSeveral = 240_000;

let dataDir: string;
let workDir: string;
let serve: ServeProcess;
let browser: TestBrowser;
const clients: Client[] = [];

function writePolicy(name: string, text: string): string {
  const path = join(workDir, name);
  writeFileSync(path, text);
  return path;
}

const proxyClient = (policy: string, flags: string[] = []) =>
  connectProxyClient(
    {
      clientName: 'policy-e2e',
      dataDir,
      policy,
      command: ['node', join(workDir, 'files.mjs')],
      flags,
    },
    clients,
  );

const call = callTool;
const text = resultText;

const signedInPage = () => openSignedInPage(browser, dataDir);

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'loopgate-policy-modes-'));
  workDir = writeWrappedServer('policy-modes', 'files.mjs', filesServer).dir;
  serve = await startServe(dataDir);
  browser = await launchTestBrowser();
});
afterAll(() => stopProxyTests({ clients, serve, browser, dirs: [dataDir, workDir] }));

describe(
  'rules that fit how people work, through the real proxy',
  { timeout: spawnsSeveral },
  () => {
    it('lets a read-only tool pass and holds back writes, with one rule', async () => {
      const policy = writePolicy(
        'reads.yaml',
        'default: approve\nrules:\n  - { tool: "*", read_only: true, gate: none }\n',
      );
      const client = await proxyClient(policy, ['--agent-name', 'reader']);
      expect(text(await call(client, 'read_file', { path: 'a.txt' }))).toBe('read a.txt');
      const write = await call(client, 'write_file', { path: 'a.txt' });
      expect(write.isError).toBe(true);
      expect(text(write)).toMatch(/^APPROVAL REQUIRED/);
      // A tool the server does not annotate is not taken for a read.
      const deploy = await call(client, 'deploy', { env: 'prod' });
      expect(text(deploy)).toMatch(/^APPROVAL REQUIRED/);
    });

    it('applies an agent-scoped rule to that agent only', async () => {
      const policy = writePolicy(
        'agents.yaml',
        'default: none\nrules:\n  - { tool: deploy, agent: deploy-bot, gate: approve }\n',
      );
      const bot = await proxyClient(policy, ['--agent-name', 'deploy-bot']);
      const held = await call(bot, 'deploy', { env: 'prod' });
      expect(held.isError).toBe(true);
      expect(text(held)).toMatch(/^APPROVAL REQUIRED/);

      const helper = await proxyClient(policy, ['--agent-name', 'helper']);
      expect(text(await call(helper, 'deploy', { env: 'prod' }))).toBe('deployed prod');

      // Remote mode: the agent is the gateway key's name, as the server knows it.
      const created = await runCli([
        'keys',
        'create',
        '--data-dir',
        dataDir,
        '--name',
        'deploy-bot',
        '--scope',
        'gateway',
      ]);
      expect(created.code, created.stderr).toBe(0);
      const remote = await proxyClient(policy, [
        '--server-url',
        serve.url,
        '--api-key',
        created.stdout.trim(),
        '--agent-name',
        'helper',
      ]);
      expect(text(await call(remote, 'deploy', { env: 'prod' }))).toMatch(/^APPROVAL REQUIRED/);
    });

    it('forwards calls under shadow mode and records them as "would have asked", listed on the shadow page', async () => {
      const policy = writePolicy(
        'shadow.yaml',
        [
          'default: none',
          'mode: shadow',
          'rules:',
          '  - { tool: write_file, gate: approve }',
          '  - { tool: deploy, gate: deny }',
        ].join('\n'),
      );
      const client = await proxyClient(policy, ['--agent-name', 'shadowed']);
      expect(text(await call(client, 'write_file', { path: 'b.txt' }))).toBe('wrote b.txt');
      expect(text(await call(client, 'deploy', { env: 'staging' }))).toBe('deployed staging');
      expect(text(await call(client, 'read_file', { path: 'b.txt' }))).toBe('read b.txt');

      const entries = (await runCli(['audit', 'export', '--data-dir', dataDir])).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; actor: string; data: Record<string, unknown> })
        .filter((e) => e.actor === 'agent:shadowed');
      // Recorded, and no approval was asked for: the agent's only entries are the shadow records.
      const audit = entries.filter((e) => e.type === 'gateway.shadow');
      expect(audit).toEqual(entries);
      expect(audit.map((e) => [e.data['tool'], e.data['gate'], e.data['rule']])).toEqual([
        ['write_file', 'approve', `${policy}:4 (rule 1)`],
        ['deploy', 'deny', `${policy}:5 (rule 2)`],
      ]);
      expect(audit[0]?.data['action_hash']).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(audit)).not.toContain('b.txt');

      // The list is for signed-in operators only.
      expect((await fetch(`${serve.url}/v1/shadow-calls`)).status).toBe(401);

      const page = await signedInPage();
      await page.goto(`${serve.url}/shadow`);
      const rows = page.locator('#shadow-body tr');
      await rows.first().waitFor();
      const first = await rows.nth(0).innerText();
      const second = await rows.nth(1).innerText();
      expect(first).toMatch(/deploy[\s\S]*shadowed[\s\S]*refused/);
      expect(second).toMatch(/write_file[\s\S]*shadowed[\s\S]*asked for approval/);
      // Fits a phone: nothing wider than the viewport but the scrolling table.
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth > window.innerWidth,
      );
      expect(overflow).toBe(false);
      await page.close();
    });
  },
);

describe('loopgate policy test', { timeout: spawnsSeveral }, () => {
  const policyText = [
    'default: none',
    'rules:',
    '  - { tool: "*", read_only: true, gate: none }',
    '  - { tool: deploy, agent: deploy-bot, gate: totp }',
    '  - tool: deploy',
    '    when: { env: prod }',
    '    gate: approve',
  ].join('\n');

  it('prints which rule matches and why the others did not', async () => {
    const policy = writePolicy('test.yaml', policyText);
    const bot = await runCli([
      'policy',
      'test',
      policy,
      '--tool',
      'deploy',
      '--args',
      '{"env":"prod"}',
      '--agent',
      'deploy-bot',
    ]);
    expect(bot.code, bot.stderr).toBe(0);
    expect(bot.stdout).toContain(
      `${policy}:4 (rule 2) {tool: "deploy", agent: "deploy-bot", gate: totp}: matches`,
    );
    expect(bot.stdout).toMatch(/→ gate totp \(enforce\), from .*:4 \(rule 2\)/);

    const other = await runCli([
      'policy',
      'test',
      policy,
      '--tool',
      'deploy',
      '--args',
      '{"env":"prod"}',
    ]);
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).toMatch(/rule 1\).*skipped: the rule is for read-only tools/);
    expect(other.stdout).toMatch(/rule 2\).*no agent was given/);
    expect(other.stdout).toMatch(/→ gate approve \(enforce\), from .*:5 \(rule 3\)/);

    const read = await runCli(['policy', 'test', policy, '--tool', 'read_file', '--read-only']);
    expect(read.stdout).toMatch(/→ gate none \(enforce\), from .*:3 \(rule 1\)/);

    const help = await runCli(['help', 'policy']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/loopgate policy test FILE --tool NAME/);
  });

  it('refuses bad JSON and a bad policy with a code and no stack trace', async () => {
    const policy = writePolicy('test2.yaml', policyText);
    const json = await runCli(['policy', 'test', policy, '--tool', 'deploy', '--args', '{env:']);
    expect(json.code).toBe(2);
    expect(json.stderr).toMatch(/^loopgate: E_CLI_USAGE: --args must be a JSON object/);
    const list = await runCli(['policy', 'test', policy, '--tool', 'deploy', '--args', '[1]']);
    expect(list.stderr).toMatch(/E_CLI_USAGE: --args must be a JSON object.*got a list/);
    const bad = writePolicy('bad.yaml', 'default: none\nrules:\n  - { tool: x, gate: maybe }\n');
    const invalid = await runCli(['policy', 'test', bad, '--tool', 'x']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(
      /E_POLICY_INVALID[\s\S]*bad\.yaml:3: rules\[0\]\.gate must be one of/,
    );
    const missing = await runCli(['policy', 'test', policy]);
    expect(missing.stderr).toMatch(/E_CLI_USAGE: policy test needs --tool NAME/);
    for (const r of [json, list, invalid, missing]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('the human’s reason reaches the model', { timeout: spawnsSeveral }, () => {
  async function rejectInBrowser(
    approvalUrl: string,
    reason: string,
    fields: Record<string, string> = {},
  ): Promise<void> {
    const page = await signedInPage();
    await page.goto(approvalUrl);
    for (const [label, value] of Object.entries(fields)) await page.getByLabel(label).fill(value);
    await page.getByLabel('Comment').fill(reason);
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.getByRole('heading', { name: 'Rejected' }).waitFor();
    await page.close();
  }

  it('in wait_for_approval and in the gated call’s refusal, quoted and with hidden characters revealed', async () => {
    const policy = writePolicy(
      'ask.yaml',
      'default: none\nrules:\n  - { tool: write_file, gate: approve }\n',
    );
    const client = await proxyClient(policy, ['--agent-name', 'writer']);
    const held = await call(client, 'write_file', { path: 'prod.cfg' });
    const { pause_id, approval_url } = held.structuredContent as {
      pause_id: string;
      approval_url: string;
    };
    const waiting = call(client, 'wait_for_approval', { pause_id, max_wait_seconds: 40 });
    await rejectInBrowser(approval_url, 'Write staging.cfg\u202E instead');
    const decided = await waiting;
    expect(decided.isError).toBe(true);
    const words = /«Write staging\.cfg⟨U\+202E RIGHT-TO-LEFT OVERRIDE⟩ instead»/;
    expect(text(decided)).toMatch(
      /^REJECTED by admin at \S+\. The human's reason, in admin's own words/,
    );
    expect(text(decided)).toMatch(words);

    // The agent calls the tool again: refused with how it ended, the human's words included.
    const again = await call(client, 'write_file', { path: 'prod.cfg' });
    expect(again.isError).toBe(true);
    expect(text(again)).toMatch(
      /^NOT RUN: write_file was held back and its approval ended\. REJECTED/,
    );
    expect(text(again)).toMatch(words);
    // Asking once more asks a human anew.
    const anew = await call(client, 'write_file', { path: 'prod.cfg' });
    expect(text(anew)).toMatch(/^APPROVAL REQUIRED/);
    expect((anew.structuredContent as { pause_id: string }).pause_id).not.toBe(pause_id);
  });

  it('in check_approval of request_approval, with the fields the human filled in', async () => {
    const policy = writePolicy('none.yaml', 'default: none\n');
    const client = await proxyClient(policy, ['--agent-name', 'asker']);
    const asked = await call(client, 'request_approval', {
      action_description: 'Send the newsletter',
      action_details: { list: 'all' },
      fields: [{ name: 'better_list', label: 'Which list instead', type: 'string' }],
    });
    const { pause_id, approval_url } = asked.structuredContent as {
      pause_id: string;
      approval_url: string;
    };
    await rejectInBrowser(approval_url, 'Not to everyone', { 'Which list instead': 'beta' });
    const checked = await call(client, 'check_approval', { pause_id });
    expect(checked.isError).toBeFalsy();
    expect(text(checked)).toMatch(/^REJECTED by admin/);
    expect(text(checked)).toMatch(/«Not to everyone»/);
    expect(text(checked)).toMatch(/Fields admin filled in: better_list = beta\./);
  });
});
