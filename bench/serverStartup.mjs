/**
 * Cold start and idle memory of the real CLI: `node dist/cli/main.js serve --port 0
 * --data-dir <tmp>` spawned as a child process.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createTempDataDir, readRssKib, spawnServe } from './benchServer.mjs';
import { median, round2 } from './stats.mjs';

/**
 * Spawns `loopgate serve` `runs` times, each on a fresh data dir (a first start: migrations and
 * the Ed25519 key pair are made), timing spawn → banner. Each server is
 * left idle for `settleMs`, its VmRSS read, checked to answer `GET /healthz`, then stopped.
 * @param {{runs: number, settleMs: number, log: (line: string) => void}} options
 * @returns {Promise<{banner_ms: number[], cpu_ms_to_banner: number[], rss_kib: number[]}>} per
 *   run, in spawn order
 * @throws Error when a server fails to start or to answer /healthz
 */
export async function measureServerStartups({ runs, settleMs, log }) {
  const bannerMs = [];
  const cpuMsToBanner = [];
  const rssKib = [];
  for (let i = 0; i < runs; i++) {
    const dataDir = createTempDataDir('start');
    try {
      const server = await spawnServe({ dataDir: dataDir.path });
      try {
        await sleep(settleMs);
        rssKib.push(await readRssKib(server.child.pid));
        const health = await fetch(`${server.url}/healthz`);
        if (health.status !== 200) throw new Error(`GET /healthz answered ${health.status}`);
        await health.arrayBuffer();
        bannerMs.push(round2(server.bannerMs));
        cpuMsToBanner.push(round2(server.cpuMsToBanner));
        log(
          `  start ${i + 1}/${runs}: banner after ${server.bannerMs.toFixed(0)} ms (${server.cpuMsToBanner.toFixed(0)} ms CPU), idle RSS ${(rssKib[i] / 1024).toFixed(1)} MiB`,
        );
      } finally {
        await server.stop();
      }
    } finally {
      dataDir.remove();
    }
  }
  return { banner_ms: bannerMs, cpu_ms_to_banner: cpuMsToBanner, rss_kib: rssKib };
}

/** `{median, min, max}` of the startup runs, rounded. */
export function summarizeRuns(values) {
  return {
    median: round2(median(values)),
    min: round2(Math.min(...values)),
    max: round2(Math.max(...values)),
  };
}
