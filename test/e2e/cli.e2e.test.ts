import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, describe, expect, it } from 'vitest';
import { databasePath } from '../../src/cli/startServer.js';
import { hashSecret } from '../../src/core/ids.js';
import { generateTotpCode } from '../../src/gates/totpCode.js';
import { openSqliteStore } from '../../src/store/sqliteStore.js';
import {
  cliPath,
  decideWithSignInLink,
  initDataDir,
  runCli,
  runCliAnswering,
  startServe,
  type ServeProcess,
} from '../support/cli.js';

type ToolResult = {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
};

const dirs: string[] = [];
const servers: ServeProcess[] = [];
/** An empty folder, not yet a data dir. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-cli-'));
  dirs.push(dir);
  return dir;
}
/** A data dir as `loopgate serve` leaves it (the database exists). */
function tempDataDir(): Promise<string> {
  return initDataDir(tempDir());
}
afterAll(async () => {
  for (const server of servers) await server.stop('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('loopgate keys', () => {
  it('creates a key shown once and stored hashed, lists it, and revokes it', async () => {
    const dataDir = await tempDataDir();
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
    const dataDir = await tempDataDir();
    const created = await runCli([
      'keys',
      'create',
      '--name',
      'proxy',
      '--scope',
      'gateway',
      '--data-dir',
      dataDir,
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/Created gateway key/);
    const listed = await runCli(['keys', 'list', '--data-dir', dataDir]);
    expect(listed.stdout.trim().split('\t').slice(1, 3)).toEqual(['proxy', 'gateway']);
    const wrong = await runCli([
      'keys',
      'create',
      '--name',
      'x',
      '--scope',
      'admin',
      '--data-dir',
      dataDir,
    ]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/E_CLI_USAGE: --scope must be "agent" .* or "gateway"/);
  });

  it('explains usage mistakes', async () => {
    const dataDir = await tempDataDir();
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
    const dataDir = await tempDataDir();
    const shown = await runCli(['secret', 'show', '--data-dir', dataDir]);
    expect(shown.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect((await runCli(['secret', 'show', '--data-dir', dataDir])).stdout).toBe(shown.stdout);
    const fromEnv = await runCli(['secret', 'show', '--data-dir', dataDir], {
      env: { LOOPGATE_SIGNING_SECRET: 'a-secret-from-the-environment' },
    });
    expect(fromEnv.stdout.trim()).toBe('a-secret-from-the-environment');
  });

  it('login-url says when no server runs on the data dir', async () => {
    const result = await runCli(['login-url', '--data-dir', await tempDataDir()]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/No loopgate server is running/);
  });
});

describe('loopgate mcp --server-url (remote server)', () => {
  it('asks a remote server, and the agent gets the decision with a receipt it can verify', async () => {
    const dataDir = await tempDataDir();
    const server = await startServe(dataDir);
    servers.push(server);
    const key = (
      await runCli(['keys', 'create', '--name', 'remote-agent', '--data-dir', dataDir])
    ).stdout.trim();
    const client = new Client({ name: 'e2e-remote', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [
          cliPath,
          'mcp',
          '--server-url',
          server.url,
          '--api-key',
          key,
          '--data-dir',
          tempDir(),
        ],
        stderr: 'pipe',
      }),
    );
    const call = (name: string, args: Record<string, unknown>) =>
      client.callTool({ name, arguments: args }) as Promise<ToolResult>;
    const created = await call('request_approval', {
      action_description: 'Rotate the API key',
      action_details: { service: 'billing' },
    });
    const { pause_id } = created.structuredContent as { pause_id: string };
    expect(created.structuredContent).toMatchObject({
      approval_url: `${server.url}/approvals/${pause_id}`,
    });

    const waiting = call('wait_for_approval', { pause_id, max_wait_seconds: 30 });
    // A human decides through the server's own API (the browser flow is covered elsewhere).
    expect(
      await decideWithSignInLink(server, pause_id, { decision: 'approved', comment: 'remote ok' }),
    ).toBe(200);
    const result = await waiting;
    expect(result.structuredContent).toMatchObject({
      status: 'responded',
      agent_id: 'remote-agent',
      response: { decision: 'approved' },
    });
    const verified = await call('verify_receipt', { result: result.structuredContent });
    expect(verified.structuredContent).toMatchObject({ valid: true, decision: 'approved' });
    await client.close();
  });

  it('says the server is unreachable, and that a bad key is refused', async () => {
    const client = new Client({ name: 'e2e-remote', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [
          cliPath,
          'mcp',
          '--server-url',
          'http://127.0.0.1:9',
          '--api-key',
          'lg_x',
          '--data-dir',
          tempDir(),
        ],
        stderr: 'pipe',
      }),
    );
    const result = (await client.callTool({
      name: 'request_approval',
      arguments: { action_description: 'x', action_details: {} },
    })) as ToolResult;
    expect(result.isError).toBe(true);
    expect(result.content[0]?.text).toMatch(
      /E_REMOTE_UNREACHABLE: Could not reach the loopgate server at http:\/\/127\.0\.0\.1:9/,
    );
    await client.close();

    const dataDir = await tempDataDir();
    const server = await startServe(dataDir);
    servers.push(server);
    const bad = new Client({ name: 'e2e-remote', version: '1.0.0' });
    await bad.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [cliPath, 'mcp', '--server-url', server.url, '--api-key', 'lg_forged'],
        stderr: 'pipe',
      }),
    );
    const refused = (await bad.callTool({
      name: 'request_approval',
      arguments: { action_description: 'x', action_details: {} },
    })) as ToolResult;
    expect(refused.isError).toBe(true);
    expect(refused.content[0]?.text).toMatch(/E_AUTH_KEY_INVALID/);
    await bad.close();
  });

  it('uses the server already running on the same data dir, so there is one inbox', async () => {
    const dataDir = await tempDataDir();
    const server = await startServe(dataDir);
    servers.push(server);
    const connectLocal = async () => {
      const client = new Client({ name: 'e2e-local', version: '1.0.0' });
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [cliPath, 'mcp', '--data-dir', dataDir],
          stderr: 'pipe',
        }),
      );
      return client;
    };
    const client = await connectLocal();
    const created = (await client.callTool({
      name: 'request_approval',
      arguments: { action_description: 'x', action_details: {} },
    })) as ToolResult;
    const { pause_id, approval_url } = created.structuredContent as {
      pause_id: string;
      approval_url: string;
    };
    expect(approval_url).toBe(`${server.url}/approvals/${pause_id}`);
    const inbox = await fetch(`${server.url}/v1/approvals/${pause_id}`, {
      headers: {
        authorization: `Bearer ${(await runCli(['keys', 'create', '--name', 'local', '--data-dir', dataDir])).stdout.trim()}`,
      },
    });
    expect(((await inbox.json()) as { status: string }).status).toBe('pending');
    await client.close();
    // A second start reuses the saved key instead of making a new one each time.
    const again = await connectLocal();
    await again.callTool({ name: 'check_approval', arguments: { pause_id } });
    await again.close();
    const keys = (await runCli(['keys', 'list', '--data-dir', dataDir])).stdout.trim().split('\n');
    expect(keys).toHaveLength(2); // the saved local key, and the one this test made
  });

  it('waits for a busy server already running on the data dir instead of starting a second one', async () => {
    const dataDir = await tempDataDir();
    const server = await startServe(dataDir);
    servers.push(server);
    // The running server answers /healthz only after 3 s, as one on a busy machine may: a
    // forwarding front whose URL replaces the server's in server.json.
    const target = new URL(server.url);
    const front = createHttpServer((req, res) => {
      const forward = () =>
        req.pipe(
          httpRequest(
            {
              host: target.hostname,
              port: target.port,
              path: req.url,
              method: req.method,
              headers: { ...req.headers, host: target.host },
            },
            (answer) => {
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              answer.pipe(res);
            },
          ).on('error', () => res.destroy()),
        );
      if (req.url === '/healthz') setTimeout(forward, 3_000);
      else forward();
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    try {
      const frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
      const info = join(dataDir, 'server.json');
      const written = JSON.parse(readFileSync(info, 'utf8')) as Record<string, unknown>;
      writeFileSync(info, JSON.stringify({ ...written, url: frontUrl }));

      const client = new Client({ name: 'e2e-busy', version: '1.0.0' });
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [cliPath, 'mcp', '--data-dir', dataDir],
          stderr: 'pipe',
        }),
      );
      try {
        const created = (await client.callTool({
          name: 'request_approval',
          arguments: { action_description: 'x', action_details: {} },
        })) as ToolResult;
        // The running server made the request: its inbox, not a second server's.
        const { pause_id, approval_url } = created.structuredContent as Record<string, string>;
        expect(approval_url).toBe(`${server.url}/approvals/${pause_id}`);
      } finally {
        await client.close();
      }
    } finally {
      await new Promise((resolve) => front.close(resolve));
    }
  });

  it('refuses --server-url without --api-key', async () => {
    const result = await runCli(['mcp', '--server-url', 'http://127.0.0.1:9']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /--server-url needs an agent key: --api-key-file FILE or LOOPGATE_API_KEY/,
    );
  });
});

const repo = fileURLToPath(new URL('../../', import.meta.url));
const text = (r: ToolResult) => r.content.map((c) => c.text ?? '').join('\n');
const noStackTrace = /\n\s+at /;
/** For tests that spawn several processes: the machine running them may be busy. */
const spawnsSeveral = 120_000;

/** A spawned `loopgate …` speaking MCP over stdio, with everything it wrote to stderr. */
async function connectCli(args: string[], env: Record<string, string> = {}) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cliPath, ...args],
    env: {
      ...(Object.fromEntries(
        Object.entries(process.env).filter(([, v]) => v !== undefined),
      ) as Record<string, string>),
      ...env,
    },
    stderr: 'pipe',
    cwd: repo,
  });
  let stderr = '';
  const stream = transport.stderr!;
  stream.on('data', (d: Buffer) => (stderr += d.toString()));
  const ended = new Promise<void>((done) => stream.once('end', () => done()));
  const client = new Client({ name: 'e2e-cli', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    pid: transport.pid!,
    call: (name: string, args: Record<string, unknown> = {}) =>
      client.callTool({ name, arguments: args }) as Promise<ToolResult>,
    stderr: () => stderr,
    /** Resolves once stderr matches `pattern` (no deadline of its own: the test's timeout is). */
    async untilStderr(pattern: RegExp): Promise<void> {
      while (!pattern.test(stderr)) await new Promise((next) => stream.once('data', next));
    },
    /** Closes the client and resolves with all the process wrote to stderr, up to its exit. */
    async close(): Promise<string> {
      await client.close();
      await ended;
      return stderr;
    },
  };
}

/** A wrapped MCP server, written by the test, that will not start without WRAPPED_SERVER_TOKEN. */
function writeServerThatNeedsAToken(): { server: string; policy: string } {
  // Inside the repository, so the server finds its imports in node_modules; .tmp/ is ignored by git.
  mkdirSync(join(repo, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(repo, '.tmp', 'cli-'));
  dirs.push(dir);
  const server = join(dir, 'needs-token.mjs');
  writeFileSync(
    server,
    `import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';
if (!process.env.WRAPPED_SERVER_TOKEN) {
  console.error('needs-token: WRAPPED_SERVER_TOKEN is not set');
  process.exit(1);
}
serveStdio(() => {
  const server = new McpServer({ name: 'needs-token', version: '1.0.0' });
  server.registerTool('show_environment', { inputSchema: z.object({}) }, async () => ({
    content: [{ type: 'text', text: JSON.stringify({ token: process.env.WRAPPED_SERVER_TOKEN, loopgate: Object.keys(process.env).filter((k) => k.startsWith('LOOPGATE_')) }) }],
  }));
  return server;
});
`,
  );
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'default: none\n');
  return { server, policy };
}

describe('sign-in links stay out of MCP hosts’ logs', { timeout: spawnsSeveral }, () => {
  it('loopgate mcp and loopgate proxy print how to get a link (loopgate login-url), never a token', async () => {
    const mcpDir = tempDir();
    const mcp = await connectCli(['mcp', '--data-dir', mcpDir, '--port', '0']);
    await mcp.untilStderr(/inbox at/);
    expect(
      (await mcp.call('request_approval', { action_description: 'x', action_details: {} })).isError,
    ).toBeFalsy();
    const mcpStderr = await mcp.close();
    expect(mcpStderr).toContain(`run \`loopgate login-url --data-dir ${mcpDir}\` in a terminal`);
    expect(mcpStderr).not.toContain('token=');

    const proxyDir = tempDir();
    const { server, policy } = writeServerThatNeedsAToken();
    const proxy = await connectCli(
      [
        'proxy',
        '--data-dir',
        proxyDir,
        '--port',
        '0',
        '--policy',
        policy,
        '--',
        process.execPath,
        server,
      ],
      {
        WRAPPED_SERVER_TOKEN: 'tok-1',
      },
    );
    await proxy.untilStderr(/inbox at/);
    const proxyStderr = await proxy.close();
    expect(proxyStderr).toContain(
      `run \`loopgate login-url --data-dir ${proxyDir}\` in a terminal`,
    );
    expect(proxyStderr).not.toContain('token=');
    // The link is one command away for the human at a terminal.
    const link = await runCli(['login-url', '--data-dir', proxyDir]);
    expect(link.stdout).toMatch(/\/login\?token=/);
  });
});

describe(
  'loopgate proxy passes its environment to the server it wraps',
  { timeout: spawnsSeveral },
  () => {
    it('a wrapped server that needs a token gets it, and none of loopgate’s own settings', async () => {
      const { server, policy } = writeServerThatNeedsAToken();
      const proxy = await connectCli(
        [
          'proxy',
          '--data-dir',
          tempDir(),
          '--port',
          '0',
          '--policy',
          policy,
          '--',
          process.execPath,
          server,
        ],
        {
          WRAPPED_SERVER_TOKEN: 'ghp_from_the_host_config',
          LOOPGATE_SIGNING_SECRET: 'a-signing-secret-the-wrapped-server-must-not-see',
        },
      );
      const shown = await proxy.call('show_environment');
      expect(shown.isError, text(shown)).toBeFalsy();
      expect(JSON.parse(text(shown))).toEqual({ token: 'ghp_from_the_host_config', loopgate: [] });
      await proxy.close();
    });
  },
);

describe(
  'the agent key never on the command line (--api-key-file, LOOPGATE_API_KEY)',
  { timeout: spawnsSeveral },
  () => {
    it('remote mode works with the key in a file or in the environment, and the process list does not show it', async () => {
      const dataDir = await tempDataDir();
      const server = await startServe(dataDir);
      servers.push(server);
      const key = (
        await runCli(['keys', 'create', '--name', 'quiet-agent', '--data-dir', dataDir])
      ).stdout.trim();
      const keyFile = join(tempDir(), 'agent-key');
      writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
      for (const [args, env] of [
        [['--api-key-file', keyFile], {}],
        [[], { LOOPGATE_API_KEY: key }],
        [[], { LOOPGATE_API_KEY_FILE: keyFile }],
      ] as [string[], Record<string, string>][]) {
        const mcp = await connectCli(
          ['mcp', '--server-url', server.url, ...args, '--data-dir', tempDir()],
          env,
        );
        // What every local user can read about the process.
        expect(readFileSync(`/proc/${mcp.pid}/cmdline`, 'utf8')).not.toContain(key);
        const created = await mcp.call('request_approval', {
          action_description: 'Rotate the key',
          action_details: {},
        });
        expect(created.isError, text(created)).toBeFalsy();
        const { pause_id } = created.structuredContent as { pause_id: string };
        expect((await mcp.call('check_approval', { pause_id })).structuredContent).toMatchObject({
          agent_id: 'quiet-agent',
          status: 'pending',
        });
        await mcp.close();
      }
    });

    it('says which key file is missing, unreadable or empty', async () => {
      const dir = tempDir();
      const missing = await runCli([
        'mcp',
        '--server-url',
        'http://127.0.0.1:9',
        '--api-key-file',
        join(dir, 'nope'),
      ]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(
        `E_CONFIG_API_KEY_FILE: --api-key-file ${join(dir, 'nope')}: could not read it (there is no such file)`,
      );
      writeFileSync(join(dir, 'empty'), ' \n');
      const empty = await runCli(['mcp', '--server-url', 'http://127.0.0.1:9'], {
        env: { LOOPGATE_API_KEY_FILE: join(dir, 'empty') },
      });
      expect(empty.stderr).toContain(
        `E_CONFIG_API_KEY_FILE: --api-key-file ${join(dir, 'empty')} is empty`,
      );
      const folder = await runCli([
        'mcp',
        '--server-url',
        'http://127.0.0.1:9',
        '--api-key-file',
        dir,
      ]);
      expect(folder.stderr).toMatch(/E_CONFIG_API_KEY_FILE: .*could not read it \(EISDIR/);
      for (const r of [missing, empty, folder]) expect(r.stderr).not.toMatch(noStackTrace);
    });
  },
);

describe('commands that read a data dir never create one', { timeout: spawnsSeveral }, () => {
  const readers = [
    ['keys', 'list'],
    ['keys', 'create', '--name', 'x'],
    ['login-url'],
    ['secret', 'show'],
    ['operators', 'list'],
    ['totp', 'unlock', '--operator', 'admin'],
    ['audit', 'verify'],
    ['webhooks', 'list'],
    ['verify', '-'],
  ];

  it('say which folder they looked in and how to point at the right one', async () => {
    const missing = join(tempDir(), 'not-here');
    const results = await Promise.all(
      readers.map((args) => runCli([...args, '--data-dir', missing], { input: '{}' })),
    );
    for (const [i, r] of results.entries()) {
      expect(r.code, readers[i]!.join(' ')).toBe(1);
      expect(r.stderr).toContain(`E_CLI_DATA_DIR_MISSING: There is no folder ${missing}`);
      expect(r.stderr).toContain('--data-dir DIR or LOOPGATE_DATA_DIR=DIR');
    }
    expect(existsSync(missing)).toBe(false);

    // The default ./.loopgate of a folder that has none, and an empty folder named by the env var.
    const elsewhere = tempDir();
    const byDefault = await runCli(['keys', 'create', '--name', 'x'], { cwd: elsewhere });
    expect(byDefault.stderr).toContain(`There is no folder ${join(elsewhere, '.loopgate')}`);
    expect(existsSync(join(elsewhere, '.loopgate'))).toBe(false);
    const empty = tempDir();
    const fromEnv = await runCli(['operators', 'list'], { env: { LOOPGATE_DATA_DIR: empty } });
    expect(fromEnv.stderr).toContain(`E_CLI_DATA_DIR_MISSING: ${empty} holds no loopgate database`);
    expect(existsSync(join(empty, 'loopgate.db'))).toBe(false);
  });

  it('verify checks a receipt with --jwks FILE or URL and no data dir', async () => {
    const dataDir = await tempDataDir();
    const server = await startServe(dataDir);
    servers.push(server);
    const key = (
      await runCli(['keys', 'create', '--name', 'verify-agent', '--data-dir', dataDir])
    ).stdout.trim();
    const mcp = await connectCli(['mcp', '--server-url', server.url, '--data-dir', tempDir()], {
      LOOPGATE_API_KEY: key,
    });
    const created = await mcp.call('request_approval', {
      action_description: 'Ship it',
      action_details: {},
    });
    const { pause_id } = created.structuredContent as { pause_id: string };
    const waiting = mcp.call('wait_for_approval', { pause_id, max_wait_seconds: 40 });
    expect(await decideWithSignInLink(server, pause_id, { decision: 'approved' })).toBe(200);
    const result = await waiting;
    await mcp.close();
    const jwksUrl = `${server.url}/.well-known/loopgate/jwks.json`;
    const elsewhere = tempDir();
    const jwksFile = join(elsewhere, 'jwks.json');
    writeFileSync(jwksFile, await (await fetch(jwksUrl)).text());
    for (const jwks of [jwksUrl, jwksFile]) {
      const verified = await runCli(['verify', '-', '--jwks', jwks], {
        input: JSON.stringify(result),
        cwd: elsewhere,
      });
      expect(verified.code, verified.stderr).toBe(0);
      expect(verified.stdout).toMatch(/^VALID: approved by admin/);
    }
    expect(existsSync(join(elsewhere, '.loopgate'))).toBe(false);
  });
});

describe(
  'expected failures say what to do, without a stack trace',
  { timeout: spawnsSeveral },
  () => {
    it('a port in use: by this data dir’s server (a second npm start), another loopgate, another program', async () => {
      const folder = tempDir();
      const server = await startServe(await initDataDir(join(folder, '.loopgate')));
      servers.push(server);
      const port = new URL(server.url).port;
      // What `npm start` runs, from the same folder, on the same port.
      const again = await runCli(['serve'], { cwd: folder, env: { LOOPGATE_PORT: port } });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(
        `E_SERVER_PORT_IN_USE: loopgate already runs on this data dir at ${server.url}/`,
      );
      expect(again.stderr).toContain(`loopgate login-url --data-dir ${join(folder, '.loopgate')}`);

      const other = await runCli(['serve', '--data-dir', await tempDataDir(), '--port', port]);
      expect(other.stderr).toContain(
        `E_SERVER_PORT_IN_USE: Port ${port} on 127.0.0.1 is taken by another loopgate server`,
      );
      expect(other.stderr).toContain('--port');

      const program: Server = createServer((socket) => socket.destroy());
      await new Promise<void>((done) => program.listen(0, '127.0.0.1', done));
      const programPort = String((program.address() as { port: number }).port);
      const taken = await runCli([
        'serve',
        '--data-dir',
        await tempDataDir(),
        '--port',
        programPort,
      ]);
      await new Promise((done) => program.close(done));
      expect(taken.stderr).toContain(
        `E_SERVER_PORT_IN_USE: Port ${programPort} on 127.0.0.1 is taken by another program`,
      );
      for (const r of [again, other, taken]) expect(r.stderr).not.toMatch(noStackTrace);
    });

    it('a missing file is named', async () => {
      const dir = tempDir();
      const receipt = await runCli([
        'verify',
        join(dir, 'result.json'),
        '--jwks',
        join(dir, 'jwks.json'),
      ]);
      expect(receipt.code).toBe(1);
      expect(receipt.stderr).toContain(
        `E_CLI_FILE_NOT_FOUND: Could not read ${join(dir, 'result.json')}`,
      );
      const jwks = await runCli(['verify', '-', '--jwks', join(dir, 'jwks.json')], {
        input: 'x.y.z',
      });
      expect(jwks.stderr).toContain(
        `E_CLI_FILE_NOT_FOUND: --jwks ${join(dir, 'jwks.json')}: could not read it (there is no such file)`,
      );
      for (const r of [receipt, jwks]) expect(r.stderr).not.toMatch(noStackTrace);
    });
  },
);

describe('loopgate --version and per-command help', { timeout: spawnsSeveral }, () => {
  it('lists each command’s flags and environment variables, from the config schema', async () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
    expect((await runCli(['--version'])).stdout.trim()).toBe(pkg.version);

    const proxy = await runCli(['help', 'proxy']);
    expect(proxy.code).toBe(0);
    expect(proxy.stdout).toMatch(/--policy VALUE\s+LOOPGATE_POLICY\s+proxy: the policy file/);
    expect(proxy.stdout).toMatch(/--api-key-file VALUE\s+LOOPGATE_API_KEY_FILE/);
    const keys = await runCli(['keys', '--help']);
    expect(keys.stdout).toMatch(/--name NAME/);
    expect(keys.stdout).toMatch(
      /--data-dir VALUE\s+LOOPGATE_DATA_DIR\s+.*\(default \.\/\.loopgate\)/,
    );
    expect(keys.stdout).not.toMatch(/LOOPGATE_SLACK/);

    const unknown = await runCli(['help', 'launch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown command "launch"/);
  });
});

describe('a server restart under a waiting agent', { timeout: spawnsSeveral }, () => {
  it('the agent is told to wait again, and the wait works once the server is back', async () => {
    const dataDir = await tempDataDir();
    const first = await startServe(dataDir);
    servers.push(first);
    const port = new URL(first.url).port;
    const mcp = await connectCli(['mcp', '--data-dir', dataDir]);
    await mcp.untilStderr(/using the loopgate server already running/);
    const created = await mcp.call('request_approval', {
      action_description: 'Deploy',
      action_details: {},
    });
    const { pause_id } = created.structuredContent as { pause_id: string };
    const waiting = mcp.call('wait_for_approval', { pause_id, max_wait_seconds: 45 });
    await first.stop('SIGKILL');
    const interrupted = await waiting;
    expect(interrupted.isError).toBe(true);
    expect(text(interrupted)).toMatch(/^E_REMOTE_WAIT_INTERRUPTED: /);
    expect(text(interrupted)).toContain(`Call wait_for_approval again with pause_id "${pause_id}"`);

    const second = await startServe(dataDir, ['--port', port]);
    servers.push(second);
    const again = await mcp.call('wait_for_approval', { pause_id, max_wait_seconds: 1 });
    expect(again.isError, text(again)).toBeFalsy();
    expect(again.structuredContent).toMatchObject({ pause_id, status: 'pending' });
    await mcp.close();
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
    const dataDir = await tempDataDir();
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
    const wrong = await runCliAnswering(
      ['totp', 'enroll', '--replace', '--data-dir', dataDir],
      (out) => (uriIn(out) ? '000000' : null),
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('E_TOTP_CODE_INVALID');
    expect(await enrolments(dataDir)).toHaveLength(1);

    // Lock it as ten wrong codes would, then replace with the right first code.
    const store = openSqliteStore(databasePath(dataDir));
    const admin = (await store.getOperatorByName('admin'))!;
    await store.updateTotpState(admin.id, (row) => ({
      state: { ...row.state, consecutiveFailures: 10, lockedAt: Date.now() },
      result: null,
    }));
    await store.close();

    const replaced = await runCliAnswering(
      ['totp', 'enroll', '--replace', '--data-dir', dataDir],
      (out) => {
        const uri = uriIn(out);
        return uri ? generateTotpCode({ secret: new URL(uri).searchParams.get('secret')! }) : null;
      },
    );
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(replaced.stderr).toContain('still locked');
    expect(await enrolments(dataDir)).toEqual([
      { operator: 'admin', replaced: false, via: 'cli' },
      { operator: 'admin', replaced: true, via: 'cli' },
    ]);
    expect((await runCli(['operators', 'list', '--data-dir', dataDir])).stdout).toContain(
      'totp (locked)',
    );
  }, 120_000);

  it('records an invite link and a login-url --enroll link as allowed to add a first factor, a plain link not', async () => {
    const dataDir = await tempDataDir();
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
