/**
 * The gateway's figures (issue 3), for `npm run bench`:
 *
 * 1. Overhead on an ungated call: the same `get_color` call to examples/demo-server, directly and
 *    through `loopgate proxy`, interleaved in one run (stdio, the v1 MCP client). Goal ≤ 1 ms
 *    added at p50.
 * 2. Checking a gated call's decision — hash the call, find the approved decision, verify its
 *    receipt, consume it — on the real SQLite store. Goal ≤ 2 ms at p99.
 *
 * 3. A call forwarded under a standing grant vs an ungated call, both through `loopgate proxy`
 *    (embedded server, SQLite), interleaved: the grant check (find, verify, count one use, audit)
 *    is what it adds.
 *
 * Expects `npm run build` to have produced dist/.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { computeActionHash } from '../dist/core/actionHash.js';
import { loadOrCreateReceiptKey } from '../dist/crypto/signingKeys.js';
import { ApprovalService } from '../dist/service/approvalService.js';
import { openSqliteStore } from '../dist/store/sqliteStore.js';
import { cliPath, createTempDataDir, signInOperator } from './benchServer.mjs';
import { round2, summarizeMs } from './stats.mjs';

const repo = fileURLToPath(new URL('../', import.meta.url));
const demoServer = join(repo, 'examples/demo-server/server.mjs');
const demoPolicy = join(repo, 'examples/policy.yaml');

const settings = {
  overheadCalls: 2_000,
  overheadWarmup: 200,
  consumeChecks: 1_000,
  grantCalls: 1_000,
};
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

function proxyArgs(dataDir, policy) {
  return [
    cliPath,
    'proxy',
    '--data-dir',
    dataDir,
    '--port',
    '0',
    '--log-level',
    'silent',
    '--policy',
    policy,
    '--',
    process.execPath,
    demoServer,
  ];
}

/** Figure 3: get_color under a session grant vs ungated, both proxied, interleaved. */
export async function measureGrant(log) {
  const dataDir = createTempDataDir('grant');
  const policy = join(dataDir.path, 'grants.yaml');
  writeFileSync(
    policy,
    'default: none\nrules:\n  - { tool: get_color, gate: approve, grants: { max_minutes: 60, session: true } }\n',
  );
  const ungatedDir = createTempDataDir('grant-ungated');
  const ungated = await connect(process.execPath, proxyArgs(ungatedDir.path, demoPolicy), repo);
  const granted = await connect(process.execPath, proxyArgs(dataDir.path, policy), repo);
  try {
    const held = await granted.callTool({ name: 'get_color', arguments: {} });
    const pauseId = held.structuredContent?.pause_id;
    if (typeof pauseId !== 'string')
      throw new Error(`get_color was not held: ${JSON.stringify(held)}`);
    const { url } = JSON.parse(readFileSync(join(dataDir.path, 'server.json'), 'utf8'));
    const loginUrl = execFileSync(
      process.execPath,
      [cliPath, 'login-url', '--data-dir', dataDir.path],
      {
        encoding: 'utf8',
      },
    ).trim();
    const operator = await signInOperator(url, loginUrl);
    const decided = await fetch(`${url}/v1/approvals/${pauseId}/decision`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: url,
        'x-loopgate-session': operator.session,
        'x-csrf-token': operator.csrfToken,
      },
      body: JSON.stringify({ decision: 'approved', grant: { reach: 'session', minutes: 60 } }),
    });
    if (decided.status !== 200) throw new Error(`the grant was refused: ${await decided.text()}`);
    for (let i = 0; i < settings.overheadWarmup; i++) {
      await timeCall(ungated);
      await timeCall(granted);
    }
    log(`call under a grant: ${settings.grantCalls} calls each, interleaved with ungated ones`);
    const ungatedMs = [];
    const grantedMs = [];
    for (let i = 0; i < settings.grantCalls; i++) {
      if (i % 2 === 0) {
        ungatedMs.push(await timeCall(ungated));
        grantedMs.push(await timeCall(granted));
      } else {
        grantedMs.push(await timeCall(granted));
        ungatedMs.push(await timeCall(ungated));
      }
    }
    const u = summarizeMs(ungatedMs);
    const g = summarizeMs(grantedMs);
    return {
      what: 'get_color through loopgate proxy (embedded server, SQLite): under a session grant vs ungated, interleaved',
      ungated: u,
      under_grant: g,
      added_p50_ms: round2(g.p50_ms - u.p50_ms),
      added_p99_ms: round2(g.p99_ms - u.p99_ms),
    };
  } finally {
    await granted.close().catch(() => undefined);
    await ungated.close().catch(() => undefined);
    dataDir.remove();
    ungatedDir.remove();
  }
}

/** Runs the gateway figures; returns one JSON-ready object. */
export async function runGatewayBench(log = (line) => process.stderr.write(`${line}\n`)) {
  return {
    overhead_ungated_call: await measureOverhead(log),
    gated_decision_check: await measureConsume(log),
    call_under_grant: await measureGrant(log),
  };
}
