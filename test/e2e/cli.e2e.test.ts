import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, describe, expect, it } from 'vitest';
import { databasePath } from '../../src/cli/startServer.js';
import { hashSecret } from '../../src/core/ids.js';
import { generateTotpCode } from '../../src/gates/totpCode.js';
import { openSqliteStore } from '../../src/store/sqliteStore.js';
import { cliPath, runCli, runCliAnswering, startServe, type ServeProcess } from '../support/cli.js';

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
    const [id, name, prefix, state] = listed.stdout.trim().split('\t');
    expect(name).toBe('claude');
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

describe('loopgate totp enroll', () => {
  /** The `gate.totp.enrolled` audit entries of a data dir, oldest first. */
  async function enrolments(dataDir: string): Promise<Record<string, unknown>[]> {
    const exported = await runCli(['audit', 'export', '--data-dir', dataDir]);
    return exported.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; data: Record<string, unknown> })
      .filter((entry) => entry.type === 'gate.totp.enrolled')
      .map((entry) => entry.data);
  }

  /** The printed otpauth:// URI, once its whole line has come. */
  const uriIn = (stdout: string) => /otpauth:\/\/totp\/\S+(?=\n)/.exec(stdout)?.[0] ?? null;

  it('asks for --replace, and replaces only after a first code from the new secret; a lock survives', async () => {
    const dataDir = tempDataDir();
    const first = await runCli(['totp', 'enroll', '--data-dir', dataDir]);
    expect(first.code, first.stderr).toBe(0);
    expect(uriIn(first.stdout)).not.toBeNull();

    const again = await runCli(['totp', 'enroll', '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('E_TOTP_ALREADY_ENROLLED');
    expect(again.stderr).toContain('--replace');
    expect(again.stderr).not.toMatch(/\n\s+at /);

    // No code (CI has no terminal), then a wrong one: nothing is replaced.
    const silent = await runCli(['totp', 'enroll', '--replace', '--data-dir', dataDir]);
    expect(silent.code).toBe(1);
    expect(silent.stderr).toContain('E_TOTP_CODE_MALFORMED');
    const wrong = await runCliAnswering(['totp', 'enroll', '--replace', '--data-dir', dataDir], (out) => (uriIn(out) ? '000000' : null));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('E_TOTP_CODE_INVALID');
    expect(await enrolments(dataDir)).toHaveLength(1);

    // Lock it as ten wrong codes would, then replace with the right first code.
    const store = openSqliteStore(databasePath(dataDir));
    const admin = (await store.getOperatorByName('admin'))!;
    await store.updateTotpState(admin.id, (row) => ({ state: { ...row.state, consecutiveFailures: 10, lockedAt: Date.now() }, result: null }));
    await store.close();

    const replaced = await runCliAnswering(['totp', 'enroll', '--replace', '--data-dir', dataDir], (out) => {
      const uri = uriIn(out);
      return uri ? generateTotpCode({ secret: new URL(uri).searchParams.get('secret')! }) : null;
    });
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(replaced.stderr).toContain('still locked');
    expect(await enrolments(dataDir)).toEqual([
      { operator: 'admin', replaced: false, via: 'cli' },
      { operator: 'admin', replaced: true, via: 'cli' },
    ]);
    expect((await runCli(['operators', 'list', '--data-dir', dataDir])).stdout).toContain('totp (locked)');
  }, 120_000);

  it('records an invite link and a login-url --enroll link as allowed to add a first factor, a plain link not', async () => {
    const dataDir = tempDataDir();
    const plain = await runCli(['login-url', '--data-dir', dataDir]);
    const enroll = await runCli(['login-url', '--enroll', '--data-dir', dataDir]);
    const invite = await runCli(['operators', 'invite', 'bob', '--data-dir', dataDir]);
    expect(enroll.stdout).toContain('&next=/settings');
    expect(invite.stdout).toContain('&next=/settings');
    const tokenOf = (stdout: string) => new URL(stdout.trim()).searchParams.get('token')!;
    const store = openSqliteStore(databasePath(dataDir));
    try {
      const sources = await Promise.all(
        [plain, enroll, invite].map(async (r) => {
          const used = await store.consumeLoginToken(hashSecret(tokenOf(r.stdout)), Date.now());
          return used.ok ? used.source : used.reason;
        }),
      );
      expect(sources).toEqual(['login', 'enroll', 'invite']);
    } finally {
      await store.close();
    }
  }, 60_000);
});
