#!/usr/bin/env node
/**
 * Browser-handoff benchmark. `runHandoffBench()` returns one JSON-ready object; run this file
 * directly to print it (progress goes to stderr). Expects `npm run build` to have produced dist/.
 *
 * A headless Chromium (1280×800) animates a full-screen canvas. The agent side is the real one
 * (`HandoffAgent` over the relay in the same process, as in `loopgate mcp`'s embedded mode); the
 * viewer is a Node WebSocket client running the viewer's E2EE session, decrypting every frame
 * and acking it at once (no image decoding). Figures:
 *
 * 1. frames/s reaching the viewer through relay and encryption vs frames/s Chromium emits to a
 *    plain CDP client acking at once, alternating phases in the same run (goal ratio ≥ 0.95);
 * 2. added latency per frame, from the agent side receiving the screencast frame from
 *    Chromium to the viewer holding its plaintext, p50/p99 (goal ≤ 2 ms / ≤ 10 ms);
 * 3. keystroke sealed in the viewer → `Input.dispatchKeyEvent` sent to Chromium, p50 (goal ≤ 5 ms);
 * 4. concurrent sessions, each viewer pacing its acks to 10 frames/s: the most sessions with
 *    every session ≥ 9 frames/s and p95 frame latency < 50 ms.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { summarizeMs, round2 } from './stats.mjs';

const dist = new URL('../dist/', import.meta.url);
const load = (path) => import(new URL(path, dist).href);

const settings = {
  phaseMs: 5_000,
  warmupMs: 1_000,
  keystrokes: 200,
  concurrencySteps: [1, 2, 4, 6, 8, 12, 16],
  stepMs: 5_000,
};
const goals = {
  fpsRatio: 0.95,
  addedP50Ms: 2,
  addedP99Ms: 10,
  keystrokeP50Ms: 5,
  concurrentP95Ms: 50,
  concurrentFps: 9,
};

function log(line) {
  process.stderr.write(`[handoff bench] ${line}\n`);
}

const canvasPage = `<!doctype html><html><body style="margin:0;overflow:hidden;background:#000">
<canvas id="c"></canvas><script>
const c = document.getElementById('c'), x = c.getContext('2d');
function size() { c.width = innerWidth; c.height = innerHeight; }
size(); addEventListener('resize', size);
let n = 0;
function draw(t) {
  n++;
  const g = x.createLinearGradient(0, 0, c.width, c.height);
  g.addColorStop(0, 'hsl(' + (t / 10 % 360) + ',80%,50%)');
  g.addColorStop(1, 'hsl(' + ((t / 10 + 180) % 360) + ',80%,50%)');
  x.fillStyle = g; x.fillRect(0, 0, c.width, c.height);
  for (let i = 0; i < 40; i++) {
    x.fillStyle = 'hsl(' + (i * 9) + ',90%,' + (40 + (i % 3) * 10) + '%)';
    x.beginPath(); x.arc((Math.sin(t / 700 + i) + 1) / 2 * c.width, (Math.cos(t / 900 + i * 1.3) + 1) / 2 * c.height, 30 + i, 0, 7); x.fill();
  }
  x.fillStyle = '#fff'; x.font = '48px sans-serif'; x.fillText('frame ' + n, 40, 80);
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);
</script></body></html>`;

async function startSite() {
  const server = createServer((req, res) =>
    res.writeHead(200, { 'content-type': 'text/html' }).end(canvasPage),
  );
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

async function launchChromium(url) {
  const profile = await mkdtemp(join(os.tmpdir(), 'loopgate-bench-cdp-'));
  const child = spawn(
    process.env.CHROME_PATH ?? '/usr/bin/chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      '--window-size=1280,800',
      url,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const wsUrl = await new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`Chromium did not start:\n${err}`)), 20_000);
    child.stderr.on('data', (d) => {
      err += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return {
    browserWsUrl: wsUrl,
    httpUrl: `http://${new URL(wsUrl).host}`,
    async close() {
      child.kill('SIGKILL');
      await rm(profile, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

/** Resolves as `promise` does, or rejects after `ms` naming the phase, so the bench always ends. */
async function within(ms, phase, promise) {
  let timer;
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${phase}: no result after ${ms / 1_000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long one handshake or setup step may take before the phase fails. */
const phaseTimeoutMs = 30_000;

/**
 * A viewer in Node, as the viewer page does it: one E2EE session per `peer connected`, and every
 * message handled in arrival order (an agent hello that arrives while our own keys are still
 * being generated waits for them instead of being lost). Then every frame opened, its latency
 * recorded and acked (after `ackDelayMs` from the previous ack, to pace the stream).
 */
function connectViewer(e2ee, sessionUrl, onFrame, options = {}) {
  const url = new URL(sessionUrl);
  const sessionId = url.pathname.split('/').pop();
  const secret = e2ee.readFragmentSecret(url.hash);
  const ws = new WebSocket(
    `ws://${url.host}/v1/handoff/${sessionId}/viewer?t=${url.searchParams.get('t')}`,
    ['loopgate.handoff.v1'],
  );
  ws.binaryType = 'nodebuffer';
  let session = null;
  let ready = null;
  let chain = Promise.resolve();
  let lastAck = 0;
  let ackTimer;
  let pendingAck = null;
  const viewer = {
    ws,
    get session() {
      return session;
    },
    confirmed: null,
    /** Sends `value` sealed; nothing while no agent is keyed in (it left, or not yet). */
    async send(value) {
      const current = session;
      if (!current || ws.readyState !== WebSocket.OPEN) return;
      ws.send(await current.seal(e2ee.encodeMessagePayload(value)));
    },
    close() {
      clearTimeout(ackTimer);
      ws.close();
    },
  };
  const sendAck = (frame) => {
    lastAck = performance.now();
    // An ack timed after the agent left (the session ends between frames) is simply not sent.
    viewer.send({ type: 'frameAck', frame }).catch(() => undefined);
  };
  viewer.confirmed = new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('close', (code) =>
      reject(
        new Error(`the relay closed the viewer socket (${code}) before the keys were confirmed`),
      ),
    );
    const handle = async (data, isBinary) => {
      if (!isBinary) {
        const msg = JSON.parse(data.toString());
        if (msg.type === 'peer' && msg.state === 'connected') {
          const creating = e2ee.createE2eeSession({
            role: 'viewer',
            sessionId,
            fragmentSecret: secret,
          });
          ready = creating;
          session = null;
          const s = await creating;
          if (ready !== creating) return;
          session = s;
          ws.send(await s.hello());
        } else if (msg.type === 'peer') {
          ready = null;
          session = null;
        }
        return;
      }
      const current = ready;
      if (!current) return;
      const s = await current;
      const r = await s.receive(new Uint8Array(data));
      if (ready !== current) return;
      if (r.kind === 'hello') ws.send(r.reply);
      else if (r.kind === 'confirmed') resolve();
      else if (r.kind === 'data') {
        const payload = e2ee.decodeHandoffPayload(r.plaintext);
        if (payload?.kind !== 'frame') return;
        onFrame(payload.meta.frame, performance.now());
        const wait = (options.ackDelayMs ?? 0) - (performance.now() - lastAck);
        if (wait <= 0) sendAck(payload.meta.frame);
        else {
          pendingAck = payload.meta.frame;
          clearTimeout(ackTimer);
          ackTimer = setTimeout(() => sendAck(pendingAck), wait);
        }
      }
    };
    ws.on('message', (data, isBinary) => {
      chain = chain.then(() => handle(data, isBinary)).catch(reject);
    });
  });
  // Handled by whoever awaits it; a late rejection after the phase is over is not an error.
  viewer.confirmed.catch(() => undefined);
  return viewer;
}

/**
 * Runs the benchmark and returns `{settings, goals, fps, added_latency, keystroke, concurrency}`.
 * Starts and stops its own Chromium, relay and test page.
 */
export async function runHandoffBench() {
  const [
    { createRelayHub },
    { createHandoffAgent },
    { createLocalHandoffClient },
    { ScreencastSession },
    { CdpConnection },
    e2ee,
  ] = await Promise.all([
    load('handoff/relayHub.js'),
    load('mcp/handoffAgent.js'),
    load('mcp/localHandoffClient.js'),
    load('handoff/screencastSession.js'),
    load('handoff/cdpConnection.js'),
    load('crypto/e2ee/index.js'),
  ]);

  // When each frame reached the agent side (keyed by page and frame number), and when each
  // key event was handed to Chromium.
  const frameSeenAt = new Map();
  const originalStart = ScreencastSession.start;
  ScreencastSession.start = (options) =>
    originalStart.call(ScreencastSession, {
      ...options,
      onFrame: (frame) => {
        frameSeenAt.set(`${options.target.targetId}:${frame.meta.frame}`, performance.now());
        options.onFrame(frame);
      },
    });
  const keyDispatchedAt = [];
  const originalSend = CdpConnection.prototype.send;
  CdpConnection.prototype.send = function send(method, params, sessionId) {
    if (method === 'Input.dispatchKeyEvent') keyDispatchedAt.push(performance.now());
    return originalSend.call(this, method, params, sessionId);
  };

  const site = await startSite();
  const chromium = await launchChromium('about:blank');
  const httpServer = createServer((_req, res) => res.writeHead(404).end());
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const publicUrl = `http://127.0.0.1:${httpServer.address().port}`;
  const relay = createRelayHub({ publicUrl });
  httpServer.on('upgrade', (req, socket, head) => {
    if (!relay.handleUpgrade(req, socket, head)) socket.destroy();
  });
  const agent = createHandoffAgent({
    client: createLocalHandoffClient({ relay, agentId: 'bench' }),
    defaultCdpUrl: chromium.httpUrl,
  });
  const browser = await CdpConnection.connect(chromium.browserWsUrl);
  const openPage = async (path) => {
    // A window each: Chromium sends no screencast frames for a tab hidden behind another.
    const { targetId } = await browser.send('Target.createTarget', {
      url: `${site.origin}${path}`,
      newWindow: true,
    });
    await sleep(500);
    return targetId;
  };
  const viewers = [];

  try {
    const relayedTarget = await openPage('/relayed');
    const directTarget = await openPage('/direct');
    const started = await within(
      phaseTimeoutMs,
      'starting the handoff',
      agent.start({ service: 'bench', context: { url: `${site.origin}/relayed` } }),
    );

    // ---- 1 and 2: alternating relayed and direct phases ----
    const relayedRuns = [];
    const directRuns = [];
    const added = [];
    const relayedPhase = async () => {
      let count = 0;
      let measuring = false;
      const viewer = connectViewer(e2ee, started.session_url, (frame, at) => {
        if (!measuring) return;
        count++;
        const seen = frameSeenAt.get(`${relayedTarget}:${frame}`);
        if (seen !== undefined) added.push(at - seen);
      });
      try {
        await within(phaseTimeoutMs, 'relayed phase: viewer key exchange', viewer.confirmed);
      } catch (err) {
        viewer.close();
        throw err;
      }
      await sleep(settings.warmupMs);
      measuring = true;
      const t0 = performance.now();
      await sleep(settings.phaseMs);
      measuring = false;
      relayedRuns.push(count / ((performance.now() - t0) / 1_000));
      return viewer;
    };
    const directPhase = async () => {
      const conn = await within(
        phaseTimeoutMs,
        'direct phase: CDP connection',
        CdpConnection.connect(chromium.browserWsUrl),
      );
      const { sessionId } = await conn.send('Target.attachToTarget', {
        targetId: directTarget,
        flatten: true,
      });
      let count = 0;
      let measuring = false;
      conn.onEvent((event) => {
        if (event.method !== 'Page.screencastFrame' || event.sessionId !== sessionId) return;
        Buffer.from(event.params.data, 'base64'); // the agent side decodes each frame too
        if (measuring) count++;
        conn
          .send('Page.screencastFrameAck', { sessionId: event.params.sessionId }, sessionId)
          .catch(() => undefined);
      });
      await conn.send('Page.enable', {}, sessionId);
      await conn.send(
        'Page.startScreencast',
        { format: 'jpeg', quality: 70, everyNthFrame: 1 },
        sessionId,
      );
      await sleep(settings.warmupMs);
      measuring = true;
      const t0 = performance.now();
      await sleep(settings.phaseMs);
      measuring = false;
      directRuns.push(count / ((performance.now() - t0) / 1_000));
      await conn.send('Page.stopScreencast', {}, sessionId).catch(() => undefined);
      await conn.close();
    };
    for (let round = 0; round < 2; round++) {
      log(`round ${round + 1}: relayed`);
      const viewer = await relayedPhase();
      viewer.close();
      await sleep(300);
      log(`round ${round + 1}: direct`);
      await directPhase();
    }

    // ---- 3: keystroke → Input.dispatchKeyEvent ----
    log('keystrokes');
    const keyViewer = connectViewer(e2ee, started.session_url, () => undefined);
    viewers.push(keyViewer);
    await within(phaseTimeoutMs, 'keystrokes: viewer key exchange', keyViewer.confirmed);
    await sleep(500);
    const keystroke = [];
    for (let i = 0; i < settings.keystrokes; i++) {
      const before = keyDispatchedAt.length;
      const sealed = await keyViewer.session.seal(
        e2ee.encodeMessagePayload({ type: i % 2 ? 'keyUp' : 'keyDown', key: 'a', code: 'KeyA' }),
      );
      const t0 = performance.now();
      keyViewer.ws.send(sealed);
      const deadline = t0 + 2_000;
      while (keyDispatchedAt.length === before && performance.now() < deadline) await sleep(0);
      if (keyDispatchedAt.length > before) keystroke.push(keyDispatchedAt[before] - t0);
      await sleep(15); // stay well under the relay's 50 events/s
    }
    keyViewer.close();
    await agent.cancel(started.session_id);

    // ---- 4: concurrent sessions at 10 frames/s ----
    const steps = [];
    const sessions = [];
    let best = 0;
    for (const n of settings.concurrencySteps) {
      while (sessions.length < n) {
        const i = sessions.length;
        const targetId = await openPage(`/concurrent-${i}`);
        const s = await within(
          phaseTimeoutMs,
          `${n} sessions: starting handoff ${i + 1}`,
          agent.start({
            service: `bench ${i}`,
            context: { url: `${site.origin}/concurrent-${i}` },
          }),
        );
        const state = { targetId, count: 0, latencies: [], measuring: false };
        const viewer = connectViewer(
          e2ee,
          s.session_url,
          (frame, at) => {
            if (!state.measuring) return;
            state.count++;
            const seen = frameSeenAt.get(`${targetId}:${frame}`);
            if (seen !== undefined) state.latencies.push(at - seen);
          },
          { ackDelayMs: 100 },
        );
        viewers.push(viewer);
        await within(
          phaseTimeoutMs,
          `${n} sessions: viewer ${i + 1} key exchange`,
          viewer.confirmed,
        );
        sessions.push(state);
      }
      log(`${n} concurrent sessions`);
      await sleep(settings.warmupMs);
      for (const s of sessions) Object.assign(s, { count: 0, latencies: [], measuring: true });
      const t0 = performance.now();
      await sleep(settings.stepMs);
      const seconds = (performance.now() - t0) / 1_000;
      for (const s of sessions) s.measuring = false;
      const fps = sessions.map((s) => s.count / seconds);
      const latency = summarizeMs(sessions.flatMap((s) => s.latencies));
      const ok = Math.min(...fps) >= goals.concurrentFps && latency.p95_ms < goals.concurrentP95Ms;
      steps.push({
        sessions: n,
        min_fps: round2(Math.min(...fps)),
        mean_fps: round2(fps.reduce((a, b) => a + b, 0) / n),
        latency,
        ok,
      });
      if (!ok) break;
      best = n;
    }

    const directFps = directRuns.reduce((a, b) => a + b, 0) / directRuns.length;
    const relayedFps = relayedRuns.reduce((a, b) => a + b, 0) / relayedRuns.length;
    const addedSummary = summarizeMs(added);
    const keySummary = summarizeMs(keystroke);
    return {
      machine: { cpus: os.cpus().length, load: os.loadavg().map(round2), node: process.version },
      settings,
      goals,
      fps: {
        direct: round2(directFps),
        relayed: round2(relayedFps),
        ratio: round2(relayedFps / directFps),
        runs: { direct: directRuns.map(round2), relayed: relayedRuns.map(round2) },
        meets_goal: relayedFps / directFps >= goals.fpsRatio,
      },
      added_latency: {
        ...addedSummary,
        meets_goal:
          addedSummary.p50_ms <= goals.addedP50Ms && addedSummary.p99_ms <= goals.addedP99Ms,
      },
      keystroke: { ...keySummary, meets_goal: keySummary.p50_ms <= goals.keystrokeP50Ms },
      concurrency: {
        max_sessions_at_10fps: best,
        tried_up_to: settings.concurrencySteps.at(-1),
        steps,
      },
    };
  } finally {
    ScreencastSession.start = originalStart;
    CdpConnection.prototype.send = originalSend;
    for (const v of viewers) v.close();
    await agent.closeAll();
    await browser.close().catch(() => undefined);
    await relay.close();
    httpServer.closeAllConnections();
    await new Promise((resolve) => httpServer.close(resolve));
    site.server.close();
    await chromium.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runHandoffBench().then(
    (result) => process.stdout.write(`${JSON.stringify(result, null, 2)}\n`),
    (err) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
