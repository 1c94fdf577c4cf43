import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Page } from 'playwright-core';
import { signInWithLink, type TestBrowser } from './chromium.js';
import { cliPath, runCli, type ServeProcess } from './cli.js';
import type { ToolResult } from './mcpHarness.js';

/**
 * The repository's root: where `loopgate proxy` runs, and below which a test writes its wrapped
 * servers, so that they resolve the MCP SDK from the repository's node_modules.
 */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Writes a wrapped MCP server's source to `fileName` in a fresh folder `.tmp-<prefix>-…` inside
 * the repository. `command` runs it (what follows `--` of `loopgate proxy`); `dir` is the folder
 * (for other files of the test, such as a policy); `remove()` deletes it.
 */
export function writeWrappedServer(prefix: string, fileName: string, source: string) {
  const dir = mkdtempSync(join(repoRoot, `.tmp-${prefix}-`));
  const path = join(dir, fileName);
  writeFileSync(path, source);
  return {
    dir,
    path,
    command: ['node', path],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Spawns the built `loopgate proxy --data-dir <dataDir> --policy <policy> <flags…> -- <command…>`
 * and connects an MCP client (the v1 SDK, over stdio) to it, as an agent's host does. The client
 * is pushed onto `clients`, for {@link closeClients} after the tests.
 */
export async function connectProxyClient(
  options: {
    /** The client's name in its `initialize`. */
    clientName: string;
    dataDir: string;
    /** The policy file. */
    policy: string;
    /** The wrapped server's command line. */
    command: string[];
    /** More flags of `loopgate proxy` (`--agent-name`, `--server-url`, …). */
    flags?: string[];
  },
  clients: Client[],
): Promise<Client> {
  const client = new Client({ name: options.clientName, version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [
        cliPath,
        'proxy',
        '--data-dir',
        options.dataDir,
        '--policy',
        options.policy,
        ...(options.flags ?? []),
        '--',
        ...options.command,
      ],
      cwd: repoRoot,
      stderr: 'pipe',
    }),
  );
  clients.push(client);
  return client;
}

/** Closes every client (a proxy that already ended is no failure) and empties the list. */
export async function closeClients(clients: Client[]): Promise<void> {
  for (const client of clients.splice(0)) await client.close().catch(() => undefined);
}

/**
 * After the tests: closes the proxy clients, kills `loopgate serve`, closes the browser and
 * removes the folders (the data dir, the wrapped server's), each only if it was made.
 */
export async function stopProxyTests(parts: {
  clients: Client[];
  serve: ServeProcess | undefined;
  browser: TestBrowser | undefined;
  dirs: (string | undefined)[];
}): Promise<void> {
  await closeClients(parts.clients);
  await parts.serve?.stop('SIGKILL');
  await parts.browser?.close();
  for (const dir of parts.dirs) if (dir) rmSync(dir, { recursive: true, force: true });
}

/**
 * A new page of `browser`, 390×844 (a phone), signed in as the admin with a fresh link from
 * `loopgate login-url --data-dir <dataDir>`.
 */
export async function openSignedInPage(browser: TestBrowser, dataDir: string): Promise<Page> {
  const link = await runCli(['login-url', '--data-dir', dataDir]);
  const page = await browser.browser.newPage({ viewport: { width: 390, height: 844 } });
  await signInWithLink(page, link.stdout.trim());
  return page;
}

/** Calls a tool through a proxy client. */
export const callTool = (client: Client, name: string, args: Record<string, unknown> = {}) =>
  client.callTool({ name, arguments: args }) as Promise<ToolResult>;

/** The text of a result's content, one line per item. */
export const resultText = (result: ToolResult) =>
  result.content.map((c) => c.text ?? '').join('\n');

/** The admin signed in over the API (as the approval page is): {@link signInOperator}. */
export interface Operator {
  /** POSTs `body` as JSON to `path`; the answer's status and JSON body. */
  post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  /** GETs `path`; the answer's JSON body. */
  get(path: string): Promise<Record<string, unknown>>;
}

/**
 * Signs the admin in to `serve` over `POST /v1/login` with a fresh link from `loopgate login-url
 * --data-dir <dataDir>`; requests then carry the session and CSRF token, with `serve`'s origin.
 */
export async function signInOperator(serve: ServeProcess, dataDir: string): Promise<Operator> {
  const link = (await runCli(['login-url', '--data-dir', dataDir])).stdout.trim();
  const login = await fetch(`${serve.url}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: serve.url },
    body: JSON.stringify({ token: new URL(link).searchParams.get('token') }),
  });
  const { session, csrf_token } = (await login.json()) as { session: string; csrf_token: string };
  const headers = {
    'x-loopgate-session': session,
    'x-csrf-token': csrf_token,
    'content-type': 'application/json',
    origin: serve.url,
  };
  return {
    async post(path, body) {
      const response = await fetch(`${serve.url}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    async get(path) {
      const response = await fetch(`${serve.url}${path}`, { headers });
      return (await response.json()) as Record<string, unknown>;
    },
  };
}
