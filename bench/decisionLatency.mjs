/**
 * Decision → agent latency: how long after a human's decision request an MCP client learns the
 * decision, for a client blocked in `wait_for_approval` (pushed inside the server) and for a
 * client polling `check_approval` on a fixed interval.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { summarizeMs } from './stats.mjs';

/**
 * Connects an MCP client over streamable HTTP to `<url>/mcp` with an agent key.
 * @param {string} url server URL
 * @param {string} agentKey `lg_…`
 * @param {'legacy' | 'auto'} negotiation `legacy`: the 2025-11-25 handshake; `auto`: probe
 *   for the 2026-07-28 revision and fall back
 * @returns {Promise<Client>}
 */
export async function connectAgentClient(url, agentKey, negotiation = 'legacy') {
  const client = new Client(
    { name: 'loopgate-bench', version: '0.1.0' },
    { versionNegotiation: { mode: negotiation } },
  );
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${agentKey}` } },
  });
  await client.connect(transport);
  return client;
}

/**
 * The operator's decision, as the approval page sends it: POST with the session header,
 * `X-CSRF-Token` and the server's own Origin.
 * @returns {Promise<number>} the HTTP status (200 when the decision was recorded)
 */
export async function postDecision(url, operator, pauseId, decision) {
  const response = await fetch(`${url}/v1/approvals/${pauseId}/decision`, {
    method: 'POST',
    headers: {
      'x-loopgate-session': operator.session,
      'x-csrf-token': operator.csrfToken,
      origin: url,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ decision, comment: 'bench' }),
  });
  await response.arrayBuffer();
  return response.status;
}

/**
 * Waits for `promise` or `ms`, whichever is first, leaving no timer behind.
 * @returns {Promise<boolean>} true when `promise` settled first
 */
async function withTimeout(promise, ms) {
  let timer;
  try {
    return await Promise.race([
      promise.then(() => true),
      new Promise((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Calls `request_approval` and returns the pause_id. */
async function requestApproval(client, index) {
  const result = await client.callTool({
    name: 'request_approval',
    arguments: {
      action_description: `Bench action ${index}: send $${index} to ACME Corp`,
      action_details: { amount: String(index), to: 'ACME Corp' },
    },
  });
  const pauseId = result.structuredContent?.pause_id;
  if (result.isError || typeof pauseId !== 'string')
    throw new Error(`request_approval failed: ${JSON.stringify(result)}`);
  return pauseId;
}

/** Throws unless a tool result carries the decision that was sent. */
function assertDecided(result, pauseId, decision) {
  const view = result.structuredContent;
  if (
    view?.pause_id !== pauseId ||
    view.status !== 'responded' ||
    view.response?.decision !== decision
  ) {
    throw new Error(`expected ${pauseId} ${decision}, got ${JSON.stringify(view).slice(0, 300)}`);
  }
}

/**
 * Push latency. For each sample: `request_approval`, then `wait_for_approval`; once the server
 * holds the waiter, the operator POSTs the decision. Measured from just before the decision
 * POST is sent to the moment `wait_for_approval` resolves in the client.
 *
 * Readiness: `service.waitForDecision` is wrapped (on this instance only) to signal when the
 * wait has reached the service; the decision is sent 5 ms after that, so every sample goes
 * through the wake-up path rather than finding the decision already stored.
 *
 * @param {{url: string, agentKey: string, operator: {session: string, csrfToken: string},
 *   service: import('../dist/service/approvalService.js').ApprovalService, decisions: number,
 *   warmup: number, negotiation: 'legacy' | 'auto', log: (line: string) => void}} options
 * @returns {Promise<object>} summary in ms plus the negotiated protocol version
 */
export async function measurePushLatency({
  url,
  agentKey,
  operator,
  service,
  decisions,
  warmup,
  negotiation,
  log,
}) {
  const arrivals = new Map();
  const original = service.waitForDecision;
  service.waitForDecision = function (id, options) {
    arrivals.get(id)?.();
    return original.call(this, id, options);
  };
  const client = await connectAgentClient(url, agentKey, negotiation);
  const samples = [];
  const outcomes = { approved: 0, rejected: 0 };
  let notReady = 0;
  try {
    for (let i = 0; i < warmup + decisions; i++) {
      const pauseId = await requestApproval(client, i);
      const reachedService = new Promise((resolve) => arrivals.set(pauseId, resolve));
      const decision = i % 2 === 0 ? 'approved' : 'rejected';
      let resolvedAt = 0;
      const waiting = client
        .callTool({
          name: 'wait_for_approval',
          arguments: { pause_id: pauseId, max_wait_seconds: 30 },
        })
        .then((result) => {
          resolvedAt = performance.now();
          return result;
        });
      if (!(await withTimeout(reachedService, 2_000))) notReady++;
      arrivals.delete(pauseId);
      await sleep(5);
      const sentAt = performance.now();
      const [status, result] = await Promise.all([
        postDecision(url, operator, pauseId, decision),
        waiting,
      ]);
      if (status !== 200) throw new Error(`decision POST for ${pauseId} answered ${status}`);
      assertDecided(result, pauseId, decision);
      outcomes[decision]++;
      if (i >= warmup) samples.push(resolvedAt - sentAt);
      if ((i + 1) % 100 === 0) log(`  push (${negotiation}): ${i + 1}/${warmup + decisions}`);
    }
    return {
      protocol_version: client.getNegotiatedProtocolVersion() ?? null,
      warmup_decisions: warmup,
      decisions_sent: outcomes,
      waits_not_at_the_service_within_2s: notReady,
      ...summarizeMs(samples),
    };
  } finally {
    service.waitForDecision = original;
    await client.close();
  }
}

/**
 * Polling latency, what hosted products do: the client calls `check_approval` every
 * `intervalMs` (on a fixed cadence from its first call) until the request is responded. The
 * operator decides at a random offset in [0.1 s, 2 × interval), so decisions land at random
 * phases of the polling cycle. All samples run concurrently.
 * @param {{url: string, agentKey: string, operator: {session: string, csrfToken: string},
 *   samples: number, intervalMs: number, log: (line: string) => void}} options
 * @returns {Promise<object>} summary in ms, plus the number of check_approval calls made
 */
export async function measurePollingLatency({ url, agentKey, operator, samples, intervalMs, log }) {
  const client = await connectAgentClient(url, agentKey, 'legacy');
  let checks = 0;
  try {
    const one = async (index) => {
      const pauseId = await requestApproval(client, 10_000 + index);
      const decision = index % 2 === 0 ? 'approved' : 'rejected';
      const offsetMs = 100 + Math.random() * (2 * intervalMs - 100);
      const pollStart = performance.now();
      let sentAt = 0;
      const deciding = sleep(offsetMs).then(() => {
        sentAt = performance.now();
        return postDecision(url, operator, pauseId, decision);
      });
      for (let k = 0; ; k++) {
        const due = pollStart + k * intervalMs - performance.now();
        if (due > 0) await sleep(due);
        const result = await client.callTool({
          name: 'check_approval',
          arguments: { pause_id: pauseId },
        });
        checks++;
        if (result.structuredContent?.status === 'responded') {
          const seenAt = performance.now();
          const status = await deciding;
          if (status !== 200) throw new Error(`decision POST for ${pauseId} answered ${status}`);
          assertDecided(result, pauseId, decision);
          return seenAt - sentAt;
        }
        if (k > 10) throw new Error(`${pauseId} still not responded after ${k} polls`);
      }
    };
    log(`  polling: ${samples} concurrent clients, check_approval every ${intervalMs} ms`);
    const latencies = await Promise.all(Array.from({ length: samples }, (_, i) => one(i)));
    return { interval_ms: intervalMs, check_approval_calls: checks, ...summarizeMs(latencies) };
  } finally {
    await client.close();
  }
}
