/**
 * Several servers (`npm run bench`, figure 8): full approval cycles per second on SQLite (one
 * `loopgate serve`), on PostgreSQL with one server, and on PostgreSQL with two servers behind a
 * round-robin TCP balancer; then the latency from a decision sent to server B to the agent's
 * wait on server A returning it (the database's LISTEN/NOTIFY wake-up), over ≥ 500 decisions.
 * PostgreSQL is a throwaway cluster (test/support/postgres.mjs), removed at the end.
 */
import { copyFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { keyFileNames } from '../dist/crypto/signingKeys.js';
import { startBalancer } from '../test/support/balancer.mjs';
import { startThrowawayPostgres } from '../test/support/postgres.mjs';
import {
  createAgentKeyWithCli,
  createTempDataDir,
  readCpuSeconds,
  signInOperator,
  spawnServe,
} from './benchServer.mjs';
import { measureCycleThroughput } from './cycleThroughput.mjs';
import { requestJson } from './requestJson.mjs';
import { round2, summarizeMs } from './stats.mjs';

const goals = { crossServerP99Ms: 50 };

/**
 * Cycles/s at each concurrency against `url` (best reported), with the CPU the servers used.
 * @returns {Promise<{cycles_per_second: number, concurrency: number, sweep: object[]}>}
 */
async function sweepCycles({ url, agentKey, operator, servers, concurrencies, durationMs, log }) {
  const sweep = [];
  for (const concurrency of concurrencies) {
    const cpuBefore = servers.map((s) => readCpuSeconds(s.child.pid));
    const result = await measureCycleThroughput({
      url,
      agentKey,
      operator,
      concurrency,
      durationMs,
      warmupMs: 500,
    });
    const cpuMs = servers.map((s, i) => (readCpuSeconds(s.child.pid) - cpuBefore[i]) * 1_000);
    const { cycles_including_warmup: allCycles, ...counted } = result;
    sweep.push({
      concurrency,
      cycles_per_second: counted.cycles_per_second,
      cycle_latency_p50_ms: counted.cycle_latency.p50_ms,
      cycle_latency_p99_ms: counted.cycle_latency.p99_ms,
      server_cpu_ms_per_cycle: round2(cpuMs.reduce((a, b) => a + b, 0) / allCycles),
    });
    log(`    concurrency ${concurrency}: ${counted.cycles_per_second} cycles/s`);
  }
  const best = sweep.reduce((a, b) => (b.cycles_per_second > a.cycles_per_second ? b : a));
  return { cycles_per_second: best.cycles_per_second, concurrency: best.concurrency, sweep };
}

/**
 * Decision through B → the agent's `GET /v1/approvals/:id/wait` through A returns: one request
 * at a time, the wait sent 25 ms before the decision so it is listening.
 */
async function measureCrossServerWake({ a, b, agentKey, operator, decisions, log }) {
  const agentA = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const agentB = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const agentHeaders = { authorization: `Bearer ${agentKey}` };
  const operatorHeaders = {
    'x-loopgate-session': operator.session,
    'x-csrf-token': operator.csrfToken,
    origin: operator.origin,
  };
  const samples = [];
  try {
    for (let n = 0; n < decisions + 20; n += 1) {
      const created = await requestJson(agentA, `${a}/v1/approvals`, {
        method: 'POST',
        headers: agentHeaders,
        body: { action_description: `Cross-server ${n}`, action_details: { n: String(n) } },
      });
      if (created.status !== 201) throw new Error(`create answered ${created.status}`);
      const id = created.body.pause_id;
      let decidedAt = 0;
      const waited = requestJson(agentA, `${a}/v1/approvals/${id}/wait?max_wait_seconds=50`, {
        headers: agentHeaders,
      }).then((r) => ({ r, at: performance.now() }));
      await new Promise((resolve) => setTimeout(resolve, 25));
      decidedAt = performance.now();
      const decided = await requestJson(agentB, `${b}/v1/approvals/${id}/decision`, {
        method: 'POST',
        headers: operatorHeaders,
        body: { decision: 'approved' },
      });
      if (decided.status !== 200) throw new Error(`decision answered ${decided.status}`);
      const { r, at } = await waited;
      if (r.body.status !== 'responded') {
        throw new Error(`the wait on A returned ${JSON.stringify(r.body).slice(0, 200)}`);
      }
      if (n >= 20) samples.push(at - decidedAt);
      if (n > 0 && n % 100 === 0) log(`    ${n} decisions`);
    }
  } finally {
    agentA.destroy();
    agentB.destroy();
  }
  return summarizeMs(samples);
}

/**
 * Runs figure 8. `log` writes progress to stderr.
 * @returns {Promise<object>} the figure's JSON
 */
export async function runSeveralServersBench({ log, concurrencies, durationMs, decisions }) {
  const dirs = [];
  const children = [];
  const tempDir = (label) => {
    const dir = createTempDataDir(label);
    dirs.push(dir);
    return dir.path;
  };
  const serve = async (dataDir, extraArgs) => {
    const server = await spawnServe({ dataDir, extraArgs, timeoutMs: 60_000 });
    children.push(server);
    return server;
  };
  let cluster;
  let balancer;
  try {
    log('several servers: SQLite, one server');
    const sqliteDir = tempDir('sqlite');
    const sqlite = await serve(sqliteDir, []);
    const sqliteResult = await sweepCycles({
      url: sqlite.url,
      agentKey: createAgentKeyWithCli(sqliteDir, 'bench-agent'),
      operator: await signInOperator(sqlite.url, sqlite.loginUrl),
      servers: [sqlite],
      concurrencies,
      durationMs,
      log,
    });
    await sqlite.stop();

    log('several servers: starting a throwaway PostgreSQL cluster');
    cluster = await startThrowawayPostgres();

    log('several servers: PostgreSQL, one server');
    const oneDb = await cluster.createDatabase();
    const oneDir = tempDir('pg-one');
    const one = await serve(oneDir, ['--database-url', oneDb]);
    const oneResult = await sweepCycles({
      url: one.url,
      agentKey: createAgentKeyWithCli(oneDir, 'bench-agent', ['--database-url', oneDb]),
      operator: await signInOperator(one.url, one.loginUrl),
      servers: [one],
      concurrencies,
      durationMs,
      log,
    });
    await one.stop();

    log('several servers: PostgreSQL, two servers behind a round-robin balancer');
    const twoDb = await cluster.createDatabase();
    balancer = await startBalancer();
    const args = ['--database-url', twoDb, '--public-url', balancer.url];
    const dirA = tempDir('pg-a');
    const a = await serve(dirA, args);
    const dirB = tempDir('pg-b');
    for (const name of Object.values(keyFileNames)) {
      copyFileSync(join(dirA, name), join(dirB, name));
    }
    const b = await serve(dirB, args);
    balancer.add({ host: '127.0.0.1', port: a.port });
    balancer.add({ host: '127.0.0.1', port: b.port });
    const agentKey = createAgentKeyWithCli(dirA, 'bench-agent', ['--database-url', twoDb]);
    const operator = await signInOperator(balancer.url, a.loginUrl);
    const twoResult = await sweepCycles({
      url: balancer.url,
      agentKey,
      operator,
      servers: [a, b],
      concurrencies,
      durationMs,
      log,
    });

    log(`several servers: decision on B → waiter on A, ${decisions} decisions`);
    const wake = await measureCrossServerWake({
      a: `http://127.0.0.1:${a.port}`,
      b: `http://127.0.0.1:${b.port}`,
      agentKey,
      operator: { ...operator, origin: balancer.url },
      decisions,
      log,
    });

    return {
      measured:
        'Approval cycles as in figure 2 (create, wait ‖ decide), each at the listed concurrencies for the stated seconds; every server is a `loopgate serve` child with default settings. PostgreSQL 15 is a throwaway local cluster with fsync off (so its commits cost less than SQLite’s synchronous=FULL ones). With two servers the load generator’s keep-alive connections are spread round-robin by a TCP balancer in this process, so a cycle’s wait and decision often land on different servers and the wait is woken through LISTEN/NOTIFY. The two cores are shared by everything: load generator and balancer (this process), the servers and PostgreSQL.',
      sqlite_one_server: sqliteResult,
      postgres_one_server: oneResult,
      postgres_two_servers: { ...twoResult, connections_per_server: balancer.counts },
      ratio_postgres_to_sqlite_cpu_per_cycle: round2(
        Math.min(...oneResult.sweep.map((s) => s.server_cpu_ms_per_cycle)) /
          Math.min(...sqliteResult.sweep.map((s) => s.server_cpu_ms_per_cycle)),
      ),
      decision_on_b_to_waiter_on_a: {
        measured:
          'From just before the operator’s POST /v1/approvals/:id/decision to server B to the moment the agent’s GET /v1/approvals/:id/wait on server A (sent 25 ms earlier) has its answer; one request at a time, 20 warm-up decisions not counted.',
        ...wake,
        goal: { p99_ms_at_most: goals.crossServerP99Ms },
        met: wake.p99_ms <= goals.crossServerP99Ms,
      },
      goals: {
        two_servers_not_slower_than_one: twoResult.cycles_per_second >= oneResult.cycles_per_second,
        postgres_cpu_per_cycle_within_2x_of_sqlite:
          Math.min(...oneResult.sweep.map((s) => s.server_cpu_ms_per_cycle)) <=
          2 * Math.min(...sqliteResult.sweep.map((s) => s.server_cpu_ms_per_cycle)),
      },
    };
  } finally {
    for (const child of children) await child.stop().catch(() => undefined);
    await balancer?.close();
    await cluster?.stop();
    for (const dir of dirs) dir.remove();
  }
}
