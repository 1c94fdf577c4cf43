/**
 * The gateway's figures (issue 3), for `npm run bench`:
 *
 * 1. Overhead on an ungated call: the same `get_color` call to examples/demo-server, directly and
 *    through `loopgate proxy`, interleaved in one run (stdio, the v1 MCP client). Goal ≤ 1 ms
 *    added at p50.
 * 2. Checking a gated call's decision — hash the call, find the approved decision, verify its
 *    receipt, consume it — on the real SQLite store. Goal ≤ 2 ms at p99.
 *
 * Expects `npm run build` to have produced dist/.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { computeActionHash } from '../dist/core/actionHash.js';
import { loadOrCreateReceiptKey } from '../dist/crypto/signingKeys.js';
import { ApprovalService } from '../dist/service/approvalService.js';
import { openSqliteStore } from '../dist/store/sqliteStore.js';
import { cliPath, createTempDataDir } from './benchServer.mjs';
import { round2, summarizeMs } from './stats.mjs';

const repo = fileURLToPath(new URL('../', import.meta.url));
const demoServer = join(repo, 'examples/demo-server/server.mjs');
const demoPolicy = join(repo, 'examples/policy.yaml');

const settings = { overheadCalls: 2_000, overheadWarmup: 200, consumeChecks: 1_000 };
const goals = { addedP50Ms: 1, consumeP99Ms: 2 };

async function connect(command, args, cwd) {
  const client = new Client({ name: 'loopgate-bench', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command, args, cwd, stderr: 'ignore' }));
  return client;
}

async function timeCall(client) {
  const started = performance.now();
  const result = await client.callTool({ name: 'get_color', arguments: {} });
  const elapsed = performance.now() - started;
  if (result.isError || result.content?.[0]?.text !== 'Dark Blue')
    throw new Error(`unexpected get_color result: ${JSON.stringify(result)}`);
  return elapsed;
}

/** Figure 1: direct vs proxied ungated calls, interleaved so both see the same machine load. */
async function measureOverhead(log) {
  const dataDir = createTempDataDir('gateway');
  const direct = await connect(process.execPath, [demoServer], repo);
  const proxied = await connect(
    process.execPath,
    [
      cliPath,
      'proxy',
      '--data-dir',
      dataDir.path,
      '--port',
      '0',
      '--log-level',
      'silent',
      '--policy',
      demoPolicy,
      '--',
      process.execPath,
      demoServer,
    ],
    repo,
  );
  try {
    for (let i = 0; i < settings.overheadWarmup; i++) {
      await timeCall(direct);
      await timeCall(proxied);
    }
    log(`gateway overhead: ${settings.overheadCalls} calls each, interleaved`);
    const directMs = [];
    const proxiedMs = [];
    for (let i = 0; i < settings.overheadCalls; i++) {
      if (i % 2 === 0) {
        directMs.push(await timeCall(direct));
        proxiedMs.push(await timeCall(proxied));
      } else {
        proxiedMs.push(await timeCall(proxied));
        directMs.push(await timeCall(direct));
      }
    }
    const d = summarizeMs(directMs);
    const p = summarizeMs(proxiedMs);
    const added = round2(p.p50_ms - d.p50_ms);
    return {
      what: 'ungated get_color over stdio (v1 client): directly vs through loopgate proxy, interleaved',
      direct: d,
      proxied: p,
      added_p50_ms: added,
      added_p99_ms: round2(p.p99_ms - d.p99_ms),
      goal_added_p50_ms: goals.addedP50Ms,
      met: added <= goals.addedP50Ms,
    };
  } finally {
    await proxied.close().catch(() => undefined);
    await direct.close().catch(() => undefined);
    dataDir.remove();
  }
}

/** Figure 2: hash + find + verify receipt + consume, per gated call, on SQLite. */
async function measureConsume(log) {
  const dataDir = createTempDataDir('consume');
  const store = openSqliteStore(join(dataDir.path, 'loopgate.db'));
  try {
    const receiptKey = await loadOrCreateReceiptKey(dataDir.path);
    const service = new ApprovalService({
      store,
      receiptKey,
      signingSecret: 'bench',
      publicUrl: 'http://localhost:7878',
    });
    const calls = [];
    log(`gated decision check: preparing ${settings.consumeChecks} approved calls`);
    for (let i = 0; i < settings.consumeChecks; i++) {
      const call = { tool: 'transfer_funds', arguments: { amount: 1_000 + i, to: `payee-${i}` } };
      const record = await service.requestToolApproval('bench-agent', {
        ...call,
        gate: { type: 'approve' },
        timeoutMs: 3_600_000,
      });
      await service.decide(record.id, { decision: 'approved', responder: 'admin', channel: 'web' });
      calls.push(call);
    }
    const samples = [];
    for (const call of calls) {
      const started = performance.now();
      const consumed = await service.consumeApproval('bench-agent', computeActionHash(call), {
        type: 'approve',
      });
      samples.push(performance.now() - started);
      if (!consumed) throw new Error('an approved call was not consumed');
    }
    const summary = summarizeMs(samples);
    return {
      what: 'hash {tool, arguments}, find the approved decision, verify its Ed25519 receipt, consume it (SQLite, synchronous=FULL)',
      ...summary,
      goal_p99_ms: goals.consumeP99Ms,
      met: summary.p99_ms <= goals.consumeP99Ms,
    };
  } finally {
    await store.close();
    dataDir.remove();
  }
}

/** Runs both gateway figures; returns one JSON-ready object. */
export async function runGatewayBench(log = (line) => process.stderr.write(`${line}\n`)) {
  return {
    overhead_ungated_call: await measureOverhead(log),
    gated_decision_check: await measureConsume(log),
  };
}
