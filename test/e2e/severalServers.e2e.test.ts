import http from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startRecordingServer,
  type RecordingServer,
} from '../../src/channels/testing/recordingServer.js';
import type { Balancer } from '../support/balancer.mjs';
import { runCli, type ServeProcess } from '../support/cli.js';
import {
  directUrl as direct,
  freshLoginUrl,
  startSeveralServers,
  type SeveralServers,
} from '../support/severalServers.js';
import { waitFor } from '../support/waitFor.js';

/**
 * Two real `loopgate serve` processes on one PostgreSQL database, behind a round-robin TCP
 * balancer whose URL both announce (`--public-url`), as a team runs loopgate
 * (test/support/severalServers.ts). A server's own port is used where a test must reach one
 * server in particular. `--wait-recheck-seconds 300` takes the periodic re-read out of the
 * way, so a wake-up across servers can come only from the database's change notifications.
 */

let servers: SeveralServers;
let databaseUrl: string;
let balancer: Balancer;
let receiver: RecordingServer;
let a: ServeProcess;
let b: ServeProcess;
let agentKey: string;

/** A signed-in operator session on `server`, from its banner's one-time sign-in link. */
async function signIn(server: ServeProcess, loginUrl = server.loginUrl) {
  const login = await fetch(`${direct(server)}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: balancer.url },
    body: JSON.stringify({ token: new URL(loginUrl).searchParams.get('token') }),
  });
  expect(login.status).toBe(200);
  const { session, csrf_token } = (await login.json()) as { session: string; csrf_token: string };
  return {
    'x-loopgate-session': session,
    'x-csrf-token': csrf_token,
    origin: balancer.url,
    'content-type': 'application/json',
  };
}

/** A fresh one-time sign-in link (the banner's works once). */
const loginUrl = () => freshLoginUrl(servers);

async function createRequest(server: ServeProcess, body: Record<string, unknown> = {}) {
  const created = await fetch(`${direct(server)}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      action_description: 'Deploy api v2.3 to production',
      action_details: { service: 'api' },
      ...body,
    }),
  });
  expect(created.status).toBe(201);
  return ((await created.json()) as { pause_id: string }).pause_id;
}

function waitThrough(server: ServeProcess, pauseId: string, signal?: AbortSignal) {
  return fetch(`${direct(server)}/v1/approvals/${pauseId}/wait?max_wait_seconds=50`, {
    headers: { authorization: `Bearer ${agentKey}` },
    ...(signal ? { signal } : {}),
  }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as { status?: string; response?: unknown },
  }));
}

beforeAll(async () => {
  servers = await startSeveralServers();
  ({ databaseUrl, balancer, a, b, agentKey } = servers);
  receiver = await startRecordingServer();
  const hook = await runCli([
    'webhooks',
    'add',
    `${receiver.origin}/hook`,
    '--events',
    'request.created,request.expired',
    '--database-url',
    databaseUrl,
    '--data-dir',
    servers.dirA,
  ]);
  expect(hook.code, hook.stderr).toBe(0);
});

afterAll(async () => {
  await servers?.stop();
  await receiver?.close();
});

describe('two servers on one PostgreSQL database', () => {
  it('unblocks an agent waiting through A the moment a human decides through B, and A’s inbox stream shows it', async () => {
    const pauseId = await createRequest(a);
    const operator = await signIn(b);
    // A's inbox stream, with a ticket B issued: tickets work on every server of a deployment.
    const ticket = await fetch(`${direct(b)}/v1/events/tickets`, {
      method: 'POST',
      headers: operator,
    });
    expect(ticket.status).toBe(200);
    const stream = await fetch(
      `${direct(a)}/v1/events?ticket=${((await ticket.json()) as { ticket: string }).ticket}`,
    );
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    let events = '';
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(events)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended; it said:\n${events}`);
        events += new TextDecoder().decode(value);
      }
    };
    await readUntil(/event: ready/);

    const waiting = waitThrough(a, pauseId);
    const decided = await fetch(`${direct(b)}/v1/approvals/${pauseId}/decision`, {
      method: 'POST',
      headers: operator,
      body: JSON.stringify({ decision: 'approved', comment: 'ship it' }),
    });
    expect(decided.status).toBe(200);
    // Without the change feed, A would answer "pending" after 50 s (the re-read is 300 s away).
    const waited = await waiting;
    expect(waited.status).toBe(200);
    expect(waited.body).toMatchObject({
      pause_id: pauseId,
      status: 'responded',
      response: { decision: 'approved', comment: 'ship it' },
    });
    await readUntil(new RegExp(`"pause_id":"${pauseId}".*"status":"responded"`));
    await reader.cancel();
  });

  it('lets exactly one of 1,000 concurrent decisions spread over both servers win', async () => {
    const pauseId = await createRequest(b);
    const operator = await signIn(a, await loginUrl());
    const agents = [a, b].map(() => new http.Agent({ keepAlive: true, maxSockets: 64 }));
    const decide = (i: number) =>
      new Promise<{ status: number; code?: string }>((resolve, reject) => {
        const server = i % 2 === 0 ? a : b;
        const body = JSON.stringify({ decision: i % 3 === 0 ? 'rejected' : 'approved' });
        const req = http.request(
          `${direct(server)}/v1/approvals/${pauseId}/decision`,
          { method: 'POST', headers: operator, agent: agents[i % 2] },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                code: (JSON.parse(text) as { error?: { code: string } }).error?.code,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    try {
      const results = await Promise.all(Array.from({ length: 1_000 }, (_, i) => decide(i)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.filter((r) => r.code === 'E_APPROVAL_ALREADY_DECIDED')).toHaveLength(999);
    } finally {
      for (const agent of agents) agent.destroy();
    }
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query(
        `SELECT count(*)::int AS n FROM audit_log WHERE request_id = $1 AND type = 'approval.decided'`,
        [pauseId],
      );
      expect(rows[0].n).toBe(1);
    } finally {
      await db.end();
    }
  });

  it('sends one request.created webhook and one request.expired for a request, with both servers sweeping', async () => {
    const pauseId = await createRequest(a, { timeout_hours: 0.0005 });
    const deliveries = () =>
      receiver.requests
        .map((r) => JSON.parse(r.body) as { type: string; data: { pause_id?: string } })
        .filter((m) => m.data.pause_id === pauseId)
        .map((m) => m.type);
    await waitFor('the request.expired webhook', () => deliveries().includes('request.expired'));
    // Both servers sweep every second; a second delivery would have to be claimed again.
    const waited = await waitThrough(b, pauseId);
    expect(waited.body.status).toBe('timed_out');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(deliveries().sort()).toEqual(['request.created', 'request.expired']);
  });
});

describe('kill -9 of a server while agents wait and humans decide', () => {
  it('keeps every acknowledged decision, gives it to agents that wait again through B, and decides nothing twice', async () => {
    const operator = await signIn(b, await loginUrl());
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) ids.push(await createRequest(i % 2 ? a : b));
    const decisionOf = (i: number) => (i % 2 ? 'approved' : 'rejected');
    const decide = (server: ServeProcess, i: number) =>
      fetch(`${direct(server)}/v1/approvals/${ids[i]}/decision`, {
        method: 'POST',
        headers: operator,
        body: JSON.stringify({ decision: decisionOf(i) }),
      }).then(
        (r) => r.status,
        () => 0,
      );
    // Agents wait through A.
    const waits = ids.map((id) => waitThrough(a, id).catch(() => null));
    // Decisions 0–3 through B and 4–7 through A are acknowledged before A dies…
    const acked = new Set<number>();
    for (let i = 0; i < 8; i += 1) {
      expect(await decide(i < 4 ? b : a, i)).toBe(200);
      acked.add(i);
    }
    // …8–9 are sent to A as it is killed (acknowledged or not), 10–11 come after, through B.
    const inFlight = [8, 9].map((i) => decide(a, i).then((status) => ({ i, status })));
    await a.stop('SIGKILL');
    balancer.remove(0);
    for (const { i, status } of await Promise.all(inFlight)) if (status === 200) acked.add(i);
    for (const i of [10, 11]) {
      expect(await decide(b, i)).toBe(200);
      acked.add(i);
    }
    // The waits through A ended with A (or returned a decision it had seen).
    for (const waited of await Promise.all(waits)) {
      if (waited) expect(['pending', 'responded']).toContain(waited.body.status);
    }
    // Waiting again through B: every acknowledged decision is there, as it was made.
    for (const i of acked) {
      const again = await waitThrough(b, ids[i]!);
      expect(again.body).toMatchObject({
        status: 'responded',
        response: { decision: decisionOf(i) },
      });
    }
    // Decisions A never acknowledged: stored as sent, or not at all (then B takes one now).
    for (const i of [8, 9].filter((n) => !acked.has(n))) {
      const status = await decide(b, i);
      expect([200, 409]).toContain(status);
      expect((await waitThrough(b, ids[i]!)).body).toMatchObject({
        status: 'responded',
        response: { decision: decisionOf(i) },
      });
    }
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query(
        `SELECT request_id, count(*)::int AS n FROM audit_log
          WHERE type = 'approval.decided' AND request_id = ANY($1) GROUP BY request_id`,
        [ids],
      );
      expect(rows).toHaveLength(ids.length);
      expect(rows.every((row: { n: number }) => row.n === 1)).toBe(true);
    } finally {
      await db.end();
    }
  });
});
