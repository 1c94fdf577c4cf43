import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createTcpServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import pino from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/cli/startServer.js';
import type * as StartServerModule from '../../src/cli/startServer.js';
import { configSchema } from '../../src/config/configSchema.js';
import { isLoopgateError } from '../../src/core/errors.js';
import type { CreatedHandoff } from '../../src/handoff/handoffView.js';
import { handoffSubprotocol, relayCloseCodes } from '../../src/handoff/relayHub.js';
import type { CdpChromium } from '../../src/handoff/testing/launchCdpChromium.js';
import { forwardedByHeader } from '../../src/http/handoffForwarder.js';
import { createHandoffAgent, type HandoffAgent } from '../../src/mcp/handoffAgent.js';
import { createRemoteHandoffClient, type HandoffClient } from '../../src/mcp/handoffClient.js';
import { createAgentKey } from '../../src/service/operatorAuth.js';
import type { TestBrowser } from '../support/chromium.js';
import {
  startHandoffStage,
  waitForViewerReady,
  type HandoffStage,
} from '../support/handoffStage.js';
import { waitFor } from '../support/waitFor.js';

/*
 * Two `loopgate serve` in this process on ONE SQLite data dir (same database, same keys), as two
 * servers of one deployment behind a balancer. A handoff session lives in the memory of the
 * server that created it (A); requests about it that land on B are forwarded to A.
 *
 * A and B are the built server (dist/, which `npm test` builds first), as `loopgate serve`
 * runs it: the viewer page loads the compiled E2EE module the server serves from there.
 */
const builtServer = new URL('../../dist/cli/startServer.js', import.meta.url).href;

let dataDir: string;
let a: RunningServer;
let b: RunningServer;
/** The address humans open: a TCP front that sends every connection to B. */
let front: ReturnType<typeof createTcpServer>;
let frontOrigin: string;
let agentKey: string;
let handoffStage: HandoffStage;
let siteOrigin: string;
let agentBrowser: CdpChromium;
let human: TestBrowser;
let submissions: string[];

const tcpPort = (server: { address(): unknown }) => (server.address() as AddressInfo).port;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'loopgate-handoffx-'));
  front = createTcpServer((client) => {
    const upstream = connect(b.port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  frontOrigin = `http://localhost:${tcpPort(front)}`;
  const built = (await import(builtServer)) as typeof StartServerModule;
  // Every server of a deployment announces the balancer's URL; each listens on its own port.
  const start = () =>
    built.startServer(
      configSchema.parse({
        dataDir,
        host: '127.0.0.1',
        port: 0,
        publicUrl: frontOrigin,
        logLevel: 'silent',
      }),
      pino({ level: 'silent' }),
    );
  a = await start();
  b = await start();
  agentKey = (await createAgentKey(a.store, 'agent', Date.now())).key;

  handoffStage = await startHandoffStage();
  ({ siteOrigin, agentBrowser, human, submissions } = handoffStage);
});

afterAll(async () => {
  await handoffStage?.close();
  await b?.close();
  await a?.close();
  front?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A {@link HandoffClient} that talks straight to `server` with the agent key. */
const clientOf = (server: RunningServer) =>
  createRemoteHandoffClient({ serverUrl: `http://127.0.0.1:${server.port}`, apiKey: agentKey });

/** `fetch` with the agent key, straight to a server. */
function api(
  server: RunningServer,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
) {
  return fetch(`http://127.0.0.1:${server.port}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${agentKey}`,
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
}

/** Opens a session through A's API. */
async function openSessionOnA(): Promise<CreatedHandoff> {
  const response = await api(a, '/v1/handoff', { method: 'POST', body: { service: 'Test Bank' } });
  expect(response.status).toBe(201);
  return (await response.json()) as CreatedHandoff;
}

/**
 * Opens a viewer WebSocket straight to `server` (as a page on the front's origin would) that
 * the relay is expected to refuse, and resolves with how: the HTTP status of a refused
 * handshake, or the close code the relay chose after accepting it (so a browser can tell why).
 */
function refusedViewerSocket(
  server: RunningServer,
  sessionId: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<{ status: number } | { code: number }> {
  const socket = new WebSocket(
    `ws://127.0.0.1:${server.port}/v1/handoff/${sessionId}/viewer?t=${token}`,
    [handoffSubprotocol],
    { headers: { origin: frontOrigin, ...headers }, perMessageDeflate: false },
  );
  return new Promise((resolve) => {
    socket.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      socket.terminate();
    });
    socket.on('close', (code) => resolve({ code }));
    socket.on('error', () => undefined);
  });
}

const resetLoginPage = () => handoffStage.resetLoginPage();
const otpValue = (targetId: string) => handoffStage.otpValue(targetId);

describe('a handoff whose agent is on server A and whose viewer is on server B', () => {
  let agent: HandoffAgent;
  afterAll(async () => {
    await agent?.closeAll();
  });

  it('both servers share one SQLite data dir and list each other in the directory of servers', async () => {
    expect(a.serverId).not.toBe(b.serverId);
    expect(a.internalUrl).toBe(`http://127.0.0.1:${a.port}`);
    expect(b.internalUrl).toBe(`http://127.0.0.1:${b.port}`);
    expect(a.jwks()).toEqual(b.jwks());
  });

  it('the human opens the viewer through B, types the OTP into the agent’s page on A’s session, presses Done; the agent’s wait through B resolves', async () => {
    const targetId = await resetLoginPage();
    // The agent opens the session and joins it as its agent side through A; everything else it
    // asks (waits, the Done report) goes to B.
    const throughA = clientOf(a);
    const throughB = clientOf(b);
    const client: HandoffClient = {
      createSession: (input) => throughA.createSession(input),
      connectAgent: (created, onMessage) => throughA.connectAgent(created, onMessage),
      getSession: (id) => throughB.getSession(id),
      waitForChange: (id, seconds, signal) => throughB.waitForChange(id, seconds, signal),
      cancelSession: (id) => throughB.cancelSession(id),
      endSession: (id, status, detail) => throughB.endSession(id, status, detail),
    };
    agent = createHandoffAgent({ client, defaultCdpUrl: agentBrowser.httpUrl });
    const started = await agent.start({
      service: 'Test Bank',
      context: { url: `${siteOrigin}/login`, blocker_type: 'otp' },
    });
    const { session_id, session_url } = started;
    expect(session_url.startsWith(`${frontOrigin}/handoff/${session_id}?t=`)).toBe(true);
    // The session lives on A only: B can serve it only by forwarding.
    expect(a.relay.hasSession(session_id)).toBe(true);
    expect(b.relay.hasSession(session_id)).toBe(false);

    const first = agent.waitForChange(session_id, 40);
    const page: Page = await human.browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await page.goto(session_url);
      await waitForViewerReady(page);
      expect(await first).toMatchObject({ status: 'active', viewer_connected: true });

      const box = (await page.locator('#screen').boundingBox())!;
      const scale = Math.min(box.width / 1280, box.height / 800);
      const drawnX = (box.width - 1280 * scale) / 2;
      const drawnY = (box.height - 800 * scale) / 2;
      await page.mouse.click(box.x + drawnX + 150 * scale, box.y + drawnY + 120 * scale);
      await page.keyboard.type('493-20.1');
      await waitFor(
        'the code in the agent’s page',
        async () => (await otpValue(targetId)) === '493-20.1',
      );
      await page.keyboard.press('Enter');
      await waitFor('the form submission', () => submissions.length > 0);
      expect(submissions).toEqual(['493-20.1']);

      const second = agent.waitForChange(session_id, 40);
      await page.click('#done');
      expect(await second).toMatchObject({
        session_id,
        status: 'resolved',
        viewer_connected: false,
      });
      expect(await page.textContent('#message')).toMatch(/Done/);
    } finally {
      await page.close();
    }
    // B's answer is A's: read through both, the session looks the same.
    const viaB = await (await api(b, `/v1/handoff/${session_id}`)).json();
    const viaA = await (await api(a, `/v1/handoff/${session_id}`)).json();
    expect(viaB).toEqual(viaA);
    expect(viaB).toMatchObject({ status: 'resolved' });
  });

  it('cancel through B ends the session on A, and B answers exactly what A would for a second cancel', async () => {
    const created = await openSessionOnA();
    const cancelled = await api(b, `/v1/handoff/${created.session_id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ status: 'cancelled' });
    expect(a.relay.getSession(created.session_id, 'agent').status).toBe('cancelled');
    const again = await api(b, `/v1/handoff/${created.session_id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe(
      'E_HANDOFF_ENDED',
    );
  });

  it('B forwards the caller’s credentials unchanged and A checks them: no key gets 401, another agent’s key 404', async () => {
    const created = await openSessionOnA();
    const anonymous = await fetch(`http://127.0.0.1:${b.port}/v1/handoff/${created.session_id}`);
    expect(anonymous.status).toBe(401);
    const other = (await createAgentKey(a.store, 'other', Date.now())).key;
    const foreign = await fetch(`http://127.0.0.1:${b.port}/v1/handoff/${created.session_id}`, {
      headers: { authorization: `Bearer ${other}` },
    });
    expect(foreign.status).toBe(404);
    // A viewer with a wrong token is refused by A's relay (forwarded), as on one server.
    const wrong = await refusedViewerSocket(b, created.session_id, 'x'.repeat(43));
    expect(wrong).toEqual({ code: relayCloseCodes.badToken });
    // A page of another origin is refused by A's Host/Origin check, as on one server.
    const token = new URL(created.viewer_url).searchParams.get('t')!;
    const crossSite = await refusedViewerSocket(b, created.session_id, token, {
      origin: 'http://evil.example',
    });
    expect(crossSite).toEqual({ status: 403 });
    expect(a.relay.getSession(created.session_id, 'agent')).toMatchObject({
      status: 'pending',
      viewer_connected: false,
    });
    await api(a, `/v1/handoff/${created.session_id}/cancel`, { method: 'POST' });
  });
});

describe('what B refuses to forward', () => {
  /** A TCP listener that counts connections and answers each with a 418. */
  let spy: ReturnType<typeof createTcpServer>;
  let spyConnections = 0;
  let spyUrl: string;
  beforeAll(async () => {
    spy = createTcpServer((socket) => {
      spyConnections += 1;
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 418 I am a spy\r\nConnection: close\r\nContent-Length: 3\r\n\r\nspy');
    });
    await new Promise<void>((resolve) => spy.listen(0, '127.0.0.1', resolve));
    spyUrl = `http://127.0.0.1:${tcpPort(spy)}`;
  });
  afterAll(() => {
    spy?.close();
  });

  /** Records `sessionId` as owned by `serverId`, whose directory entry is `entry` (or none). */
  async function ownedBy(
    sessionId: string,
    serverId: string,
    entry?: { internalUrl: string; heartbeatAt: number },
  ): Promise<void> {
    const now = Date.now();
    if (entry) await b.store.saveServerHeartbeat({ id: serverId, ...entry }, 0);
    await b.store.recordHandoffOwner({ sessionId, serverId, keepUntil: now + 600_000 }, now);
  }

  async function errorOf(response: Response): Promise<{ status: number; code: string }> {
    const body = (await response.json()) as { error: { code: string } };
    return { status: response.status, code: body.error.code };
  }

  it('an unknown session id gets on B exactly the 404 it gets on A (and on one server)', async () => {
    const onA = await api(a, '/v1/handoff/ho_nosuchsession/wait?max_wait_seconds=1');
    const onB = await api(b, '/v1/handoff/ho_nosuchsession/wait?max_wait_seconds=1');
    expect(onB.status).toBe(404);
    expect(await onB.json()).toEqual(await onA.json());
    expect(await refusedViewerSocket(b, 'ho_nosuchsession', 'x'.repeat(43))).toEqual({
      code: relayCloseCodes.noSession,
    });
  });

  it('a forwarded-by header sent from outside is not trusted: B serves the request itself and forwards nothing', async () => {
    const created = await openSessionOnA();
    const token = new URL(created.viewer_url).searchParams.get('t')!;
    // Control: without the header, B forwards to A.
    expect((await api(b, `/v1/handoff/${created.session_id}`)).status).toBe(200);
    const marked = await api(b, `/v1/handoff/${created.session_id}`, {
      headers: { [forwardedByHeader]: a.serverId },
    });
    expect(await errorOf(marked)).toEqual({ status: 404, code: 'E_HANDOFF_NOT_FOUND' });
    const markedSocket = await refusedViewerSocket(b, created.session_id, token, {
      [forwardedByHeader]: b.serverId,
    });
    expect(markedSocket).toEqual({ code: relayCloseCodes.noSession });
    expect(a.relay.getSession(created.session_id, 'agent').viewer_connected).toBe(false);
    // A request A receives with the header is served by A (it holds the session): the header
    // takes nothing away from the server that owns it.
    expect(
      (
        await api(a, `/v1/handoff/${created.session_id}`, {
          headers: { [forwardedByHeader]: 'srv_anyone' },
        })
      ).status,
    ).toBe(200);
    await api(a, `/v1/handoff/${created.session_id}/cancel`, { method: 'POST' });
  });

  it('B forwards only to the directory’s URL of the owner: never where the request points, never to a missing, stale or malformed entry', async () => {
    const created = await openSessionOnA();
    const spyHost = new URL(spyUrl).host;
    // A request that names the spy (Host, X-Forwarded-Host, an absolute-form target) still goes
    // to A, the owner the store names.
    const named = await api(b, `/v1/handoff/${created.session_id}`, {
      headers: { host: spyHost, 'x-forwarded-host': spyHost, forwarded: `host=${spyHost}` },
    });
    expect(named.status).toBe(200);
    const absolute = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: b.port,
        path: `${spyUrl}/v1/handoff/${created.session_id}`,
        headers: { authorization: `Bearer ${agentKey}`, host: spyHost },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(absolute).not.toBe(418);

    // Owner rows whose server the directory does not list, lists as silent, or lists with a URL
    // that is not http://host:port: B serves them itself (404) and connects nowhere.
    await ownedBy('ho_ghost', 'srv_ghost');
    await ownedBy('ho_stale', 'srv_stale', {
      internalUrl: spyUrl,
      heartbeatAt: Date.now() - 600_000,
    });
    await ownedBy('ho_path', 'srv_path', { internalUrl: `${spyUrl}/x`, heartbeatAt: Date.now() });
    await ownedBy('ho_creds', 'srv_creds', {
      internalUrl: `http://u:p@${spyHost}`,
      heartbeatAt: Date.now(),
    });
    for (const id of ['ho_ghost', 'ho_stale', 'ho_path', 'ho_creds']) {
      expect(await errorOf(await api(b, `/v1/handoff/${id}`)), id).toEqual({
        status: 404,
        code: 'E_HANDOFF_NOT_FOUND',
      });
      expect(await refusedViewerSocket(b, id, 'x'.repeat(43)), id).toEqual({
        code: relayCloseCodes.noSession,
      });
    }
    expect(spyConnections).toBe(0);

    // Control: a live directory entry is the one place B forwards to.
    await ownedBy('ho_listed', 'srv_listed', { internalUrl: spyUrl, heartbeatAt: Date.now() });
    const listed = await api(b, '/v1/handoff/ho_listed');
    expect(listed.status).toBe(418);
    expect(spyConnections).toBe(1);
    await api(a, `/v1/handoff/${created.session_id}/cancel`, { method: 'POST' });
  });

  it('an owner that the directory lists but that does not answer: 502 E_HANDOFF_OWNER_UNREACHABLE', async () => {
    const closed = createTcpServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${tcpPort(closed)}`;
    await new Promise((resolve) => closed.close(resolve));
    await ownedBy('ho_dead', 'srv_dead', { internalUrl: deadUrl, heartbeatAt: Date.now() });
    const response = await api(b, '/v1/handoff/ho_dead');
    expect(await errorOf(response)).toEqual({ status: 502, code: 'E_HANDOFF_OWNER_UNREACHABLE' });
    expect(await refusedViewerSocket(b, 'ho_dead', 'x'.repeat(43))).toEqual({ status: 502 });
  });

  it('a server that shuts down leaves the directory, so its sessions are no longer forwarded to', async () => {
    const c = await startServer(
      configSchema.parse({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent' }),
      pino({ level: 'silent' }),
    );
    const created = (await (
      await fetch(`${c.url}/v1/handoff`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ service: 'Short-lived' }),
      })
    ).json()) as CreatedHandoff;
    expect((await b.store.findHandoffOwner(created.session_id, Date.now()))?.server?.id).toBe(
      c.serverId,
    );
    expect((await api(b, `/v1/handoff/${created.session_id}`)).status).toBe(200);
    await c.close();
    expect((await b.store.findHandoffOwner(created.session_id, Date.now()))?.server).toBeNull();
    expect(await errorOf(await api(b, `/v1/handoff/${created.session_id}`))).toEqual({
      status: 404,
      code: 'E_HANDOFF_NOT_FOUND',
    });
  });
});

describe('a server that forwards a viewer’s WebSocket', () => {
  it('closes the piped socket when it shuts down, so its close does not wait on the viewer', async () => {
    const d = await startServer(
      configSchema.parse({
        dataDir,
        host: '127.0.0.1',
        port: 0,
        publicUrl: frontOrigin,
        logLevel: 'silent',
      }),
      pino({ level: 'silent' }),
    );
    const created = await openSessionOnA();
    const token = new URL(created.viewer_url).searchParams.get('t')!;
    const viewer = new WebSocket(
      `ws://127.0.0.1:${d.port}/v1/handoff/${created.session_id}/viewer?t=${token}`,
      [handoffSubprotocol],
      { headers: { origin: frontOrigin }, perMessageDeflate: false },
    );
    viewer.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => viewer.on('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      viewer.on('open', () => resolve());
      viewer.on('unexpected-response', (_req, res) => reject(new Error(`${res.statusCode}`)));
    });
    expect(a.relay.getSession(created.session_id, 'agent').viewer_connected).toBe(true);
    await d.close();
    await closed;
    await waitFor(
      'A to see the viewer leave',
      () => !a.relay.getSession(created.session_id, 'agent').viewer_connected,
    );
    await api(a, `/v1/handoff/${created.session_id}/cancel`, { method: 'POST' });
  });
});

describe('--internal-url at start-up', () => {
  it('refuses to start on a shared database with a wildcard --host and no --internal-url, naming the flag', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopgate-handoffx-'));
    try {
      const error = await startServer(
        configSchema.parse({
          dataDir: dir,
          host: '0.0.0.0',
          allowPublicBind: true,
          databaseUrl: 'postgres://loopgate@127.0.0.1:1/never-reached',
          port: 0,
          logLevel: 'silent',
        }),
        pino({ level: 'silent' }),
      ).then(
        async (server) => {
          await server.close();
          return null;
        },
        (err: unknown) => err,
      );
      expect(isLoopgateError(error, 'E_CONFIG_INTERNAL_URL')).toBe(true);
      expect((error as Error).message).toMatch(/--internal-url http:\/\//);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
