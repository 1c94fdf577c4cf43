import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqliteStore } from '../../src/store/sqliteStore.js';

/** The built CLI (`npm test` builds before it runs). */
export const cliPath = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * Makes `dir` a data dir the way `loopgate serve` does on its first start (the database), for
 * commands that refuse a folder that is not one.
 */
export async function initDataDir(dir: string): Promise<string> {
  await openSqliteStore(join(dir, 'loopgate.db')).close();
  return dir;
}

/** Runs `loopgate …` to completion. */
export function runCli(
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** A `loopgate serve` child process and the URL it printed. */
export interface ServeProcess {
  child: ChildProcess;
  /** The public URL it announced (with `--public-url`: that one). */
  url: string;
  /** The port it listens on itself (differs from `url`'s behind a balancer). */
  port: number;
  loginUrl: string;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `loopgate serve` on a free port and waits for its banner. */
export function startServe(dataDir: string, extraArgs: string[] = []): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [cliPath, 'serve', '--data-dir', dataDir, '--port', '0', ...extraArgs],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`loopgate serve printed no banner:\n${output}`)),
      60_000,
    );
    child.on('exit', (code) => reject(new Error(`loopgate serve exited with ${code}:\n${output}`)));
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const url = /Inbox:\s+(http:\/\/\S+?)\/\s/.exec(output)?.[1];
      const loginUrl = /Sign in:\s+(\S+)/.exec(output)?.[1];
      const listens = /Listens:\s+\S+:(\d+)\n/.exec(output)?.[1];
      // With --public-url the banner also says where this server itself listens.
      if (url && loginUrl && (listens || !extraArgs.includes('--public-url'))) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({
          child,
          url,
          port: listens ? Number(listens) : Number(new URL(url).port),
          loginUrl,
          output: () => output,
          stop: (signal = 'SIGTERM') =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once('exit', () => done());
              child.kill(signal);
            }),
        });
      }
    });
  });
}

/**
 * Runs `loopgate …` and answers it once, as a human at the terminal would: `answer` sees
 * stdout so far and returns the line to type once it can (null: not yet); stdin then ends.
 */
export function runCliAnswering(args: string[], answer: (stdout: string) => string | null) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let answered = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = answered ? null : answer(stdout);
      if (line !== null) {
        answered = true;
        child.stdin.end(`${line}\n`);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A human's decision through the server's own API, signed in with the server's printed one-time
 * link as the sign-in page does (`POST /v1/login`); the link works once, so once per server.
 * @returns the decision route's HTTP status
 */
export async function decideWithSignInLink(
  server: Pick<ServeProcess, 'url' | 'loginUrl'>,
  pauseId: string,
  body: { decision: 'approved' | 'rejected'; comment?: string },
): Promise<number> {
  const login = await fetch(`${server.url}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.url },
    body: JSON.stringify({ token: new URL(server.loginUrl).searchParams.get('token') }),
  });
  const { session, csrf_token } = (await login.json()) as { session: string; csrf_token: string };
  const decided = await fetch(`${server.url}/v1/approvals/${pauseId}/decision`, {
    method: 'POST',
    headers: {
      'x-loopgate-session': session,
      'x-csrf-token': csrf_token,
      'content-type': 'application/json',
      origin: server.url,
    },
    body: JSON.stringify(body),
  });
  await decided.arrayBuffer();
  return decided.status;
}
