import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, describe, expect, it } from 'vitest';
import { cliPath, runCli, startServe, type ServeProcess } from '../support/cli.js';

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };

const dirs: string[] = [];
const servers: ServeProcess[] = [];
function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-cli-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const server of servers) await server.stop('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('loopgate keys', () => {
  it('creates a key shown once and stored hashed, lists it, and revokes it', async () => {
    const dataDir = tempDataDir();
    const created = await runCli(['keys', 'create', '--name', 'claude', '--data-dir', dataDir]);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^lg_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/shown once/);

    const listed = await runCli(['keys', 'list', '--data-dir', dataDir]);
    const [id, name, scope, prefix, state] = listed.stdout.trim().split('\t');
    expect(name).toBe('claude');
    expect(scope).toBe('agent');
    expect(prefix).toBe(`${key.slice(0, 10)}…`);
    expect(state).toBe('active');
    expect(listed.stdout).not.toContain(key);

    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(dataDir, 'loopgate.db'), { readonly: true });
    const rows = db.prepare('SELECT * FROM agent_keys').all();
    db.close();
    expect(JSON.stringify(rows)).not.toContain(key);
    expect(statSync(join(dataDir, 'loopgate.db')).mode & 0o777).toBe(0o600);

    expect((await runCli(['keys', 'revoke', id!, '--data-dir', dataDir])).code).toBe(0);
    expect((await runCli(['keys', 'list', '--data-dir', dataDir])).stdout).toMatch(/revoked/);
    const again = await runCli(['keys', 'revoke', id!, '--data-dir', dataDir]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/E_KEY_NOT_FOUND/);
  });

  it('creates gateway keys for a remote proxy, and shows each key’s scope', async () => {
    const dataDir = tempDataDir();
    const created = await runCli(['keys', 'create', '--name', 'proxy', '--scope', 'gateway', '--data-dir', dataDir]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/Created gateway key/);
    const listed = await runCli(['keys', 'list', '--data-dir', dataDir]);
    expect(listed.stdout.trim().split('\t').slice(1, 3)).toEqual(['proxy', 'gateway']);
    const wrong = await runCli(['keys', 'create', '--name', 'x', '--scope', 'admin', '--data-dir', dataDir]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/E_CLI_USAGE: --scope must be "agent" .* or "gateway"/);
  });

  it('explains usage mistakes', async () => {
    const dataDir = tempDataDir();
    const noName = await runCli(['keys', 'create', '--data-dir', dataDir]);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toMatch(/E_CLI_USAGE: keys create needs --name/);
    const unknown = await runCli(['launch', '--data-dir', dataDir]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown command "launch"/);
    const badFlag = await runCli(['serve', '--colour', 'blue']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/E_CLI_USAGE/);
    const help = await runCli(['--help']);
    expect(help.stdout).toMatch(/loopgate serve/);
  });

  it('prints the signing secret, which LOOPGATE_SIGNING_SECRET overrides', async () => {
    const dataDir = tempDataDir();
    const shown = await runCli(['secret', 'show', '--data-dir', dataDir]);
    expect(shown.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect((await runCli(['secret', 'show', '--data-dir', dataDir])).stdout).toBe(shown.stdout);
    const fromEnv = await runCli(['secret', 'show', '--data-dir', dataDir], { env: { LOOPGATE_SIGNING_SECRET: 'a-secret-from-the-environment' } });
    expect(fromEnv.stdout.trim()).toBe('a-secret-from-the-environment');
  });

  it('login-url says when no server runs on the data dir', async () => {
    const result = await runCli(['login-url', '--data-dir', tempDataDir()]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/No loopgate server is running/);
  });
});

describe('loopgate mcp --server-url (remote server)', () => {
  it('asks a remote server, and the agent gets the decision with a receipt it can verify', async () => {
    const dataDir = tempDataDir();
    const server = await startServe(dataDir);
    servers.push(server);
    const key = (await runCli(['keys', 'create', '--name', 'remote-agent', '--data-dir', dataDir])).stdout.trim();
    const client = new Client({ name: 'e2e-remote', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [cliPath, 'mcp', '--server-url', server.url, '--api-key', key, '--data-dir', tempDataDir()],
        stderr: 'pipe',
      }),
    );
    const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }) as Promise<ToolResult>;
    const created = await call('request_approval', { action_description: 'Rotate the API key', action_details: { service: 'billing' } });
    const { pause_id } = created.structuredContent as { pause_id: string };
    expect(created.structuredContent).toMatchObject({ approval_url: `${server.url}/approvals/${pause_id}` });

    const waiting = call('wait_for_approval', { pause_id, max_wait_seconds: 30 });
    // A human decides through the server's own API (the browser flow is covered elsewhere).
    const login = await fetch(server.loginUrl, { redirect: 'manual' });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const { csrf_token } = (await (await fetch(`${server.url}/v1/session`, { headers: { cookie } })).json()) as { csrf_token: string };
    const decided = await fetch(`${server.url}/v1/approvals/${pause_id}/decision`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf_token, 'content-type': 'application/json', origin: server.url },
      body: JSON.stringify({ decision: 'approved', comment: 'remote ok' }),
    });
    expect(decided.status).toBe(200);
    const result = await waiting;
    expect(result.structuredContent).toMatchObject({ status: 'responded', agent_id: 'remote-agent', response: { decision: 'approved' } });
    const verified = await call('verify_receipt', { result: result.structuredContent });
    expect(verified.structuredContent).toMatchObject({ valid: true, decision: 'approved' });
    await client.close();
  });

  it('says the server is unreachable, and that a bad key is refused', async () => {
    const client = new Client({ name: 'e2e-remote', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [cliPath, 'mcp', '--server-url', 'http://127.0.0.1:9', '--api-key', 'lg_x', '--data-dir', tempDataDir()],
        stderr: 'pipe',
      }),
    );
    const result = (await client.callTool({ name: 'request_approval', arguments: { action_description: 'x', action_details: {} } })) as ToolResult;
    expect(result.isError).toBe(true);
    expect(result.content[0]?.text).toMatch(/E_REMOTE_UNREACHABLE: Could not reach the loopgate server at http:\/\/127\.0\.0\.1:9/);
    await client.close();

    const dataDir = tempDataDir();
    const server = await startServe(dataDir);
    servers.push(server);
    const bad = new Client({ name: 'e2e-remote', version: '1.0.0' });
    await bad.connect(
      new StdioClientTransport({ command: process.execPath, args: [cliPath, 'mcp', '--server-url', server.url, '--api-key', 'lg_forged'], stderr: 'pipe' }),
    );
    const refused = (await bad.callTool({ name: 'request_approval', arguments: { action_description: 'x', action_details: {} } })) as ToolResult;
    expect(refused.isError).toBe(true);
    expect(refused.content[0]?.text).toMatch(/E_AUTH_KEY_INVALID/);
    await bad.close();
  });

  it('uses the server already running on the same data dir, so there is one inbox', async () => {
    const dataDir = tempDataDir();
    const server = await startServe(dataDir);
    servers.push(server);
    const connectLocal = async () => {
      const client = new Client({ name: 'e2e-local', version: '1.0.0' });
      await client.connect(new StdioClientTransport({ command: process.execPath, args: [cliPath, 'mcp', '--data-dir', dataDir], stderr: 'pipe' }));
      return client;
    };
    const client = await connectLocal();
    const created = (await client.callTool({ name: 'request_approval', arguments: { action_description: 'x', action_details: {} } })) as ToolResult;
    const { pause_id, approval_url } = created.structuredContent as { pause_id: string; approval_url: string };
    expect(approval_url).toBe(`${server.url}/approvals/${pause_id}`);
    const inbox = await fetch(`${server.url}/v1/approvals/${pause_id}`, { headers: { authorization: `Bearer ${(await runCli(['keys', 'create', '--name', 'local', '--data-dir', dataDir])).stdout.trim()}` } });
    expect(((await inbox.json()) as { status: string }).status).toBe('pending');
    await client.close();
    // A second start reuses the saved key instead of making a new one each time.
    const again = await connectLocal();
    await again.callTool({ name: 'check_approval', arguments: { pause_id } });
    await again.close();
    const keys = (await runCli(['keys', 'list', '--data-dir', dataDir])).stdout.trim().split('\n');
    expect(keys).toHaveLength(2); // the saved local key, and the one this test made
  });

  it('refuses --server-url without --api-key', async () => {
    const result = await runCli(['mcp', '--server-url', 'http://127.0.0.1:9']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/--server-url needs --api-key/);
  });
});
