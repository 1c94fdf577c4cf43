/**
 * Servers for the benchmarks: one started in this process with `startServer`, or the real
 * `loopgate serve` CLI spawned as a child process. Both come with an agent key and a signed-in
 * operator session (session header + CSRF token), obtained the way a user obtains them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../dist/cli/logger.js';
import { startServer } from '../dist/cli/startServer.js';
import { resolveConfig } from '../dist/config/resolveConfig.js';
import {
  createAgentKey,
  createLoginUrl,
  ensureDefaultOperator,
} from '../dist/service/operatorAuth.js';

/** The compiled CLI entry point. */
export const cliPath = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

const liveTempDirs = new Set();
const liveChildren = new Set();

/**
 * On Ctrl-C or SIGTERM, kills the children and removes the temp dirs this run made, then exits
 * with 130. Normal and failing runs clean up in their own `finally` blocks.
 */
export function removeLeftoversOnSignal() {
  const onSignal = () => {
    for (const child of liveChildren) child.kill('SIGKILL');
    for (const path of liveTempDirs) rmSync(path, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** Remembers a child until it exits, for {@link removeLeftoversOnSignal}. */
export function trackChild(child) {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

/** A fresh temp data dir; `remove()` deletes it. */
export function createTempDataDir(label) {
  const path = mkdtempSync(join(tmpdir(), `loopgate-bench-${label}-`));
  liveTempDirs.add(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      liveTempDirs.delete(path);
    },
  };
}

/**
 * Signs in with a one-time link as its page's **Sign in** button does (`POST /v1/login`) and
 * returns the operator's session: `{session, csrfToken}` (sent as `X-Loopgate-Session` and
 * `X-CSRF-Token`).
 * @param {string} baseUrl the server's URL
 * @param {string} loginUrl `<baseUrl>/login?token=…`
 * @throws Error when the sign-in is refused
 */
export async function signInOperator(baseUrl, loginUrl) {
  const token = new URL(loginUrl).searchParams.get('token');
  const login = await fetch(`${baseUrl}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: baseUrl },
    body: JSON.stringify({ token }),
  });
  const body = await login.json();
  if (
    login.status !== 200 ||
    typeof body.session !== 'string' ||
    typeof body.csrf_token !== 'string'
  ) {
    throw new Error(`POST /v1/login answered ${login.status}: ${JSON.stringify(body)}`);
  }
  return { session: body.session, csrfToken: body.csrf_token };
}

/**
 * Starts a server in this process (port 0, temp data dir, silent logs) with an agent key and
 * a signed-in operator.
 * @returns {Promise<{server: import('../dist/cli/startServer.js').RunningServer, url: string,
 *   agentKey: string, operator: {session: string, csrfToken: string}, close(): Promise<void>}>}
 */
export async function startInProcessServer() {
  const dataDir = createTempDataDir('inproc');
  const config = resolveConfig({ dataDir: dataDir.path, port: 0, logLevel: 'silent' }, {});
  const server = await startServer(config, createLogger('silent'));
  try {
    const key = await createAgentKey(server.store, 'bench-agent', Date.now());
    const admin = await ensureDefaultOperator(server.store, Date.now());
    const operator = await signInOperator(
      server.url,
      await createLoginUrl(server.store, admin, server.url, Date.now()),
    );
    return {
      server,
      url: server.url,
      agentKey: key.key,
      operator,
      async close() {
        await server.close();
        dataDir.remove();
      },
    };
  } catch (err) {
    await server.close();
    dataDir.remove();
    throw err;
  }
}

/**
 * Stops a child process: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited.
 * @param {import('node:child_process').ChildProcess} child
 */
export function stopChild(child, graceMs = 3_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Spawns `node dist/cli/main.js serve --port 0 --data-dir <dataDir>` and resolves once it has
 * printed its banner (it listens before it prints it).
 * @param {{dataDir: string, extraArgs?: string[], timeoutMs?: number}} options
 * @returns {Promise<{child: import('node:child_process').ChildProcess, url: string, port: number,
 *   loginUrl: string, bannerMs: number, cpuMsToBanner: number, stop(): Promise<void>}>}
 *   `url`: the public URL it announced; `port`: where it listens itself; `bannerMs`: spawn →
 *   banner, wall milliseconds; `cpuMsToBanner`: CPU time the process had used by then (all
 *   its threads), milliseconds, which other load on the machine inflates far less
 * @throws Error when the process exits or stays silent for `timeoutMs`
 */
export function spawnServe({ dataDir, extraArgs = [], timeoutMs = 15_000 }) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = trackChild(
      spawn(
        process.execPath,
        [cliPath, 'serve', '--port', '0', '--data-dir', dataDir, ...extraArgs],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    let stdout = '';
    let stderr = '';
    let bannerMs;
    let cpuMsToBanner;
    const fail = (why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(
        new Error(`loopgate serve ${why}\nstdout: ${stdout}\nstderr: ${stderr.slice(-2_000)}`),
      );
    };
    const timer = setTimeout(() => fail(`printed no banner within ${timeoutMs} ms`), timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    // Keep draining stderr (the JSON log) so the child never blocks on a full pipe.
    child.stderr.on('data', (chunk) => {
      if (stderr.length < 20_000) stderr += chunk;
    });
    child.once('exit', (code, signal) => {
      if (bannerMs === undefined) fail(`exited (code ${code}, signal ${signal}) before its banner`);
    });
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (bannerMs === undefined && stdout.includes('loopgate is running.')) {
        bannerMs = performance.now() - started;
        cpuMsToBanner = readCpuSeconds(child.pid) * 1_000;
      }
      const inbox = /Inbox:\s+(\S+)\/\s/.exec(stdout);
      const login = /Sign in:\s+(\S+)/.exec(stdout);
      // With --public-url the banner also says where this server itself listens.
      const listens = /Listens:\s+\S+:(\d+)\n/.exec(stdout);
      const needsListens = extraArgs.includes('--public-url');
      if (
        bannerMs !== undefined &&
        inbox &&
        login &&
        /Data:/.test(stdout) &&
        (listens || !needsListens)
      ) {
        clearTimeout(timer);
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({
          child,
          url: inbox[1],
          port: listens ? Number(listens[1]) : Number(new URL(inbox[1]).port),
          loginUrl: login[1],
          bannerMs,
          cpuMsToBanner,
          stop: () => stopChild(child),
        });
      }
    });
  });
}

/**
 * Creates an agent key with the CLI (`loopgate keys create --name NAME --data-dir D`, plus
 * `extraArgs` such as `--database-url URL`), as a user would; returns the key printed on stdout.
 * @throws Error when the command fails
 */
export function createAgentKeyWithCli(dataDir, name, extraArgs = []) {
  const result = spawnSync(
    process.execPath,
    [cliPath, 'keys', 'create', '--name', name, '--data-dir', dataDir, ...extraArgs],
    { encoding: 'utf8' },
  );
  const key = result.stdout.trim();
  if (result.status !== 0 || !key.startsWith('lg_'))
    throw new Error(`keys create failed (${result.status}): ${result.stderr}`);
  return key;
}

/**
 * Reads a process's resident set size from `/proc/<pid>/status` (VmRSS), in KiB.
 * @throws Error when the process or the field does not exist (Linux only)
 */
export async function readRssKib(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/**
 * CPU time (user + system) a process has used so far, in seconds, from `/proc/<pid>/stat`
 * (fields 14 and 15, in clock ticks of 1/100 s on Linux).
 * @throws Error when the process does not exist (Linux only)
 */
export function readCpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
