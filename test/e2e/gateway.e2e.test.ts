import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioClientTransportV2 } from '@modelcontextprotocol/client/stdio';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTotpCode } from '../../src/gates/index.js';
import { launchTestBrowser, signInWithLink, type TestBrowser } from '../support/chromium.js';
import { cliPath, runCli, startServe, type ServeProcess } from '../support/cli.js';
import type { ToolResult } from '../support/mcpHarness.js';
import {
  callTool,
  connectProxyClient,
  openSignedInPage,
  repoRoot,
  resultText,
  stopProxyTests,
} from '../support/proxyClient.js';

const repo = repoRoot;
const demoServer = join(repo, 'examples/demo-server/server.mjs');
const demoPolicy = join(repo, 'examples/policy.yaml');

let dataDir: string;
let browser: TestBrowser;
let serve: ServeProcess;
let totpSecret: string;
const clients: Client[] = [];

/** A second downstream server, written by the test: payments with a quorum, a denied tool and an otp-argument tool. */
const bankServer = `
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';
let balance = 10000;
serveStdio(() => {
  const server = new McpServer({ name: 'bank', version: '1.0.0' });
  server.registerTool('get_balance', { inputSchema: z.object({}) }, async () => ({ content: [{ type: 'text', text: 'balance ' + balance }] }));
  server.registerTool('transfer_funds', { inputSchema: z.object({ amount: z.number(), to: z.string() }) }, async ({ amount, to }) => {
    balance -= amount;
    return { content: [{ type: 'text', text: 'sent ' + amount + ' to ' + to + ', balance ' + balance }] };
  });
  server.registerTool('close_account', { inputSchema: z.object({}) }, async () => ({ content: [{ type: 'text', text: 'closed' }] }));
  server.registerTool('export_statement', { inputSchema: z.object({ month: z.string() }) }, async ({ month }) => ({ content: [{ type: 'text', text: 'statement ' + month }] }));
  return server;
});
`;
const bankPolicy = `
default: none
rules:
  - tool: "transfer_*"
    when: { amount: { gt: 1000 } }
    gate: approve
  - tool: close_account
    gate: deny
  - tool: export_statement
    gate: otp_argument
`;

const proxyClient = (policy: string, command: string[], flags: string[] = []) =>
  connectProxyClient({ clientName: 'gateway-e2e', dataDir, policy, command, flags }, clients);

const call = callTool;
const call_ = call;
const text = resultText;

async function approveInBrowser(approvalUrl: string, code?: string): Promise<void> {
  const page = await openSignedInPage(browser, dataDir);
  await page.goto(approvalUrl);
  if (code) await page.getByLabel('Authenticator code').fill(code);
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.getByRole('heading', { name: 'Approved' }).waitFor();
  await page.close();
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'loopgate-gateway-'));
  serve = await startServe(dataDir);
  const enrolled = await runCli(['totp', 'enroll', '--data-dir', dataDir]);
  expect(enrolled.code, enrolled.stderr).toBe(0);
  totpSecret = new URL(/otpauth:\/\/\S+/.exec(enrolled.stdout)![0]).searchParams.get('secret')!;
  browser = await launchTestBrowser();
});
afterAll(() => stopProxyTests({ clients, serve, browser, dirs: [dataDir] }));

describe('loopgate proxy in front of the demo server (the mcp-hitl demo)', () => {
  it('lists the downstream tools with their gates, next to the approval tools', async () => {
    const client = await proxyClient(demoPolicy, ['node', demoServer]);
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual(
      [
        'cancel_approval',
        'check_approval',
        'get_color',
        'get_weather',
        'request_approval',
        'verify_receipt',
        'wait_for_approval',
      ].sort(),
    );
    expect(byName.get('get_weather')?.description).toMatch(/\[loopgate\].*authenticator code/i);
    expect(byName.get('get_color')?.description).toMatch(/\[loopgate\]/);
  });

  it('forwards ungated calls at once; holds the gated one until a human approves with TOTP, then forwards it exactly once', async () => {
    const client = await proxyClient(demoPolicy, ['node', demoServer]);
    expect(text(await call(client, 'get_color'))).toBe('Dark Blue');

    const held = await call(client, 'get_weather', { city: 'Paris' });
    expect(held.isError).toBe(true);
    expect(text(held)).toMatch(/APPROVAL REQUIRED.*wait_for_approval.*same arguments/s);
    const { pause_id, approval_url } = held.structuredContent as {
      pause_id: string;
      approval_url: string;
    };
    expect(approval_url).toBe(`${serve.url}/approvals/${pause_id}`);

    // Asking again before the human decided points at the same request.
    const again = await call(client, 'get_weather', { city: 'Paris' });
    expect((again.structuredContent as { pause_id: string }).pause_id).toBe(pause_id);

    const waiting = call(client, 'wait_for_approval', { pause_id, max_wait_seconds: 40 });
    await approveInBrowser(approval_url, generateTotpCode({ secret: totpSecret }));
    expect((await waiting).structuredContent).toMatchObject({
      status: 'responded',
      tool: 'get_weather',
      response: { decision: 'approved' },
    });

    const changed = await call(client, 'get_weather', { city: 'Berlin' });
    expect(changed.isError).toBe(true);
    expect((changed.structuredContent as { pause_id: string }).pause_id).not.toBe(pause_id);

    const forwarded = await call(client, 'get_weather', { city: 'Paris' });
    expect(forwarded.isError).toBeFalsy();
    expect(text(forwarded)).toBe('Weather in Paris: Sunny, 21 °C');

    const replay = await call(client, 'get_weather', { city: 'Paris' });
    expect(replay.isError).toBe(true);
    expect((replay.structuredContent as { pause_id: string }).pause_id).not.toBe(pause_id);
  });
});

describe('loopgate proxy in front of a second server', () => {
  it('applies conditions, deny and the otp argument', async () => {
    const dir = mkdtempSync(join(repo, '.tmp-bank-'));
    try {
      writeFileSync(join(dir, 'bank.mjs'), bankServer);
      writeFileSync(join(dir, 'policy.yaml'), bankPolicy);
      const client = await proxyClient(join(dir, 'policy.yaml'), ['node', join(dir, 'bank.mjs')]);

      expect(text(await call(client, 'transfer_funds', { amount: 50, to: 'alice' }))).toBe(
        'sent 50 to alice, balance 9950',
      );
      const big = await call(client, 'transfer_funds', { amount: 5000, to: 'mallory' });
      expect(big.isError).toBe(true);
      expect(text(await call(client, 'get_balance'))).toBe('balance 9950');

      const denied = await call(client, 'close_account');
      expect(denied.isError).toBe(true);
      expect(text(denied)).toMatch(/E_POLICY_DENIED/);

      const { tools } = await client.listTools();
      const statement = tools.find((t) => t.name === 'export_statement')!;
      expect(statement.inputSchema.required).toContain('otp');
      const noCode = await call(client, 'export_statement', { month: '2026-10' });
      expect(noCode.isError).toBe(true);
      const wrong = await call(client, 'export_statement', { month: '2026-10', otp: '000000' });
      expect(text(wrong)).toMatch(/E_TOTP_CODE_INVALID/);
      const good = await call(client, 'export_statement', {
        month: '2026-10',
        otp: generateTotpCode({ secret: totpSecret, now: Date.now() + 30_000 }),
      });
      expect(text(good)).toBe('statement 2026-10');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('loopgate proxy and a 2026-07-28 client that declares URL elicitation', () => {
  it('sends the client to the approval page; once a human approved in the browser, the same call runs', async () => {
    const dir = mkdtempSync(join(repo, '.tmp-bank-'));
    try {
      writeFileSync(join(dir, 'bank.mjs'), bankServer);
      writeFileSync(join(dir, 'policy.yaml'), bankPolicy);
      const client = new ClientV2(
        { name: 'gateway-e2e-modern', version: '1.0.0' },
        {
          capabilities: { elicitation: { url: {} } },
          versionNegotiation: { mode: { pin: '2026-07-28' } },
        },
      );
      const opened: string[] = [];
      const approvals: Promise<void>[] = [];
      client.setRequestHandler('elicitation/create', (request) => {
        const url = (request.params as { url: string }).url;
        opened.push(url);
        approvals.push(approveInBrowser(url));
        return { action: 'accept' };
      });
      await client.connect(
        new StdioClientTransportV2({
          command: process.execPath,
          args: [
            cliPath,
            'proxy',
            '--data-dir',
            dataDir,
            '--policy',
            join(dir, 'policy.yaml'),
            '--',
            'node',
            join(dir, 'bank.mjs'),
          ],
          cwd: repo,
          stderr: 'pipe',
        }),
      );
      try {
        const result = (await client.callTool({
          name: 'transfer_funds',
          arguments: { amount: 2000, to: 'bob' },
        })) as ToolResult;
        await Promise.all(approvals);
        expect(opened).toEqual([expect.stringMatching(/\/approvals\/pa_/)]);
        expect(text(result)).toMatch(/^sent 2000 to bob, balance /);
      } finally {
        await client.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** `loopgate keys create` on the test's data dir; returns the key. */
async function createKey(name: string, scope?: 'agent' | 'gateway'): Promise<string> {
  const created = await runCli([
    'keys',
    'create',
    '--data-dir',
    dataDir,
    '--name',
    name,
    ...(scope ? ['--scope', scope] : []),
  ]);
  expect(created.code, created.stderr).toBe(0);
  return created.stdout.trim();
}

async function postGateway(
  key: string,
  route: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> | null }> {
  const response = await fetch(`${serve.url}/v1/gateway/${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : null,
  };
}

function receiptPayload(jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

describe('gateway keys and the gate the policy names', () => {
  it('refuses an ordinary agent key on every /v1/gateway/* route, and a remote proxy holding one', async () => {
    const key = await createKey('plain-agent');
    const call = { tool: 'get_weather', arguments: { city: 'Oslo' } };
    const attempts = {
      approvals: { ...call, gate: { type: 'approve' }, timeout_minutes: 10 },
      consume: { ...call, gate: { type: 'approve' } },
      otp: { tool: 'export_statement', code: '123456' },
      forwarded: { tool: 'get_weather', gate: 'none', pause_id: null },
    };
    for (const [route, body] of Object.entries(attempts)) {
      const answer = await postGateway(key, route, body);
      expect(answer.status, route).toBe(403);
      expect(answer.body, route).toMatchObject({ error: { code: 'E_AUTH_FORBIDDEN' } });
      expect(String((answer.body!.error as { message: string }).message)).toMatch(
        /--scope gateway/,
      );
    }
    // Nothing was created for that agent.
    const listed = await fetch(`${serve.url}/v1/approvals?status=pending`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(((await listed.json()) as { items: unknown[] }).items).toEqual([]);

    const remote = await proxyClient(
      demoPolicy,
      ['node', demoServer],
      ['--server-url', serve.url, '--api-key', key],
    );
    const refused = await call_(remote, 'get_weather', { city: 'Oslo' });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/E_AUTH_FORBIDDEN/);
  }, 150_000);

  it('never forwards a call the policy gates with TOTP on a one-click approval a gateway key planted', async () => {
    const agent = 'planted-agent';
    const key = await createKey(agent, 'gateway');
    const args = { city: 'Rome' };
    // The key holder pre-creates the exact call the proxy will make, under a gate of its choosing.
    const planted = await postGateway(key, 'approvals', {
      tool: 'get_weather',
      arguments: args,
      gate: { type: 'approve' },
      timeout_minutes: 10,
    });
    expect(planted.status).toBe(201);
    const plantedId = planted.body!.pause_id as string;
    // A human approves it with one click (the approve gate asks for no code).
    await approveInBrowser(planted.body!.approval_url as string);

    // The receipt says which gate the decision was made under.
    const read = await fetch(`${serve.url}/v1/approvals/${plantedId}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const view = (await read.json()) as { receipt: string };
    expect(receiptPayload(view.receipt).gate).toEqual({ type: 'approve' });

    // The proxy (demo policy: get_weather needs totp) acting as the same agent does not forward it.
    const client = await proxyClient(demoPolicy, ['node', demoServer], ['--agent-name', agent]);
    const held = await call_(client, 'get_weather', args);
    expect(held.isError).toBe(true);
    expect(text(held)).toMatch(/APPROVAL REQUIRED/);
    const asked = held.structuredContent as { pause_id: string; gate: { type: string } };
    expect(asked.pause_id).not.toBe(plantedId);
    expect(asked.gate).toEqual({ type: 'totp' });

    // Consuming with the policy's gate finds nothing; the planted approval is still unused.
    const consumed = await postGateway(key, 'consume', {
      tool: 'get_weather',
      arguments: args,
      gate: { type: 'totp' },
    });
    expect(consumed).toEqual({ status: 200, body: { consumed: null } });
    const quorum = {
      type: 'quorum',
      quorum: { n: 2, approvers: ['admin', 'cto'], stepUp: 'none' },
    };
    expect(
      (await postGateway(key, 'consume', { tool: 'get_weather', arguments: args, gate: quorum }))
        .body,
    ).toEqual({ consumed: null });

    // And the proxy still holds the call back.
    const again = await call_(client, 'get_weather', args);
    expect(again.isError).toBe(true);
    expect((again.structuredContent as { pause_id: string }).pause_id).toBe(asked.pause_id);
  }, 150_000);
});

describe('otp arguments are checked against the configured operator, throttled per gateway key', () => {
  /** Invites an operator with a fresh authenticator; returns its TOTP secret and sign-in link. */
  async function inviteWithTotp(name: string): Promise<{ secret: string; link: string }> {
    const invited = await runCli(['operators', 'invite', name, '--data-dir', dataDir]);
    expect(invited.code, invited.stderr).toBe(0);
    const enrolled = await runCli(['totp', 'enroll', '--operator', name, '--data-dir', dataDir]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    return {
      secret: new URL(/otpauth:\/\/\S+/.exec(enrolled.stdout)![0]).searchParams.get('secret')!,
      link: invited.stdout.trim(),
    };
  }

  /** A code that none of the RFC 6238 window's steps (now ±1) would accept for `secret`. */
  function wrongCodeFor(secret: string): string {
    const window = [-30_000, 0, 30_000].map((d) =>
      generateTotpCode({ secret, now: Date.now() + d }),
    );
    return ['000000', '111111', '222222', '333333'].find((c) => !window.includes(c))!;
  }

  it('checks --otp-operator’s authenticator in running-server and remote mode', async () => {
    const dir = mkdtempSync(join(repo, '.tmp-otp-'));
    try {
      writeFileSync(join(dir, 'bank.mjs'), bankServer);
      writeFileSync(join(dir, 'policy.yaml'), bankPolicy);
      const bank = ['node', join(dir, 'bank.mjs')];
      const carol = await inviteWithTotp('carol');
      const dave = await inviteWithTotp('dave');

      // Running-server mode (the proxy finds the server on the data dir).
      const local = await proxyClient(join(dir, 'policy.yaml'), bank, [
        '--agent-name',
        'otp-carol',
        '--otp-operator',
        'carol',
      ]);
      const adminCode = generateTotpCode({ secret: totpSecret });
      const carolCode = generateTotpCode({ secret: carol.secret });
      if (adminCode !== carolCode) {
        expect(
          text(await call_(local, 'export_statement', { month: '2026-08', otp: adminCode })),
        ).toMatch(/E_TOTP_CODE_INVALID/);
      }
      expect(
        text(await call_(local, 'export_statement', { month: '2026-08', otp: carolCode })),
      ).toBe('statement 2026-08');

      // Remote mode (--server-url with a gateway key).
      const remoteKey = await createKey('otp-dave', 'gateway');
      const remote = await proxyClient(join(dir, 'policy.yaml'), bank, [
        '--server-url',
        serve.url,
        '--api-key',
        remoteKey,
        '--otp-operator',
        'dave',
      ]);
      const daveCode = generateTotpCode({ secret: dave.secret });
      if (adminCode !== daveCode) {
        expect(
          text(await call_(remote, 'export_statement', { month: '2026-09', otp: adminCode })),
        ).toMatch(/E_TOTP_CODE_INVALID/);
      }
      expect(
        text(await call_(remote, 'export_statement', { month: '2026-09', otp: daveCode })),
      ).toBe('statement 2026-09');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it('throttles the key after 10 wrong codes; the human’s TOTP is not locked and their pending request not voided', async () => {
    const dir = mkdtempSync(join(repo, '.tmp-otp-'));
    try {
      writeFileSync(join(dir, 'bank.mjs'), bankServer);
      writeFileSync(join(dir, 'policy.yaml'), bankPolicy);
      const bob = await inviteWithTotp('bob');

      // bob's request is pending under the TOTP step-up (demo policy: get_weather needs totp).
      const demo = await proxyClient(
        demoPolicy,
        ['node', demoServer],
        ['--agent-name', 'otp-guesser'],
      );
      const held = await call_(demo, 'get_weather', { city: 'Lima' });
      const { pause_id } = held.structuredContent as { pause_id: string };

      // An agent guesses bob's code through the proxy: 10 wrong codes, then the key is throttled.
      const guessing = await proxyClient(
        join(dir, 'policy.yaml'),
        ['node', join(dir, 'bank.mjs')],
        ['--agent-name', 'otp-guesser', '--otp-operator', 'bob'],
      );
      const wrong = wrongCodeFor(bob.secret);
      const answers: string[] = [];
      for (let i = 0; i < 11; i++)
        answers.push(
          text(await call_(guessing, 'export_statement', { month: '2026-11', otp: wrong })),
        );
      for (const answer of answers.slice(0, 10)) expect(answer).toMatch(/E_TOTP_CODE_INVALID/);
      expect(answers[10]).toMatch(/E_GATEWAY_OTP_THROTTLED/);
      // Not even the right code is checked for this key now.
      const right = generateTotpCode({ secret: bob.secret });
      expect(
        text(await call_(guessing, 'export_statement', { month: '2026-11', otp: right })),
      ).toMatch(/E_GATEWAY_OTP_THROTTLED/);

      // bob's authenticator is not locked, and the request is still there for him to approve.
      const operators = await runCli(['operators', 'list', '--data-dir', dataDir]);
      expect(operators.stdout).toMatch(/^bob\t.*\ttotp\t/m);
      const page = await browser.browser.newPage({ viewport: { width: 390, height: 844 } });
      await signInWithLink(page, bob.link);
      await page.goto(`${serve.url}/approvals/${pause_id}`);
      await page.getByLabel('Authenticator code').fill(right);
      await page.getByRole('button', { name: 'Approve' }).click();
      await page.getByRole('heading', { name: 'Approved' }).waitFor();
      await page.close();
      const forwarded = await call_(demo, 'get_weather', { city: 'Lima' });
      expect(forwarded.isError).toBeFalsy();
      expect(text(forwarded)).toMatch(/^Weather in Lima: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});

describe('failing closed, and the audit log', () => {
  it('refuses gated calls while the approvals server is down, and still forwards ungated ones', async () => {
    const client = await proxyClient(demoPolicy, ['node', demoServer]);
    await serve.stop();
    const refused = await call(client, 'get_weather', { city: 'Tokyo' });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/E_REMOTE_UNREACHABLE.*refuses gated calls/s);
    expect(text(await call(client, 'get_color'))).toBe('Dark Blue');
    serve = await startServe(dataDir);
  });

  it('verifies the audit chain, and names the first entry that was changed or deleted', async () => {
    const intact = await runCli(['audit', 'verify', '--data-dir', dataDir]);
    expect(intact.code, intact.stderr).toBe(0);
    expect(intact.stdout).toMatch(/INTACT: \d+ audit entries/);
    const exported = (await runCli(['audit', 'export', '--data-dir', dataDir])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    const types = exported.map((e) => e.type);
    for (const type of [
      'approval.created',
      'gate.totp.accepted',
      'gate.otp_argument.refused',
      'approval.decided',
      'approval.consumed',
      'gateway.forwarded',
    ]) {
      expect(types).toContain(type);
    }

    const db = new Database(join(dataDir, 'loopgate.db'));
    const row = db
      .prepare("SELECT seq, data FROM audit_log WHERE type = 'approval.decided' LIMIT 1")
      .get() as { seq: number; data: string };
    db.prepare('UPDATE audit_log SET data = ? WHERE seq = ?').run(
      row.data.replace('approved', 'rejected'),
      row.seq,
    );
    db.close();
    const edited = await runCli(['audit', 'verify', '--data-dir', dataDir]);
    expect(edited.code).not.toBe(0);
    expect(edited.stderr).toMatch(new RegExp(`BROKEN: audit entry ${row.seq}:`));

    const db2 = new Database(join(dataDir, 'loopgate.db'));
    db2.prepare('UPDATE audit_log SET data = ? WHERE seq = ?').run(row.data, row.seq);
    db2.prepare('DELETE FROM audit_log WHERE seq = ?').run(row.seq + 1);
    db2.close();
    const deleted = await runCli(['audit', 'verify', '--data-dir', dataDir]);
    expect(deleted.code).not.toBe(0);
    expect(deleted.stderr).toMatch(new RegExp(`BROKEN: audit entry ${row.seq + 2}:`));
  });
});
