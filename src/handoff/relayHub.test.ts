import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { format } from 'node:util';
import createDebug from 'debug';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isLoopgateError } from '../core/errors.js';
import type { CreatedHandoff } from './handoffView.js';
import {
  createRelayHub,
  handoffSubprotocol,
  relayCloseCodes,
  type RelayHub,
  type RelayLimits,
} from './relayHub.js';

interface Harness {
  hub: RelayHub;
  origin: string;
  wsOrigin: string;
}

const opened: Array<() => Promise<void>> = [];
const logLines: string[] = [];

beforeAll(() => {
  createDebug.enable('loopgate:relay');
  createDebug.log = (...args: unknown[]) => logLines.push(format(...args));
});
afterAll(() => createDebug.disable());
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function startRelay(limits: Partial<RelayLimits> = {}, now?: () => number): Promise<Harness> {
  const server: Server = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const hub = createRelayHub({
    publicUrl: origin,
    limits,
    ...(now ? { now } : {}),
    checkRequest: (host, o) => host === new URL(origin).host && (o === undefined || o === origin),
  });
  server.on('upgrade', (req, socket, head: Buffer) => {
    if (!hub.handleUpgrade(req, socket, head)) socket.destroy();
  });
  opened.push(async () => {
    await hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { hub, origin, wsOrigin: origin.replace('http', 'ws') };
}

interface Client {
  ws: WebSocket;
  texts: string[];
  binaries: Buffer[];
  closed: Promise<number>;
  opened: Promise<void>;
  /** Resolves when `count` text messages have arrived. */
  textCount(count: number): Promise<void>;
  binaryCount(count: number): Promise<void>;
}

function connect(url: string, headers: Record<string, string> = {}): Client {
  const ws = new WebSocket(url, [handoffSubprotocol], { headers });
  const texts: string[] = [];
  const binaries: Buffer[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) binaries.push(data);
    else texts.push(data.toString());
    for (const w of waiters.splice(0)) w();
  });
  ws.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
  const until = (check: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for messages')), 5_000);
      const poll = () => {
        if (check()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(poll);
      };
      poll();
    });
  opened.push(async () => ws.terminate());
  return {
    ws,
    texts,
    binaries,
    closed,
    opened: new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    }),
    textCount: (count) => until(() => texts.length >= count),
    binaryCount: (count) => until(() => binaries.length >= count),
  };
}

const viewerUrl = (h: Harness, created: CreatedHandoff, token?: string) => {
  const t = token ?? new URL(created.viewer_url).searchParams.get('t')!;
  return `${h.wsOrigin}/v1/handoff/${created.session_id}/viewer?t=${t}`;
};
const agentUrl = (h: Harness, created: CreatedHandoff) =>
  `${h.wsOrigin}/v1/handoff/${created.session_id}/agent`;
const agentAuth = (created: CreatedHandoff) => ({ authorization: `Bearer ${created.agent_token}` });
/** A stand-in E2EE data message (version 1, type 3) of `size` bytes. */
const dataMessage = (size: number, fill = 7) => {
  const b = Buffer.alloc(size, fill);
  b[0] = 1;
  b[1] = 3;
  return b;
};
const peer = (state: string) => JSON.stringify({ type: 'peer', state });

describe('the relay’s sessions', () => {
  it('creates a session with a viewer URL on the public URL, pending, and distinct 256-bit tokens', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('agent-a', { service: 'Acme Bank', blocker_type: 'otp' });
    expect(created.status).toBe('pending');
    expect(created.viewer_connected).toBe(false);
    expect(created.viewer_url).toMatch(
      new RegExp(`^${h.origin}/handoff/${created.session_id}\\?t=[A-Za-z0-9_-]{43}$`),
    );
    expect(created.agent_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.viewer_url).not.toContain(created.agent_token);
    expect(Date.parse(created.expires_at) - Date.parse(created.created_at)).toBe(600_000);
  });

  it('hides one agent’s session from another, and refuses ending a session twice', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('agent-a', { service: 'x' });
    expect(() => h.hub.getSession(created.session_id, 'agent-b')).toThrow(/No handoff session/);
    expect(h.hub.cancel(created.session_id, 'agent-a').status).toBe('cancelled');
    let caught: unknown;
    try {
      h.hub.end(created.session_id, 'agent-a', 'resolved');
    } catch (err) {
      caught = err;
    }
    expect(isLoopgateError(caught, 'E_HANDOFF_ENDED')).toBe(true);
    expect(h.hub.getSession(created.session_id, 'agent-a').status).toBe('cancelled');
  });

  it('refuses more live sessions than the per-agent limit', async () => {
    const h = await startRelay({ maxSessionsPerAgent: 2 });
    h.hub.createSession('a', { service: 'x' });
    const second = h.hub.createSession('a', { service: 'x' });
    expect(() => h.hub.createSession('a', { service: 'x' })).toThrow(/live handoff sessions/);
    h.hub.createSession('b', { service: 'x' });
    h.hub.cancel(second.session_id, 'a');
    expect(h.hub.createSession('a', { service: 'x' }).status).toBe('pending');
  });

  it('openSession records the new session before returning it; a failed record ends it with error and fails the call', async () => {
    const claims: Array<{ sessionId: string; keepUntil: number }> = [];
    const changes: Array<{ id: string; status: string; actor: string }> = [];
    let fail = false;
    const hub = createRelayHub({
      publicUrl: 'http://127.0.0.1:1',
      limits: { keepEndedMs: 1_000, maxSessionsPerAgent: 1 },
      claimSession: async (claim) => {
        if (fail) throw new Error('database is down');
        claims.push(claim);
      },
      onStatusChange: ({ view, actor }) =>
        changes.push({ id: view.session_id, status: view.status, actor }),
    });
    opened.push(() => hub.close());
    const created = await hub.openSession('a', { service: 'x', ttl_seconds: 60 });
    expect(claims).toEqual([
      { sessionId: created.session_id, keepUntil: Date.parse(created.expires_at) + 1_000 },
    ]);
    expect(hub.hasSession(created.session_id)).toBe(true);
    expect(hub.hasSession('ho_other')).toBe(false);
    hub.cancel(created.session_id, 'a');

    fail = true;
    await expect(hub.openSession('a', { service: 'x' })).rejects.toThrow('database is down');
    const unrecorded = changes.at(-1)!;
    expect(unrecorded).toEqual({ id: unrecorded.id, status: 'error', actor: 'relay' });
    expect(unrecorded.id).not.toBe(created.session_id);
    // It no longer counts as live: the agent's one session slot is free again.
    expect(hub.createSession('a', { service: 'x' }).status).toBe('pending');
  });

  it('times out when the TTL runs out: waiters are told at once and sockets close with 4410', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('a', { service: 'x', ttl_seconds: 5 });
    const viewer = connect(viewerUrl(h, created));
    await viewer.opened;
    const waited = await h.hub.waitForChange(created.session_id, 'a', { maxWaitMs: 1_000 });
    expect(waited.status).toBe('active');
    // The waiter is woken by the timeout itself, long before its own 20 s run out.
    const ended = await h.hub.waitForChange(created.session_id, 'a', { maxWaitMs: 20_000 });
    expect(ended.status).toBe('timeout');
    expect(await viewer.closed).toBe(relayCloseCodes.ended);
    expect(viewer.texts).toContain(
      JSON.stringify({ type: 'status', status: 'timeout', detail: ended.detail }),
    );
  }, 30_000);
});

describe('the relay’s WebSockets', () => {
  it('pairs agent and viewer, tells each about the other, and forwards binary messages byte for byte, in order', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('a', { service: 'x' });
    const agent = connect(agentUrl(h, created), agentAuth(created));
    await agent.opened;
    const waiting = h.hub.waitForChange(created.session_id, 'a', { maxWaitMs: 5_000 });
    const viewer = connect(viewerUrl(h, created));
    await Promise.all([viewer.textCount(1), agent.textCount(1)]);
    expect(viewer.texts).toEqual([peer('connected')]);
    expect(agent.texts).toEqual([peer('connected')]);
    const view = await waiting;
    expect(view).toMatchObject({ status: 'active', viewer_connected: true });

    const toViewer = Array.from({ length: 40 }, (_, i) => dataMessage(100 + i, i));
    for (const m of toViewer) agent.ws.send(m);
    const toAgent = Array.from({ length: 20 }, (_, i) => dataMessage(30 + i, 200 - i));
    for (const m of toAgent) viewer.ws.send(m);
    await Promise.all([viewer.binaryCount(40), agent.binaryCount(20)]);
    expect(viewer.binaries).toEqual(toViewer);
    expect(agent.binaries).toEqual(toAgent);

    viewer.ws.close();
    await agent.textCount(2);
    expect(agent.texts[1]).toBe(peer('disconnected'));
    expect(h.hub.getSession(created.session_id, 'a')).toMatchObject({
      status: 'active',
      viewer_connected: false,
    });
  });

  it('refuses a bad viewer token (4401), a bad agent token (4401), an unknown session (4404)', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('a', { service: 'x' });
    expect(await connect(viewerUrl(h, created, 'A'.repeat(43))).closed).toBe(
      relayCloseCodes.badToken,
    );
    expect(await connect(`${h.wsOrigin}/v1/handoff/${created.session_id}/viewer`).closed).toBe(
      relayCloseCodes.badToken,
    );
    expect(await connect(agentUrl(h, created), { authorization: 'Bearer nope' }).closed).toBe(
      relayCloseCodes.badToken,
    );
    // The viewer token does not open the agent side.
    const viewerToken = new URL(created.viewer_url).searchParams.get('t')!;
    expect(
      await connect(agentUrl(h, created), { authorization: `Bearer ${viewerToken}` }).closed,
    ).toBe(relayCloseCodes.badToken);
    expect(await connect(`${h.wsOrigin}/v1/handoff/ho_nope/viewer?t=x`).closed).toBe(
      relayCloseCodes.noSession,
    );
    expect(h.hub.getSession(created.session_id, 'a').status).toBe('pending');
  });

  it('refuses an upgrade from another origin or for another Host with 403', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('a', { service: 'x' });
    await expect(
      connect(viewerUrl(h, created), { origin: 'https://evil.example' }).opened,
    ).rejects.toThrow(/403/);
    await expect(connect(viewerUrl(h, created), { host: 'evil.example' }).opened).rejects.toThrow(
      /403/,
    );
  });

  it('keeps one viewer at a time: a newer connection takes over (the older is closed with 4409) and the agent re-keys', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('a', { service: 'x' });
    const agent = connect(agentUrl(h, created), agentAuth(created));
    await agent.opened;
    const first = connect(viewerUrl(h, created));
    await first.textCount(1);
    // A phone that slept: its socket still looks open to the relay when the page comes back.
    const woken = connect(viewerUrl(h, created));
    expect(await first.closed).toBe(relayCloseCodes.viewerTaken);
    await woken.textCount(1);
    expect(woken.texts).toEqual([peer('connected')]);
    await agent.textCount(3);
    expect(agent.texts).toEqual([peer('connected'), peer('disconnected'), peer('connected')]);
    agent.ws.send(dataMessage(20));
    await woken.binaryCount(1);
    expect(first.binaries).toHaveLength(0);
    woken.ws.close();
    await woken.closed;
    const again = connect(viewerUrl(h, created));
    await again.textCount(1);
    expect(again.texts).toEqual([peer('connected')]);
    await agent.textCount(5);
    expect(agent.texts.slice(3)).toEqual([peer('disconnected'), peer('connected')]);
    expect(h.hub.getSession(created.session_id, 'a')).toMatchObject({
      status: 'active',
      viewer_connected: true,
    });
  });

  it('ends a session only when the agent side reports the end: resolved, both sides told and closed with 4410, the URL refused after', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('a', { service: 'x' });
    const agent = connect(agentUrl(h, created), agentAuth(created));
    const viewer = connect(viewerUrl(h, created));
    await viewer.textCount(1);
    const waiting = h.hub.waitForChange(created.session_id, 'a', { maxWaitMs: 5_000 });
    h.hub.end(created.session_id, 'a', 'resolved');
    expect((await waiting).status).toBe('resolved');
    expect(await viewer.closed).toBe(relayCloseCodes.ended);
    expect(await agent.closed).toBe(relayCloseCodes.ended);
    const status = JSON.stringify({ type: 'status', status: 'resolved' });
    expect(viewer.texts.at(-1)).toBe(status);
    expect(agent.texts.at(-1)).toBe(status);
    expect(await connect(viewerUrl(h, created)).closed).toBe(relayCloseCodes.ended);
    expect(await connect(agentUrl(h, created), agentAuth(created)).closed).toBe(
      relayCloseCodes.ended,
    );
  });

  it.each([
    ['done', { type: 'viewer-action', action: 'done' }],
    ['cancel', { type: 'viewer-action', action: 'cancel' }],
    ['done (bare)', { type: 'done' }],
  ])(
    'refuses a plaintext %s from a viewer holding only the ?t= token: the handoff stays active, the agent hears nothing of it',
    async (_name, control) => {
      const h = await startRelay();
      const created = h.hub.createSession('a', { service: 'x' });
      const agent = connect(agentUrl(h, created), agentAuth(created));
      await agent.opened;
      const attacker = connect(viewerUrl(h, created));
      await attacker.textCount(1);
      const waiting = h.hub.waitForChange(created.session_id, 'a', { maxWaitMs: 300 });
      attacker.ws.send(JSON.stringify(control));
      expect(await attacker.closed).toBe(relayCloseCodes.malformed);
      expect((await waiting).status).toBe('active');
      await agent.textCount(2);
      expect(agent.texts).toEqual([peer('connected'), peer('disconnected')]);
      expect(agent.binaries).toHaveLength(0);
      expect(agent.ws.readyState).toBe(WebSocket.OPEN);
      expect(h.hub.getSession(created.session_id, 'a')).toMatchObject({
        status: 'active',
        viewer_connected: false,
      });
    },
  );

  it('closes a viewer whose message is over 64 KiB, and an agent whose frame is over 2 MiB, with 4413', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('a', { service: 'x' });
    const agent = connect(agentUrl(h, created), agentAuth(created));
    const viewer = connect(viewerUrl(h, created));
    await viewer.textCount(1);
    viewer.ws.send(dataMessage(64 * 1024));
    await agent.binaryCount(1); // exactly 64 KiB passes
    viewer.ws.send(dataMessage(64 * 1024 + 1));
    expect(await viewer.closed).toBe(relayCloseCodes.tooBig);
    const viewer2 = connect(viewerUrl(h, created));
    await viewer2.textCount(1);
    agent.ws.send(dataMessage(2 * 1024 * 1024));
    await viewer2.binaryCount(1);
    agent.ws.send(dataMessage(2 * 1024 * 1024 + 1));
    expect(await agent.closed).toBe(relayCloseCodes.tooBig);
    await viewer2.textCount(2);
    expect(viewer2.texts[1]).toBe(peer('disconnected'));
  });

  it('closes a viewer sending more than 50 input messages a second with 4429', async () => {
    // A stopped clock: the bucket refills with time, and this test is about the count alone.
    const frozen = Date.now();
    const h = await startRelay({}, () => frozen);
    const created = h.hub.createSession('a', { service: 'x' });
    const agent = connect(agentUrl(h, created), agentAuth(created));
    const viewer = connect(viewerUrl(h, created));
    await viewer.textCount(1);
    for (let i = 0; i < 60; i++) viewer.ws.send(dataMessage(40));
    expect(await viewer.closed).toBe(relayCloseCodes.rateExceeded);
    // Everything up to the limit went through, nothing after it.
    await agent.binaryCount(50);
    await new Promise((r) => setTimeout(r, 100));
    expect(agent.binaries.length).toBe(50);
  });

  it('does not count frame acks against the input rate: 120 frames acked in one second pass', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('a', { service: 'x' });
    const agent = connect(agentUrl(h, created), agentAuth(created));
    const viewer = connect(viewerUrl(h, created));
    await viewer.textCount(1);
    viewer.ws.on('message', (_d: Buffer, isBinary: boolean) => {
      if (isBinary) viewer.ws.send(dataMessage(40)); // the ack
    });
    for (let i = 0; i < 120; i++) {
      agent.ws.send(dataMessage(2_000));
      await new Promise((r) => setTimeout(r, 8));
    }
    await agent.binaryCount(120);
    // And 40 keystrokes on top of that still fit the budget.
    for (let i = 0; i < 40; i++) viewer.ws.send(dataMessage(40));
    await agent.binaryCount(160);
    expect(viewer.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes a viewer that stops reading with 4508 once its send buffer is full, never dropping a frame', async () => {
    const h = await startRelay({ maxViewerBufferBytes: 1024 * 1024 });
    const created = h.hub.createSession('a', { service: 'x' });
    const agent = connect(agentUrl(h, created), agentAuth(created));
    const viewer = connect(viewerUrl(h, created));
    await viewer.textCount(1);
    await agent.textCount(1);
    const socket = (viewer.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const frames = 60;
    for (let i = 0; i < frames; i++) agent.ws.send(dataMessage(512 * 1024, i));
    await agent.textCount(2);
    expect(agent.texts[1]).toBe(peer('disconnected'));
    socket.resume();
    expect(await viewer.closed).toBe(relayCloseCodes.bufferFull);
    // What arrived is a prefix of what was sent: in order, none skipped.
    expect(viewer.binaries.length).toBeLessThan(frames);
    viewer.binaries.forEach((b, i) => expect(b[2]).toBe(i));
  });

  it('forwards between an in-process agent side and a viewer socket', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('a', { service: 'x' });
    const got: Array<Uint8Array | string> = [];
    const link = h.hub.attachAgent(created.session_id, 'a', (d) => got.push(d));
    const viewer = connect(viewerUrl(h, created));
    await viewer.textCount(1);
    expect(got).toEqual([peer('connected')]);
    link.send(dataMessage(10));
    await viewer.binaryCount(1);
    viewer.ws.send(dataMessage(12));
    await new Promise((r) => setTimeout(r, 100));
    expect(Buffer.from(got[1] as Uint8Array)).toEqual(dataMessage(12));
    link.close();
    await viewer.textCount(2);
    expect(viewer.texts[1]).toBe(peer('disconnected'));
    expect(() => h.hub.attachAgent(created.session_id, 'b', () => undefined)).toThrow(
      /No handoff session/,
    );
  });

  it('never logs a token', async () => {
    const h = await startRelay();
    const created = h.hub.createSession('a', { service: 'x' });
    const viewerToken = new URL(created.viewer_url).searchParams.get('t')!;
    const agent = connect(agentUrl(h, created), agentAuth(created));
    const viewer = connect(viewerUrl(h, created));
    await viewer.textCount(1);
    await connect(viewerUrl(h, created)).textCount(1); // takes over from the first
    await viewer.closed;
    await connect(agentUrl(h, created), { authorization: 'Bearer wrong-token-123' }).closed;
    h.hub.end(created.session_id, 'a', 'resolved');
    await agent.closed;
    const logs = logLines.join('\n');
    expect(logs).toContain(created.session_id);
    expect(logs).not.toContain(viewerToken);
    expect(logs).not.toContain(created.agent_token);
    expect(logs).not.toContain('wrong-token-123');
  });
});
