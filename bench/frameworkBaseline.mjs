/**
 * Machine calibration: what an empty `@hono/node-server` endpoint (the HTTP stack loopgate
 * runs on) achieves on this machine with the same load generator. It gives the cycles/s figure
 * a ceiling to be read against: a cycle is three HTTP requests, so no server on this stack can
 * exceed a third of the empty endpoint's requests/s here.
 *
 * Run as `node bench/frameworkBaseline.mjs --serve` it is the child server: it prints its port
 * and answers `POST /echo` with the parsed JSON body.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { readCpuSeconds, stopChild, trackChild } from './benchServer.mjs';
import { requestJson } from './requestJson.mjs';
import { round2 } from './stats.mjs';

const selfPath = fileURLToPath(import.meta.url);

async function serveEcho() {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  const app = new Hono();
  app.post('/echo', async (c) => c.json({ received: await c.req.json() }, 201));
  serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
    process.stdout.write(`${info.port}\n`),
  );
}

/**
 * Spawns the echo server and drives it with `concurrency` workers for `durationMs` after
 * `warmupMs`.
 * @param {{concurrency: number, durationMs: number, warmupMs: number}} options
 * @returns {Promise<{requests_per_second: number, server_cpu_ms_per_request: number,
 *   cycles_per_second_ceiling: number}>}
 * @throws Error when the child does not start or a request fails
 */
export async function measureFrameworkBaseline({ concurrency, durationMs, warmupMs }) {
  const child = trackChild(
    spawn(process.execPath, [selfPath, '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    const port = await new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`baseline server exited with ${code}`)));
      child.stdout.once('data', (chunk) => resolve(Number(String(chunk).trim())));
    });
    const url = `http://127.0.0.1:${port}/echo`;
    const body = {
      action_description: 'Deploy build 1',
      action_details: { build: '1', env: 'staging' },
    };
    let counting = false;
    let stopping = false;
    let counted = 0;
    let all = 0;
    const worker = async () => {
      while (!stopping) {
        const answer = await requestJson(agent, url, { method: 'POST', body });
        if (answer.status !== 201) throw new Error(`baseline answered ${answer.status}`);
        all++;
        if (counting) counted++;
      }
    };
    const cpuBefore = readCpuSeconds(child.pid);
    const workers = Promise.all(Array.from({ length: concurrency }, () => worker()));
    const wait = (ms) => Promise.race([new Promise((resolve) => setTimeout(resolve, ms)), workers]);
    await wait(warmupMs);
    counting = true;
    const started = performance.now();
    await wait(durationMs);
    const seconds = (performance.now() - started) / 1_000;
    counting = false;
    stopping = true;
    await workers;
    const cpuSeconds = readCpuSeconds(child.pid) - cpuBefore;
    const perSecond = counted / seconds;
    return {
      requests_per_second: Math.round(perSecond),
      server_cpu_ms_per_request: round2((cpuSeconds * 1_000) / all),
      cycles_per_second_ceiling: Math.round(perSecond / 3),
    };
  } finally {
    agent.destroy();
    await stopChild(child);
  }
}

if (process.argv[1] === selfPath && process.argv[2] === '--serve') {
  serveEcho().catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
