import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopgateError } from '../core/errors.js';
import { CdpConnection } from './cdpConnection.js';
import { resolveCdpTarget } from './resolveCdpTarget.js';
import {
  ScreencastSession,
  type ScreencastFrame,
  type ScreencastTargetInfo,
} from './screencastSession.js';
import { launchCdpChromium, type CdpChromium } from './testing/launchCdpChromium.js';
import { startFakeDevTools } from './testing/fakeDevTools.js';
import { waitFor } from '../../test/support/waitFor.js';

const pages: Record<string, string> = {
  '/login': `<!doctype html><html><body style="margin:0;font:16px sans-serif">
<form method="POST" action="/submit" style="position:absolute;left:100px;top:100px;margin:0">
<input id="otp" name="otp" autocomplete="off" style="box-sizing:border-box;width:200px;height:40px"></form>
<div id="clicks" style="position:absolute;left:0;top:300px">0</div>
<script>
window.keyLog = [];
document.addEventListener('keydown', (e) => keyLog.push([e.key, e.code, e.keyCode]));
document.addEventListener('click', () => { clicks.textContent = String(Number(clicks.textContent) + 1); });
</script></body></html>`,
  '/anim': `<!doctype html><body style="margin:0"><div id="box" style="width:100vw;height:100vh"></div>
<script>let n = 0; (function step() { box.style.background = 'hsl(' + (n++ % 360) + ',80%,50%)'; requestAnimationFrame(step); })();</script></body>`,
  '/opener': `<!doctype html><body style="margin:0;background:#fff">
<button id="open" style="position:absolute;left:0;top:0;width:200px;height:100px"
 onclick="window.open('/popup', 'oauth', 'width=500,height=400')">Sign in with…</button></body>`,
  '/popup': `<!doctype html><body style="margin:0;background:#fd0">
<button id="close" style="position:absolute;left:0;top:0;width:200px;height:100px" onclick="window.close()">Allow</button></body>`,
};

let server: Server;
let origin: string;
let chromium: CdpChromium;
const submissions: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/submit') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        submissions.push(new URLSearchParams(body).get('otp') ?? '');
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><p>signed in</p>');
      });
      return;
    }
    const page = pages[req.url ?? ''];
    if (page) res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  chromium = await launchCdpChromium(`${origin}/login`);
});

afterAll(async () => {
  await chromium?.close();
  if (server) await new Promise((resolve) => server.close(resolve));
});

/** A test-side DevTools client (free to evaluate script, unlike viewer input). */
async function withPage<T>(
  targetId: string,
  fn: (evaluate: (expression: string) => Promise<unknown>) => Promise<T>,
): Promise<T> {
  const conn = await CdpConnection.connect(chromium.browserWsUrl);
  try {
    const { sessionId } = (await conn.send('Target.attachToTarget', {
      targetId,
      flatten: true,
    })) as { sessionId: string };
    return await fn(async (expression) => {
      const r = (await conn.send(
        'Runtime.evaluate',
        { expression, returnByValue: true, awaitPromise: true },
        sessionId,
      )) as {
        result: { value?: unknown };
      };
      return r.result.value;
    });
  } finally {
    await conn.close();
  }
}

async function openPage(path: string): Promise<string> {
  const conn = await CdpConnection.connect(chromium.browserWsUrl);
  try {
    const { targetId } = (await conn.send('Target.createTarget', { url: `${origin}${path}` })) as {
      targetId: string;
    };
    await new Promise((r) => setTimeout(r, 300));
    return targetId;
  } finally {
    await conn.close();
  }
}

async function closePage(targetId: string): Promise<void> {
  const conn = await CdpConnection.connect(chromium.browserWsUrl);
  await conn.send('Target.closeTarget', { targetId }).catch(() => undefined);
  await conn.close();
}

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => (isLoopgateError(err) ? err.code : `not a LoopgateError: ${String(err)}`),
  );
}

describe('resolveCdpTarget', () => {
  it('resolves the three cdp_url forms to the same page, preferring context.url', async () => {
    const fromHttp = await resolveCdpTarget(chromium.httpUrl, { url: `${origin}/login` });
    expect(fromHttp.url).toBe(`${origin}/login`);
    expect(fromHttp.browserWsUrl).toBe(chromium.browserWsUrl);
    const fromBrowser = await resolveCdpTarget(chromium.browserWsUrl, {
      url: `${origin}/login#step2`,
    });
    expect(fromBrowser.targetId).toBe(fromHttp.targetId);
    const fromPage = await resolveCdpTarget(fromHttp.pageWsUrl!);
    expect(fromPage).toMatchObject({
      targetId: fromHttp.targetId,
      browserWsUrl: chromium.browserWsUrl,
      url: `${origin}/login`,
    });
  });

  it('picks the most recently active page when context.url matches none', async () => {
    const newer = await openPage('/anim');
    try {
      expect((await resolveCdpTarget(chromium.httpUrl)).targetId).toBe(newer);
      expect(
        (await resolveCdpTarget(chromium.httpUrl, { url: 'https://bank.example/otp' })).targetId,
      ).toBe(newer);
      expect((await resolveCdpTarget(chromium.httpUrl, { url: `${origin}/login?x=1` })).url).toBe(
        `${origin}/login`,
      );
    } finally {
      await closePage(newer);
    }
  });

  it('refuses malformed and unreachable endpoints with the code that says which', async () => {
    expect(await errorCode(resolveCdpTarget('not a url'))).toBe('E_CDP_URL_INVALID');
    expect(await errorCode(resolveCdpTarget('ftp://127.0.0.1:9222'))).toBe('E_CDP_URL_INVALID');
    expect(await errorCode(resolveCdpTarget(`${chromium.httpUrl}/json/list`))).toBe(
      'E_CDP_URL_INVALID',
    );
    expect(
      await errorCode(resolveCdpTarget(`ws://${new URL(chromium.httpUrl).host}/devtools/other/1`)),
    ).toBe('E_CDP_URL_INVALID');
    expect(await errorCode(resolveCdpTarget('http://127.0.0.1:1'))).toBe('E_CDP_UNREACHABLE');
    expect(await errorCode(resolveCdpTarget(origin))).toBe('E_CDP_UNREACHABLE'); // answers, but not DevTools
  });

  it('says so when the browser has no page open', async () => {
    const empty = createServer((req, res) => {
      const body =
        req.url === '/json/version'
          ? { webSocketDebuggerUrl: 'ws://127.0.0.1:1/devtools/browser/x' }
          : [];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => empty.listen(0, '127.0.0.1', resolve));
    try {
      expect(
        await errorCode(
          resolveCdpTarget(`http://127.0.0.1:${(empty.address() as AddressInfo).port}`),
        ),
      ).toBe('E_CDP_NO_PAGE');
    } finally {
      await new Promise((resolve) => empty.close(resolve));
    }
  });
});

describe('ScreencastSession on a real Chromium', () => {
  it('streams JPEG frames and types "a1.-Z" plus Enter into the page exactly', async () => {
    const target = await resolveCdpTarget(chromium.httpUrl, { url: `${origin}/login` });
    const frames: ScreencastFrame[] = [];
    const session = await ScreencastSession.start({ target, onFrame: (f) => frames.push(f) });
    try {
      await waitFor('a first frame', () => frames.length > 0);
      const first = frames[0]!;
      expect([...first.image.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]); // JPEG SOI marker
      expect(first.meta.deviceWidth).toBeGreaterThan(300);
      expect(session.viewport).toEqual({
        width: first.meta.deviceWidth,
        height: first.meta.deviceHeight,
      });

      await session.dispatchInput({ type: 'click', x: 150, y: 120 });
      for (const [key, code] of [
        ['a', 'KeyA'],
        ['1', undefined],
        ['.', 'Period'],
        ['-', undefined],
      ] as const) {
        await session.dispatchInput(
          code ? { type: 'keyDown', key, code } : { type: 'keyDown', key },
        );
        await session.dispatchInput({ type: 'keyUp', key });
      }
      await session.dispatchInput({
        type: 'keyDown',
        key: 'Shift',
        code: 'ShiftLeft',
        modifiers: { shift: true },
      });
      await session.dispatchInput({
        type: 'keyDown',
        key: 'Z',
        code: 'KeyZ',
        modifiers: { shift: true },
      });
      await session.dispatchInput({
        type: 'keyUp',
        key: 'Z',
        code: 'KeyZ',
        modifiers: { shift: true },
      });
      await session.dispatchInput({ type: 'keyUp', key: 'Shift', code: 'ShiftLeft' });

      const seen = await withPage(target.targetId, async (evaluate) => ({
        value: await evaluate('document.getElementById("otp").value'),
        focused: await evaluate('document.activeElement && document.activeElement.id'),
        keyCodes: await evaluate('keyLog.map((k) => k[2])'),
        codes: await evaluate('keyLog.map((k) => k[1])'),
      }));
      expect(seen).toEqual({
        value: 'a1.-Z',
        focused: 'otp',
        keyCodes: [65, 49, 190, 189, 16, 90],
        codes: ['KeyA', 'Digit1', 'Period', 'Minus', 'ShiftLeft', 'KeyZ'],
      });

      await session.dispatchInput({ type: 'keyPress', key: 'Enter', code: 'Enter' });
      await waitFor('the form submission', () => submissions.length > 0);
      expect(submissions).toEqual(['a1.-Z']);

      await waitFor(
        'the result page',
        async () => (await withPage(target.targetId, (e) => e('location.pathname'))) === '/submit',
      );
      await session.dispatchInput({ type: 'navigate', action: 'back' });
      await waitFor(
        'history back to /login',
        async () => (await withPage(target.targetId, (e) => e('location.pathname'))) === '/login',
      );
    } finally {
      await session.stop();
    }
    expect(await session.ended).toMatchObject({ reason: 'stopped' });
  });

  it('refuses out-of-viewport and unknown input, and nothing reaches the page', async () => {
    const target = await resolveCdpTarget(chromium.httpUrl, { url: `${origin}/login` });
    const session = await ScreencastSession.start({ target, onFrame: () => undefined });
    try {
      await waitFor('a first frame', () => session.viewport !== null);
      const { width } = session.viewport!;
      const clicks = async () =>
        Number(
          await withPage(target.targetId, (e) =>
            e('document.getElementById("clicks").textContent'),
          ),
        );
      const before = await clicks();
      expect(await errorCode(session.dispatchInput({ type: 'click', x: width + 10, y: 10 }))).toBe(
        'E_HANDOFF_INPUT_OUT_OF_VIEWPORT',
      );
      expect(
        await errorCode(
          session.dispatchInput({ type: 'evaluate', expression: 'document.body.remove()' }),
        ),
      ).toBe('E_HANDOFF_INPUT_INVALID');
      expect(
        await errorCode(session.dispatchInput({ type: 'click', x: 10, y: 10, extra: 1 })),
      ).toBe('E_HANDOFF_INPUT_INVALID');
      expect(await clicks()).toBe(before);
      // A refused event does not block the queue: the next one is performed.
      await session.dispatchInput({ type: 'click', x: 10, y: 400 });
      expect(await clicks()).toBe(before + 1);
    } finally {
      await session.stop();
    }
  });

  it('acks frames only while the viewer keeps up: frames stop when not acked and resume when acked', async () => {
    const targetId = await openPage('/anim');
    const target = await resolveCdpTarget(chromium.httpUrl, { url: `${origin}/anim` });
    expect(target.targetId).toBe(targetId);
    let autoAck = false;
    let viewerAcked = 0;
    let worstLag = 0;
    const frames: number[] = [];
    // onFrame reads `session` only once autoAck is on, after start() has resolved.
    const session: ScreencastSession = await ScreencastSession.start({
      target,
      maxFramesAhead: 1,
      quality: 30,
      onFrame: (f) => {
        frames.push(f.meta.frame);
        worstLag = Math.max(worstLag, f.meta.frame - viewerAcked);
        if (autoAck)
          setTimeout(() => {
            viewerAcked = Math.max(viewerAcked, f.meta.frame);
            session.viewerAcked(f.meta.frame);
          }, 5);
      },
    });
    try {
      // No viewer ack: the session holds Chromium's ack back, so Chromium stops sending.
      await waitFor('the session to hold back an ack', () => session.heldFrameAcks > 0, 30_000);
      const stalled = frames.length;
      // One frame beyond maxFramesAhead, plus what Chromium already had in flight (two).
      expect(stalled).toBeLessThanOrEqual(4);

      autoAck = true;
      viewerAcked = frames.at(-1)!;
      session.viewerAcked(viewerAcked);
      await waitFor('frames to resume', () => frames.length >= stalled + 6, 30_000);
      expect(frames).toEqual(frames.map((_, i) => i + 1));
      // Never more than maxFramesAhead + Chromium's two in flight ahead of the viewer.
      expect(worstLag).toBeLessThanOrEqual(4);
    } finally {
      await session.stop();
      await closePage(targetId);
    }
  }, 90_000);

  it('follows a popup the page opens, and returns to the opener when it closes', async () => {
    const openerId = await openPage('/opener');
    const target = await resolveCdpTarget(chromium.httpUrl, { url: `${origin}/opener` });
    const changes: ScreencastTargetInfo[] = [];
    const frames: ScreencastFrame[] = [];
    // What the viewer had seen of the popup when it was announced: input typed from then on
    // must reach the popup, never be refused for want of a frame.
    const seenAtAnnounce: boolean[] = [];
    const session: ScreencastSession = await ScreencastSession.start({
      target,
      onFrame: (f) => frames.push(f),
      onTargetChanged: (c) => {
        changes.push(c);
        seenAtAnnounce.push(frames.some((f) => f.targetId === c.targetId));
      },
    });
    try {
      await waitFor('a first frame', () => frames.length > 0);
      await session.dispatchInput({ type: 'click', x: 50, y: 50 });
      await waitFor('the popup to be streamed', () => changes.length > 0);
      expect(changes[0]).toMatchObject({ popup: true });
      const popupId = changes[0]!.targetId;
      expect(popupId).not.toBe(openerId);
      expect(session.targetId).toBe(popupId);
      expect(seenAtAnnounce[0]).toBe(true);
      await session.dispatchInput({ type: 'insertText', text: '7' });

      await session.dispatchInput({ type: 'click', x: 50, y: 50 }); // "Allow" closes the popup
      await waitFor('the opener again', () => changes.some((c) => !c.popup));
      expect(changes.find((c) => !c.popup)).toMatchObject({ targetId: openerId, popup: false });
      const before = frames.length;
      await withPage(openerId, (e) => e('document.body.style.background = "#0a0"'));
      await waitFor('an opener frame after the popup closed', () =>
        frames.slice(before).some((f) => f.targetId === openerId),
      );
      expect(session.isEnded).toBe(false);
    } finally {
      await session.stop();
      await closePage(openerId);
    }
  });

  it('reports the handed-off page being closed', async () => {
    const targetId = await openPage('/anim');
    const target = await resolveCdpTarget(chromium.httpUrl, { url: `${origin}/anim` });
    const session = await ScreencastSession.start({ target, onFrame: () => undefined });
    await closePage(targetId);
    expect(await session.ended).toMatchObject({ reason: 'target-closed' });
    expect(await errorCode(session.dispatchInput({ type: 'click', x: 1, y: 1 }))).toMatch(
      /E_CDP_DISCONNECTED|E_HANDOFF_NO_VIEWPORT/,
    );
  });

  it('reports the browser going away', async () => {
    const other = await launchCdpChromium(`${origin}/anim`);
    try {
      const target = await resolveCdpTarget(other.browserWsUrl);
      const ends: string[] = [];
      const session = await ScreencastSession.start({
        target,
        onFrame: () => undefined,
        onEnd: (e) => ends.push(e.reason),
      });
      other.process.kill('SIGKILL');
      expect(await session.ended).toMatchObject({ reason: 'browser-disconnected' });
      expect(ends).toEqual(['browser-disconnected']);
    } finally {
      await other.close();
    }
  });
});

describe('ScreencastSession on a fake DevTools endpoint', () => {
  /** A session on page T1 of an endpoint that answers every command and never sends a frame. */
  async function startOnQuietEndpoint() {
    const devtools = await startFakeDevTools((c) =>
      c.method === 'Target.attachToTarget' ? { sessionId: 'S1' } : {},
    );
    const session = await ScreencastSession.start({
      target: {
        browserWsUrl: devtools.browserWsUrl,
        pageWsUrl: null,
        targetId: 'T1',
        url: '',
        title: '',
      },
      onFrame: () => undefined,
    });
    return { devtools, session };
  }

  it('refuses input until a frame gave the viewport, and sends no Input command', async () => {
    const { devtools, session } = await startOnQuietEndpoint();
    try {
      expect(await errorCode(session.dispatchInput({ type: 'insertText', text: '123456' }))).toBe(
        'E_HANDOFF_NO_VIEWPORT',
      );
      expect(devtools.commands.map((c) => c.method)).toEqual([
        'Target.setDiscoverTargets',
        'Target.attachToTarget',
        'Page.enable',
        'Page.startScreencast',
      ]);
    } finally {
      await session.stop();
      await devtools.close();
    }
  });

  it('restores a fitted page when the handoff ends, and fits nothing asked for while it ends', async () => {
    const { devtools, session } = await startOnQuietEndpoint();
    try {
      await session.fitViewport(390, 765);
      // The viewer's second fit arrives just as the handoff ends.
      const stopping = session.stop();
      await session.fitViewport(390, 765);
      await stopping;
      const emulation = devtools.commands
        .map((c) => c.method)
        .filter((m) => m.startsWith('Emulation.'));
      expect(emulation).toEqual([
        'Emulation.setDeviceMetricsOverride',
        'Emulation.clearDeviceMetricsOverride',
      ]);
    } finally {
      await session.stop();
      await devtools.close();
    }
  });

  it('takes a click whose popup closes before Chromium answers it as done, and types into the opener next', async () => {
    // Chromium may never answer the input that closed its page; only the detach tells.
    const devtools = await startFakeDevTools((c) => {
      if (c.method === 'Target.attachToTarget')
        return { sessionId: c.params['targetId'] === 'POPUP' ? 'S-popup' : 'S-opener' };
      if (c.method === 'Runtime.evaluate') return { result: { value: 'complete' } };
      if (c.sessionId === 'S-popup' && c.params['type'] === 'mouseReleased') return 'never';
      return {};
    });
    const frame = (sessionId: string, n: number): void =>
      devtools.emit(
        'Page.screencastFrame',
        { data: 'AA==', sessionId: n, metadata: { deviceWidth: 800, deviceHeight: 600 } },
        sessionId,
      );
    const changes: ScreencastTargetInfo[] = [];
    const session = await ScreencastSession.start({
      target: {
        browserWsUrl: devtools.browserWsUrl,
        pageWsUrl: null,
        targetId: 'OPENER',
        url: 'https://bank.example/',
        title: '',
      },
      onFrame: () => undefined,
      onTargetChanged: (c) => changes.push(c),
    });
    try {
      frame('S-opener', 1);
      await waitFor('the opener viewport', () => session.viewport !== null);
      devtools.emit('Target.targetCreated', {
        targetInfo: {
          type: 'page',
          targetId: 'POPUP',
          openerId: 'OPENER',
          url: 'https://idp.example/',
        },
      });
      await waitFor('the popup screencast', () =>
        devtools.commands.some((c) => c.sessionId === 'S-popup' && c.method === 'Runtime.evaluate'),
      );
      frame('S-popup', 2);
      await waitFor('the popup announced', () => changes.some((c) => c.popup));

      let settled: string | undefined;
      session.dispatchInput({ type: 'click', x: 50, y: 50 }).then(
        () => (settled = 'done'),
        (err: unknown) => (settled = String(err)),
      );
      await waitFor('the unanswered mouseReleased', () =>
        devtools.commands.some((c) => c.params['type'] === 'mouseReleased'),
      );
      devtools.emit('Target.detachedFromTarget', { sessionId: 'S-popup', targetId: 'POPUP' });
      await waitFor('the click to settle', () => settled !== undefined);
      expect(settled).toBe('done');
      await waitFor('the opener again', () => changes.some((c) => !c.popup));
      expect(session.targetId).toBe('OPENER');

      frame('S-opener', 3);
      await waitFor('an opener frame', () => session.viewport !== null);
      await session.dispatchInput({ type: 'insertText', text: '7' });
      expect(devtools.commands.at(-1)).toMatchObject({
        method: 'Input.insertText',
        sessionId: 'S-opener',
      });
    } finally {
      await session.stop();
      await devtools.close();
    }
  });
});
