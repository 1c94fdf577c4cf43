import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * Reuses this checkout's compiled better-sqlite3 addon in the fresh install when both are the same
 * version (what a prebuilt download gives a newcomer); else compiles it there. Only the native
 * build is shared: every other file comes from the tarball and the registry.
 */
async function provideSqliteAddon(app: string): Promise<void> {
  const version = (dir: string) =>
    (
      JSON.parse(
        readFileSync(join(dir, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8'),
      ) as { version: string }
    ).version;
  const addon = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  if (version(app) === version(repoRoot) && existsSync(join(repoRoot, addon))) {
    mkdirSync(dirname(join(app, addon)), { recursive: true });
    copyFileSync(join(repoRoot, addon), join(app, addon));
  } else {
    await run(npm, ['rebuild', 'better-sqlite3'], { cwd: app, maxBuffer: 64 * 1024 * 1024 });
  }
}

/**
 * The newcomer's path: `npm pack`, install the tarball into an empty folder, run `npx loopgate`.
 * Timeouts are generous (an install may compile a native addon); nothing here measures speed.
 */
describe('the packed tarball', () => {
  let work: string;
  let app: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'loopgate-pack-'));
    const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', work], {
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as {
      filename: string;
      files: { path: string }[];
    }[];
    expect(packed).toBeDefined();
    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'newcomer', version: '1.0.0', private: true }),
    );
    await run(
      npm,
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--ignore-scripts',
        join(work, packed!.filename),
      ],
      {
        cwd: app,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, npm_config_loglevel: 'error' },
      },
    );
    await provideSqliteAddon(app);
  }, 600_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the license, the examples the README uses and the built CLI, and no build leftovers', () => {
    const installed = join(app, 'node_modules', 'loopgate');
    const top = readdirSync(installed);
    expect(top).toEqual(
      expect.arrayContaining(['LICENSE', 'README.md', 'dist', 'web', 'docs', 'examples']),
    );
    expect(readdirSync(join(installed, 'examples'))).toEqual(
      expect.arrayContaining(['policy.yaml', 'demo-server']),
    );
    expect(readdirSync(join(installed, 'dist'))).not.toContain('.tsbuildinfo');
  });

  it('answers MCP over stdio through `npx loopgate mcp`', async () => {
    const dataDir = join(work, 'data');
    const client = new Client({ name: 'newcomer', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: 'npx',
        args: ['--no-install', 'loopgate', 'mcp', '--data-dir', dataDir, '--port', '0'],
        cwd: app,
        stderr: 'pipe',
      }),
    );
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(
        expect.arrayContaining(['request_approval', 'wait_for_approval', 'check_approval']),
      );
      const created = (await client.callTool({
        name: 'request_approval',
        arguments: {
          action_description: 'Deploy to production',
          action_details: { service: 'api' },
        },
      })) as { structuredContent?: { status?: string; approval_url?: string } };
      expect(created.structuredContent?.status).toBe('pending');
      expect(created.structuredContent?.approval_url).toMatch(
        /^http:\/\/localhost:\d+\/approvals\//,
      );
    } finally {
      await client.close();
    }
  }, 120_000);
});
