import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { chromiumArgs } from '../../../test/support/chromium.js';

/** A Chromium the test started with `--remote-debugging-port=0`, as an agent would run one. */
export interface CdpChromium {
  /** `http://127.0.0.1:<port>` */
  httpUrl: string;
  /** `ws://127.0.0.1:<port>/devtools/browser/<id>` */
  browserWsUrl: string;
  process: ChildProcess;
  /** Kills this Chromium (by its pid) and removes its profile. */
  close(): Promise<void>;
}

/**
 * Starts the test Chromium (test/globalSetup.ts) with a fresh profile, a 1280×800 window and
 * a random DevTools port, opening `url`; resolves when stderr says "DevTools listening on".
 */
export async function launchCdpChromium(url = 'about:blank'): Promise<CdpChromium> {
  const profile = await mkdtemp(join(tmpdir(), 'loopgate-cdp-'));
  const child = spawn(
    inject('chromePath'),
    [
      ...chromiumArgs,
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      '--window-size=1280,800',
      url,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const browserWsUrl = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(
      () => reject(new Error(`Chromium did not print its DevTools URL:\n${stderr}`)),
      20_000,
    );
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`Chromium exited (${code}) before listening:\n${stderr}`)),
    );
  });
  const httpUrl = `http://${new URL(browserWsUrl).host}`;
  return {
    httpUrl,
    browserWsUrl,
    process: child,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      await rm(profile, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
