import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { keyFileNames } from '../../src/crypto/signingKeys.js';
import { startBalancer, type Balancer } from './balancer.mjs';
import { runCli, startServe, type ServeProcess } from './cli.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from './postgres.mjs';

/**
 * Two real `loopgate serve` processes on one PostgreSQL database (a throwaway cluster), behind
 * a round-robin TCP balancer whose URL both announce (`--public-url`), as a team runs loopgate.
 * Server B joins with A's key files, as the README says. `--wait-recheck-seconds 300` takes the
 * periodic re-read out of the way, so a wake-up across servers can come only from the
 * database's change notifications.
 */
export interface SeveralServers {
  cluster: ThrowawayPostgres;
  databaseUrl: string;
  balancer: Balancer;
  a: ServeProcess;
  b: ServeProcess;
  /** A's data dir (its key files; where the CLI runs). */
  dirA: string;
  /** An agent key (`keys create --name claude`). */
  agentKey: string;
  /** The flags both servers run with. */
  serverArgs: string[];
  /** Stops both servers (SIGKILL), the balancer and the cluster, and removes the data dirs. */
  stop(): Promise<void>;
}

/** Starts {@link SeveralServers}; on failure, removes whatever it had started. */
export async function startSeveralServers(): Promise<SeveralServers> {
  const dirs: string[] = [];
  const tempDir = (label: string) => {
    const dir = mkdtempSync(join(tmpdir(), `loopgate-several-${label}-`));
    dirs.push(dir);
    return dir;
  };
  let cluster: ThrowawayPostgres | undefined;
  let balancer: Balancer | undefined;
  let a: ServeProcess | undefined;
  let b: ServeProcess | undefined;
  const stop = async () => {
    await a?.stop('SIGKILL');
    await b?.stop('SIGKILL');
    await balancer?.close();
    await cluster?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    cluster = await startThrowawayPostgres();
    const databaseUrl = await cluster.createDatabase();
    balancer = await startBalancer();
    const serverArgs = [
      '--database-url',
      databaseUrl,
      '--public-url',
      balancer.url,
      '--wait-recheck-seconds',
      '300',
    ];
    const dirA = tempDir('a');
    a = await startServe(dirA, serverArgs);
    const dirB = tempDir('b');
    for (const name of Object.values(keyFileNames)) {
      copyFileSync(join(dirA, name), join(dirB, name));
    }
    b = await startServe(dirB, serverArgs);
    balancer.add({ host: '127.0.0.1', port: a.port });
    balancer.add({ host: '127.0.0.1', port: b.port });
    const key = await runCli([
      'keys',
      'create',
      '--name',
      'claude',
      '--database-url',
      databaseUrl,
      '--data-dir',
      dirA,
    ]);
    expect(key.code, key.stderr).toBe(0);
    return {
      cluster,
      databaseUrl,
      balancer,
      a,
      b,
      dirA,
      agentKey: key.stdout.trim(),
      serverArgs,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The URL of one server in particular (its own port; it accepts the public origin). */
export const directUrl = (server: ServeProcess): string => `http://127.0.0.1:${server.port}`;

/** A fresh one-time sign-in link, on the deployment's public URL (the banner's works once). */
export async function freshLoginUrl(servers: SeveralServers): Promise<string> {
  const made = await runCli([
    'login-url',
    '--database-url',
    servers.databaseUrl,
    '--data-dir',
    servers.dirA,
  ]);
  expect(made.code, made.stderr).toBe(0);
  return made.stdout
    .trim()
    .split(/\s+/)
    .find((w) => w.includes('/login?token='))!;
}
