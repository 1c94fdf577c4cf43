/**
 * Full approval cycles per second through the HTTP API: an agent creates a request and waits
 * on it (`GET /v1/approvals/:id/wait`), an operator decides it, and the agent's wait returns
 * the decision. Workers run cycles back to back over keep-alive connections.
 */
import http from 'node:http';
import { requestJson } from './requestJson.mjs';
import { round2, summarizeMs } from './stats.mjs';

/**
 * Runs `concurrency` workers doing full cycles for `warmupMs` (not counted) and then
 * `durationMs` (counted). Every cycle checks that the agent observed exactly the decision the
 * operator sent.
 * @param {{url: string, agentKey: string, operator: {session: string, csrfToken: string},
 *   concurrency: number, durationMs: number, warmupMs: number}} options
 * @returns {Promise<{cycles_per_second: number, cycles: number, seconds: number,
 *   http_requests_per_second: number, cycle_latency: object, cycles_including_warmup: number}>}
 *   `cycles_including_warmup` counts every cycle the server completed, warm-up and drain included
 * @throws Error when any request fails or a cycle observes the wrong outcome
 */
export async function measureCycleThroughput({
  url,
  agentKey,
  operator,
  concurrency,
  durationMs,
  warmupMs,
}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency * 2 });
  const agentHeaders = { authorization: `Bearer ${agentKey}` };
  const operatorHeaders = {
    'x-loopgate-session': operator.session,
    'x-csrf-token': operator.csrfToken,
    origin: url,
  };
  let counting = false;
  let stopping = false;
  let cycles = 0;
  let allCycles = 0;
  const latencies = [];

  const cycle = async (n) => {
    const started = performance.now();
    const created = await requestJson(agent, `${url}/v1/approvals`, {
      method: 'POST',
      headers: agentHeaders,
      body: {
        action_description: `Cycle ${n}: deploy build ${n}`,
        action_details: { build: String(n), env: 'staging' },
      },
    });
    if (created.status !== 201)
      throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
    const id = created.body.pause_id;
    const decision = n % 2 === 0 ? 'approved' : 'rejected';
    const [observed, decided] = await Promise.all([
      requestJson(agent, `${url}/v1/approvals/${id}/wait?max_wait_seconds=10`, {
        headers: agentHeaders,
      }),
      requestJson(agent, `${url}/v1/approvals/${id}/decision`, {
        method: 'POST',
        headers: operatorHeaders,
        body: { decision },
      }),
    ]);
    if (decided.status !== 200)
      throw new Error(`decision answered ${decided.status}: ${JSON.stringify(decided.body)}`);
    if (
      observed.status !== 200 ||
      observed.body.status !== 'responded' ||
      observed.body.response?.decision !== decision
    ) {
      throw new Error(
        `wait observed ${observed.status} ${JSON.stringify(observed.body).slice(0, 300)}`,
      );
    }
    allCycles++;
    if (counting) {
      cycles++;
      latencies.push(performance.now() - started);
    }
  };

  let next = 0;
  const worker = async () => {
    while (!stopping) await cycle(next++);
  };
  const workers = Array.from({ length: concurrency }, () => worker());
  const failed = Promise.all(workers).then(() => undefined);
  const wait = (ms) => Promise.race([new Promise((resolve) => setTimeout(resolve, ms)), failed]);
  try {
    await wait(warmupMs);
    counting = true;
    const startedAt = performance.now();
    await wait(durationMs);
    const seconds = (performance.now() - startedAt) / 1_000;
    const counted = cycles;
    counting = false;
    stopping = true;
    await failed;
    return {
      cycles_per_second: Math.round(counted / seconds),
      cycles: counted,
      seconds: round2(seconds),
      http_requests_per_second: Math.round((counted * 3) / seconds),
      cycle_latency: summarizeMs(latencies),
      cycles_including_warmup: allCycles,
    };
  } finally {
    stopping = true;
    await failed.catch(() => undefined);
    agent.destroy();
  }
}
