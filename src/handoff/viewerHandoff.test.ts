import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { format } from 'node:util';
import createDebug from 'debug';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestBrowser } from '../../test/support/chromium.js';
import {
  startHandoffStage,
  waitForViewerReady,
  type HandoffStage,
} from '../../test/support/handoffStage.js';
import { createE2eeSession, type E2eeSession } from '../crypto/e2ee/e2eeSession.js';
import { generateFragmentSecret } from '../crypto/e2ee/fragmentSecret.js';
import { decodeHandoffPayload, encodeMessagePayload } from '../crypto/e2ee/handoffPayload.js';
import { buildE2eeForBrowser } from '../crypto/e2ee/testing/buildE2eeForBrowser.js';
import { createAgentChannel, type AgentChannel, type ViewerAction } from './agentChannel.js';
import {
  createRelayHub,
  handoffSubprotocol,
  relayCloseCodes,
  type RelayAgentLink,
} from './relayHub.js';
import { resolveCdpTarget } from './resolveCdpTarget.js';
import type { CdpChromium } from './testing/launchCdpChromium.js';
import { startRelayDouble, type RelayDirection, type RelayDouble } from './testing/relayDouble.js';
import { waitFor } from '../../test/support/waitFor.js';

let handoffStage: HandoffStage;
let siteOrigin: string;
let agentBrowser: CdpChromium;
let human: TestBrowser;
let e2eeDir: string;
let submissions: string[];
const logLines: string[] = [];
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  createDebug.enable('loopgate:*');
  createDebug.log = (...args: unknown[]) => logLines.push(format(...args));
  [handoffStage, e2eeDir] = await Promise.all([startHandoffStage(), buildE2eeForBrowser()]);
  ({ siteOrigin, agentBrowser, human, submissions } = handoffStage);
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

afterAll(async () => {
  createDebug.disable();
  await handoffStage?.close();
});

const resetLoginPage = () => handoffStage.resetLoginPage();
const agentViewport = (targetId: string) => handoffStage.agentViewport(targetId);
const otpValue = (targetId: string) => handoffStage.otpValue(targetId);

interface Handoff {
  relay: RelayDouble;
  channel: AgentChannel;
  actions: ViewerAction[];
  secret: string;
  sessionId: string;
  token: string;
}

async function startHandoff(
  tamper?: (direction: RelayDirection, bytes: Uint8Array) => Uint8Array[],
): Promise<Handoff> {
  const sessionId = `ho_${Math.random().toString(36).slice(2, 10)}`;
  const token = 'viewer-token-123';
  const secret = generateFragmentSecret();
  const relay = await startRelayDouble({
    sessionId,
    token,
    e2eeDir,
    ...(tamper ? { tamper } : {}),
  });
  const target = await resolveCdpTarget(agentBrowser.httpUrl, { url: `${siteOrigin}/login` });
  const actions: ViewerAction[] = [];
  let send: (data: Uint8Array) => void = () => undefined;
  const channel = createAgentChannel({
    sessionId,
    fragmentSecret: secret,
    target,
    send: (data) => send(data),
    onViewerAction: (a) => actions.push(a),
  });
  send = relay.attachAgent((data) => void channel.handleRelayMessage(data));
  cleanups.push(async () => {
    await channel.close();
    await relay.close();
  });
  return { relay, channel, actions, secret, sessionId, token };
}

describe('the viewer page in a real Chromium, through a relay, to the agent’s Chromium', () => {
  it.each([
    ['a phone', { width: 390, height: 844 }],
    ['a laptop', { width: 1280, height: 800 }],
  ])(
    'on %s: types the OTP with the keyboard, presses Enter, clicks Done',
    async (_name, viewport) => {
      const targetId = await resetLoginPage();
      const h = await startHandoff();
      const page = await human.browser.newPage({ viewport });
      cleanups.push(() => page.close());
      await page.goto(`${h.relay.origin}/handoff/${h.sessionId}?t=${h.token}#k=${h.secret}`);
      await waitForViewerReady(page);
      expect(h.channel.state).toEqual({ viewerConnected: true, keysConfirmed: true });

      // Click where the OTP field is drawn, mapping page CSS px to the canvas as the page does.
      const box = (await page.locator('#screen').boundingBox())!;
      const scale = Math.min(box.width / 1280, box.height / 800);
      const drawnX = (box.width - 1280 * scale) / 2;
      await page.mouse.click(box.x + drawnX + 150 * scale, box.y + 120 * scale);
      await page.keyboard.type('493-20.1');
      await waitFor(
        'the code in the agent’s page',
        async () => (await otpValue(targetId)) === '493-20.1',
      );
      await page.keyboard.press('Enter');
      await waitFor('the form submission', () => submissions.length > 0);
      expect(submissions).toEqual(['493-20.1']);

      await page.click('#done');
      await waitFor('Done to reach the agent', () => h.actions.length > 0);
      expect(h.actions).toEqual(['done']);
      // Done travelled only encrypted: the relay got no plaintext action to act on.
      expect(h.relay.viewerTexts).toEqual([]);
      expect(await page.textContent('#message')).toMatch(/Done/);

      // The relay saw only ciphertext, and no log line holds the code or the secret.
      const relayed = Buffer.concat(h.relay.forwarded.map((f) => Buffer.from(f.bytes)));
      expect(relayed.includes(Buffer.from('493-20.1'))).toBe(false);
      expect(relayed.includes(Buffer.from('insertText'))).toBe(false);
      expect(relayed.includes(Buffer.from('keyDown'))).toBe(false);
      const logs = logLines.join('\n');
      expect(logs).toMatch(/loopgate:cdp|keys confirmed/);
      expect(logs).not.toContain('493-20.1');
      expect(logs).not.toContain(h.secret);
    },
  );

  it('on a phone: the page may be pinch-zoomed, and "Fit to this screen" lays the agent’s page out at the phone’s size until Done', async () => {
    const targetId = await resetLoginPage();
    const original = await agentViewport(targetId);
    const h = await startHandoff();
    const page = await human.browser.newPage({ viewport: { width: 390, height: 844 } });
    cleanups.push(() => page.close());
    await page.goto(`${h.relay.origin}/handoff/${h.sessionId}?t=${h.token}#k=${h.secret}`);

    // Zoom is allowed: nothing in the viewport meta or the page's touch-action forbids it.
    const viewportMeta = await page.getAttribute('meta[name=viewport]', 'content');
    expect(viewportMeta).toContain('width=device-width');
    expect(viewportMeta).not.toMatch(/user-scalable\s*=\s*(no|0)|maximum-scale/);
    expect(
      await page.evaluate(() =>
        [document.documentElement, document.body, document.getElementById('screen')!].map(
          (el) => getComputedStyle(el).touchAction,
        ),
      ),
    ).toEqual(['auto', 'auto', 'pinch-zoom']);

    await waitForViewerReady(page);
    expect(original.width).toBeGreaterThan(390);
    const stage = await page.evaluate(() => {
      const el = document.getElementById('stage')!;
      return { width: el.clientWidth, height: el.clientHeight };
    });
    expect(stage.width).toBe(390);

    await page.click('#fit');
    // Chromium lays the page out after it answers the emulation command: the size is waited for.
    const sameSize = (a: { width: number; height: number }, b: typeof a) =>
      a.width === b.width && a.height === b.height;
    await waitFor('the agent’s page at the phone’s size', async () =>
      sameSize(await agentViewport(targetId), stage),
    );
    expect(await page.textContent('#fit')).toBe('Restore size');

    // "Restore size" gives the page its own size back; fitting again works.
    await page.click('#fit');
    await waitFor('the original size back', async () =>
      sameSize(await agentViewport(targetId), original),
    );
    expect(await page.textContent('#fit')).toBe('Fit to this screen');
    await page.click('#fit');
    await waitFor('the phone’s width again', async () => {
      return (await agentViewport(targetId)).width === 390;
    });

    // Done ends the handoff and the agent's page is as it was.
    await page.click('#done');
    await waitFor('Done to reach the agent', () => h.actions.length > 0);
    expect(h.actions).toEqual(['done']);
    await waitFor('the original size after Done', async () =>
      sameSize(await agentViewport(targetId), original),
    );
    // The size requests travelled only encrypted.
    expect(h.relay.viewerTexts).toEqual([]);
    const relayed = Buffer.concat(h.relay.forwarded.map((f) => Buffer.from(f.bytes)));
    expect(relayed.includes(Buffer.from('fitViewport'))).toBe(false);
  });

  it('gives the agent’s page its own size back when the handoff ends without Done (timeout, cancel or error close the agent side)', async () => {
    const targetId = await resetLoginPage();
    const original = await agentViewport(targetId);
    const h = await startHandoff();
    const page = await human.browser.newPage({ viewport: { width: 390, height: 844 } });
    cleanups.push(() => page.close());
    await page.goto(`${h.relay.origin}/handoff/${h.sessionId}?t=${h.token}#k=${h.secret}`);
    await waitFor('the first frame drawn', async () => (await page.textContent('#message')) === '');
    await page.click('#fit');
    await waitFor('the agent’s page at the phone’s width', async () => {
      return (await agentViewport(targetId)).width === 390;
    });

    await h.channel.close();
    // Chromium answers clearDeviceMetricsOverride before its renderer has laid the page out
    // again, so the page's own size is waited for (a restore never sent fails here too).
    await waitFor('the agent’s page at its own size again', async () => {
      const now = await agentViewport(targetId);
      return now.width === original.width && now.height === original.height;
    });
    expect(h.actions).toEqual([]);
  });

  it('lets the viewer reconnect with the same URL: fresh keys, the page shown again, input works', async () => {
    const targetId = await resetLoginPage();
    const h = await startHandoff();
    const page = await human.browser.newPage({ viewport: { width: 1280, height: 800 } });
    cleanups.push(() => page.close());
    const url = `${h.relay.origin}/handoff/${h.sessionId}?t=${h.token}#k=${h.secret}`;
    await page.goto(url);
    await waitFor(
      'keys confirmed',
      async () => (await page.textContent('#encryption')) === 'End-to-end encrypted',
    );
    const hellosBefore = h.relay.forwarded.filter((f) => f.bytes[1] === 1).length;
    await page.reload();
    await waitFor(
      'keys confirmed again',
      async () => (await page.textContent('#encryption')) === 'End-to-end encrypted',
    );
    // The static page sends no new screencast frame by itself: the last one is re-sent.
    await waitFor(
      'a frame drawn after reconnecting',
      async () => (await page.textContent('#message')) === '',
    );
    expect(h.relay.forwarded.filter((f) => f.bytes[1] === 1).length).toBe(hellosBefore + 2);
    await page.locator('#keyboard').focus();
    await page.keyboard.type('77');
    await waitFor(
      'the keys typed after reconnecting',
      async () => (await otpValue(targetId)) === '77',
    );
  });

  it('lets a second tab take over: the first stops and says why, the second gets the stream and sends input', async () => {
    const targetId = await resetLoginPage();
    const h = await startHandoff();
    const first = await human.browser.newPage();
    cleanups.push(() => first.close());
    await first.goto(`${h.relay.origin}/handoff/${h.sessionId}?t=${h.token}#k=${h.secret}`);
    await waitFor(
      'first viewer confirmed',
      async () => (await first.textContent('#encryption')) === 'End-to-end encrypted',
    );
    const second = await human.browser.newPage();
    cleanups.push(() => second.close());
    await second.goto(`${h.relay.origin}/handoff/${h.sessionId}?t=${h.token}#k=${h.secret}`);
    await waitFor('the first tab to stop', async () =>
      /another device or tab/.test((await first.textContent('#message')) ?? ''),
    );
    expect(await first.isDisabled('#done')).toBe(true);
    await waitFor(
      'second viewer confirmed',
      async () => (await second.textContent('#encryption')) === 'End-to-end encrypted',
    );
    await waitFor(
      'a frame in the second tab',
      async () => (await second.textContent('#message')) === '',
    );
    await second.locator('#keyboard').focus();
    await second.keyboard.type('55');
    await waitFor(
      'the keys typed in the second tab',
      async () => (await otpValue(targetId)) === '55',
    );
  }, 120_000);

  it('does not accept input or show anything when the link lost its #k secret', async () => {
    const h = await startHandoff();
    const page = await human.browser.newPage();
    cleanups.push(() => page.close());
    await page.goto(`${h.relay.origin}/handoff/${h.sessionId}?t=${h.token}`);
    expect(await page.textContent('#message')).toMatch(/incomplete/);
    expect(await page.textContent('#encryption')).toBe('No key in link');
    expect(h.channel.state.keysConfirmed).toBe(false);
  });
});

/**
 * A viewer in Node: handshake, then keys sent once a frame has arrived. `handshake: 'fails'`
 * (keys swapped in transit) gives the handshake a few seconds and goes on without it; otherwise
 * it waits for the keys to be confirmed, however busy the machine.
 */
async function nodeViewer(
  h: Handoff,
  options: { handshake?: 'confirms' | 'fails' } = {},
): Promise<{ session: E2eeSession; typeKeys: (text: string) => Promise<void> }> {
  const ws = new WebSocket(
    `${h.relay.origin.replace('http', 'ws')}/v1/handoff/${h.sessionId}/viewer?t=${h.token}`,
  );
  ws.binaryType = 'nodebuffer';
  let session: E2eeSession | null = null;
  let frames = 0;
  // One message at a time, in order, as the viewer page does: an agent hello that arrives while
  // this viewer's keys are still being generated waits for them instead of being dropped.
  let chain: Promise<unknown> = Promise.resolve();
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    chain = chain.then(async () => {
      if (!isBinary) {
        const msg = JSON.parse(data.toString()) as { type: string; state?: string };
        if (msg.type === 'peer' && msg.state === 'connected') {
          session = await createE2eeSession({
            role: 'viewer',
            sessionId: h.sessionId,
            fragmentSecret: h.secret,
          });
          ws.send(await session.hello());
        }
        return;
      }
      const s = session;
      if (!s) return;
      const r = await s.receive(new Uint8Array(data));
      if (r.kind === 'hello') ws.send(r.reply);
      if (r.kind === 'data' && decodeHandoffPayload(r.plaintext)?.kind === 'frame') frames++;
    });
  });
  cleanups.push(async () => ws.close());
  if (options.handshake === 'fails') {
    await waitFor('the viewer handshake', () => session?.isConfirmed === true, 4_000).catch(
      () => undefined,
    );
  } else {
    await waitFor('the viewer handshake', () => session?.isConfirmed === true);
  }
  return {
    get session() {
      return session!;
    },
    async typeKeys(text: string) {
      if (!session?.isConfirmed) return; // the viewer never got keys: nothing to send
      await waitFor('a frame', () => frames > 0);
      for (const key of text)
        ws.send(await session.seal(encodeMessagePayload({ type: 'keyPress', key })));
      await new Promise((r) => setTimeout(r, 800));
    },
  };
}

describe('a hostile relay', () => {
  const typed = '9134';
  const isData = (b: Uint8Array) => b[1] === 3;

  it('that swaps both public keys for its own gets no keystroke through', async () => {
    const targetId = await resetLoginPage();
    const mitmAgent = await createE2eeSession({
      role: 'agent',
      sessionId: 'x',
      fragmentSecret: generateFragmentSecret(),
    });
    const mitmViewer = await createE2eeSession({
      role: 'viewer',
      sessionId: 'x',
      fragmentSecret: generateFragmentSecret(),
    });
    const [agentHello, viewerHello] = [await mitmAgent.hello(), await mitmViewer.hello()];
    const h = await startHandoff((direction, bytes) =>
      bytes[1] === 1 ? [direction === 'toAgent' ? viewerHello : agentHello] : [bytes],
    );
    const viewer = await nodeViewer(h, { handshake: 'fails' });
    expect(viewer.session.isConfirmed).toBe(false);
    expect(h.channel.state.keysConfirmed).toBe(false);
    await viewer.typeKeys(typed);
    expect(await otpValue(targetId)).toBe('');
  });

  it('that flips a bit in every input message gets no keystroke through', async () => {
    const targetId = await resetLoginPage();
    const h = await startHandoff((direction, bytes) => {
      if (direction !== 'toAgent' || !isData(bytes)) return [bytes];
      const flipped = Uint8Array.from(bytes);
      flipped[flipped.length - 20]! ^= 0x01;
      return [flipped];
    });
    const viewer = await nodeViewer(h);
    expect(viewer.session.isConfirmed).toBe(true);
    await viewer.typeKeys(typed);
    expect(await otpValue(targetId)).toBe('');
  });

  it('that replays every input message types each key once', async () => {
    const targetId = await resetLoginPage();
    const h = await startHandoff((direction, bytes) =>
      direction === 'toAgent' && isData(bytes) ? [bytes, bytes, bytes] : [bytes],
    );
    const viewer = await nodeViewer(h);
    await viewer.typeKeys(typed);
    expect(await otpValue(targetId)).toBe(typed);
  });

  it('that reorders input messages never gets a key typed out of order', async () => {
    const targetId = await resetLoginPage();
    let held: Uint8Array | null = null;
    let dataCount = 0;
    const h = await startHandoff((direction, bytes) => {
      if (direction !== 'toAgent' || !isData(bytes)) return [bytes];
      dataCount++;
      // Let the frame acks through, then hold keystroke 2 and release it after keystroke 3.
      if (held) {
        const out = [bytes, held];
        held = null;
        return out;
      }
      if (dataCount > 1 && dataCount % 3 === 0) {
        held = bytes;
        return [];
      }
      return [bytes];
    });
    const viewer = await nodeViewer(h);
    expect(viewer.session.isConfirmed).toBe(true);
    await viewer.typeKeys(typed);
    const value = await otpValue(targetId);
    expect(typed.startsWith(value)).toBe(true);
    expect(value.length).toBeLessThan(typed.length);
  });
});

/**
 * A viewer in Node on the real relay: one E2EE session per `peer connected`, messages handled
 * in arrival order (an agent hello that beats our own key generation waits for it).
 */
function relayViewer(url: string, sessionId: string, secret: string) {
  const ws = new WebSocket(url, [handoffSubprotocol]);
  ws.binaryType = 'nodebuffer';
  let ready: Promise<E2eeSession> | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  const frames: number[] = [];
  const texts: string[] = [];
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
  ws.on('error', () => undefined);
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    chain = chain.then(async () => {
      if (!isBinary) {
        texts.push(data.toString());
        const msg = JSON.parse(data.toString()) as { type: string; state?: string };
        if (msg.type === 'peer' && msg.state === 'connected') {
          ready = createE2eeSession({ role: 'viewer', sessionId, fragmentSecret: secret });
          ws.send(await (await ready).hello());
        } else if (msg.type === 'peer') ready = null;
        return;
      }
      const current = ready;
      if (!current) return;
      const session = await current;
      const r = await session.receive(new Uint8Array(data));
      if (r.kind === 'hello') ws.send(r.reply);
      if (r.kind !== 'data') return;
      const payload = decodeHandoffPayload(r.plaintext);
      if (payload?.kind !== 'frame') return;
      frames.push(payload.meta.frame);
      ws.send(
        await session.seal(encodeMessagePayload({ type: 'frameAck', frame: payload.meta.frame })),
      );
    });
  });
  const confirmed = async () => (ready ? (await ready).isConfirmed : false);
  return {
    ws,
    frames,
    texts,
    closed,
    confirmed,
    async send(value: unknown) {
      const session = await ready!;
      ws.send(await session.seal(encodeMessagePayload(value)));
    },
  };
}

describe('the real relay, a viewer that comes back', () => {
  async function startRelayHandoff() {
    const server: Server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const hub = createRelayHub({ publicUrl: origin });
    server.on('upgrade', (req, socket, head: Buffer) => {
      if (!hub.handleUpgrade(req, socket, head)) socket.destroy();
    });
    const created = hub.createSession('agent', { service: 'login' });
    const secret = generateFragmentSecret();
    const target = await resolveCdpTarget(agentBrowser.httpUrl, { url: `${siteOrigin}/login` });
    const actions: ViewerAction[] = [];
    let link: RelayAgentLink | null = null;
    const channel = createAgentChannel({
      sessionId: created.session_id,
      fragmentSecret: secret,
      target,
      send: (data) => link?.send(data),
      onViewerAction: (a) => {
        actions.push(a);
        hub.end(created.session_id, 'agent', a === 'done' ? 'resolved' : 'cancelled');
      },
    });
    link = hub.attachAgent(
      created.session_id,
      'agent',
      (data) => void channel.handleRelayMessage(data),
    );
    cleanups.push(async () => {
      await channel.close();
      await hub.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const token = new URL(created.viewer_url).searchParams.get('t')!;
    const url = `${origin.replace('http', 'ws')}/v1/handoff/${created.session_id}/viewer?t=${token}`;
    return { hub, created, secret, channel, actions, url, token };
  }

  it.each([
    ['after the first viewer left', 'leave'],
    ['while the first viewer’s socket still looks open (a phone that slept)', 'stale'],
  ])(
    '%s: the new viewer gets fresh keys, frames, and its input is dispatched',
    async (_name, how) => {
      const targetId = await resetLoginPage();
      const r = await startRelayHandoff();
      const first = relayViewer(r.url, r.created.session_id, r.secret);
      await waitFor('the first viewer’s keys', first.confirmed);
      await waitFor('a frame for the first viewer', () => first.frames.length > 0);
      if (how === 'leave') {
        first.ws.close();
        await first.closed;
        await waitFor('the agent to see the viewer leave', () => !r.channel.state.viewerConnected);
      } // else the first socket stays open: the relay cannot tell a phone that slept from one that did not
      const second = relayViewer(r.url, r.created.session_id, r.secret);
      await waitFor('the second viewer’s keys', second.confirmed);
      await waitFor('a frame for the second viewer', () => second.frames.length > 0);
      expect(r.channel.state).toEqual({ viewerConnected: true, keysConfirmed: true });
      if (how === 'stale') expect(await first.closed).toBe(relayCloseCodes.viewerTaken);
      for (const key of '314') await second.send({ type: 'keyPress', key });
      await waitFor(
        'the keys in the agent’s page',
        async () => (await otpValue(targetId)) === '314',
      );
      expect(r.hub.getSession(r.created.session_id, 'agent').status).toBe('active');

      // Done, encrypted, ends the session through the agent side.
      await second.send({ type: 'done' });
      expect(await second.closed).toBe(relayCloseCodes.ended);
      expect(r.actions).toEqual(['done']);
      expect(r.hub.getSession(r.created.session_id, 'agent').status).toBe('resolved');
    },
  );

  it('refuses a plaintext Done from a client holding only the ?t= token; the genuine encrypted Done still resolves', async () => {
    await resetLoginPage();
    const r = await startRelayHandoff();
    const attacker = new WebSocket(r.url, [handoffSubprotocol]);
    attacker.on('error', () => undefined);
    const attackerClosed = new Promise<number>((resolve) =>
      attacker.on('close', (code: number) => resolve(code)),
    );
    await new Promise((resolve) => attacker.once('open', resolve));
    attacker.send(JSON.stringify({ type: 'viewer-action', action: 'done' }));
    expect(await attackerClosed).toBe(relayCloseCodes.malformed);
    expect(r.hub.getSession(r.created.session_id, 'agent').status).toBe('active');
    expect(r.actions).toEqual([]);

    const human = relayViewer(r.url, r.created.session_id, r.secret);
    await waitFor('the human’s keys', human.confirmed);
    await human.send({ type: 'done' });
    expect(await human.closed).toBe(relayCloseCodes.ended);
    expect(r.actions).toEqual(['done']);
    expect(human.texts).toContain(JSON.stringify({ type: 'status', status: 'resolved' }));
  });
});
