import { randomBytes } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as NodeWebSocket } from 'ws';
import { launchTestBrowser, type TestBrowser } from '../../../test/support/chromium.js';
import { createE2eeSession } from './e2eeSession.js';
import type * as E2eeIndex from './index.js';
import { generateFragmentSecret } from './fragmentSecret.js';
import { decodeHandoffPayload, encodeFramePayload } from './handoffPayload.js';
import { buildE2eeForBrowser } from './testing/buildE2eeForBrowser.js';

/** What the compiled /assets/e2ee/index.js exports (the page puts it on globalThis.e2ee). */
type E2eeModule = typeof E2eeIndex;

let assetsDir: string;
let server: Server;
let origin: string;
let browser: TestBrowser;
let onRelayConnection: (ws: NodeWebSocket) => void = () => undefined;

beforeAll(async () => {
  assetsDir = await buildE2eeForBrowser();
  server = createServer((req, res) => {
    const name = /^\/assets\/e2ee\/([a-zA-Z0-9]+\.js)$/.exec(req.url ?? '')?.[1];
    if (name) {
      readFile(join(assetsDir, name)).then(
        (body) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(body),
        () => res.writeHead(404).end(),
      );
      return;
    }
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end(
        '<!doctype html><title>viewer</title><script type="module">' +
          "import * as e2ee from '/assets/e2ee/index.js'; globalThis.e2ee = e2ee;</script>",
      );
  });
  const wss = new WebSocketServer({ server, path: '/relay' });
  wss.on('connection', (ws) => onRelayConnection(ws));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchTestBrowser();
});

afterAll(async () => {
  await browser?.close();
  if (server) await new Promise((resolve) => server.close(resolve));
  if (assetsDir) await rm(dirname(dirname(assetsDir)), { recursive: true, force: true });
});

describe('E2EE module in the browser', () => {
  it('compiles to ES modules that import only siblings, so /assets/e2ee/ can serve them as they are', async () => {
    const files = (await readdir(assetsDir)).filter((f) => f.endsWith('.js'));
    expect(files).toEqual(
      expect.arrayContaining(['index.js', 'e2eeSession.js', 'base64url.js', 'handoffPayload.js']),
    );
    for (const f of files) {
      const source = await readFile(join(assetsDir, f), 'utf8');
      const specifiers = [
        ...source.matchAll(/\b(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/g),
      ].map((m) => m[1]);
      for (const s of specifiers) expect(s, `${f} imports ${s}`).toMatch(/^\.\/[a-zA-Z0-9]+\.js$/);
      expect(source, f).not.toMatch(/\brequire\(|node:/);
    }
  });

  it('completes a handshake with the Node side over a WebSocket and carries a frame and an input event', async () => {
    const sessionId = 'ho_browser';
    const secret = generateFragmentSecret();
    const image = randomBytes(150_000);
    const received: unknown[] = [];
    // Made before the viewer connects: a message listener added after an await would miss the
    // viewer's hello.
    const agent = await createE2eeSession({ role: 'agent', sessionId, fragmentSecret: secret });
    const agentDone = new Promise<void>((resolve, reject) => {
      onRelayConnection = (ws) => {
        void (async () => {
          ws.on('message', (data: Buffer) => {
            void agent.receive(data).then(async (r) => {
              if (r.kind === 'hello') ws.send(r.reply);
              else if (r.kind === 'confirmed') {
                const meta = {
                  frame: 1,
                  format: 'jpeg' as const,
                  deviceWidth: 1280,
                  deviceHeight: 800,
                  pageScaleFactor: 1,
                  offsetTop: 0,
                  scrollOffsetX: 0,
                  scrollOffsetY: 0,
                };
                ws.send(await agent.seal(encodeFramePayload(meta, image)));
              } else if (r.kind === 'data') {
                const p = decodeHandoffPayload(r.plaintext);
                received.push(p?.kind === 'message' ? p.value : p);
                resolve();
              } else reject(new Error(r.reason));
            }, reject);
          });
          ws.send(await agent.hello());
        })().catch(reject);
      };
    });

    const page = await browser.browser.newPage();
    await page.goto(`${origin}/viewer#k=${secret}`);
    await page.waitForFunction(() => 'e2ee' in globalThis);
    const seen = await page.evaluate(async (sid) => {
      const m = (globalThis as unknown as { e2ee: E2eeModule }).e2ee;
      const k = m.readFragmentSecret(location.hash);
      if (!k) throw new Error('no k');
      const viewer = await m.createE2eeSession({
        role: 'viewer',
        sessionId: sid,
        fragmentSecret: k,
      });
      const ws = new WebSocket(`ws://${location.host}/relay`);
      ws.binaryType = 'arraybuffer';
      return await new Promise<{
        frameBytes: number;
        width: number;
        first: number[];
        confirmed: boolean;
      }>((resolve, reject) => {
        ws.onmessage = (ev: MessageEvent<ArrayBuffer>) => {
          void viewer.receive(new Uint8Array(ev.data)).then(async (r) => {
            if (r.kind === 'hello') ws.send(r.reply);
            else if (r.kind === 'data') {
              const p = m.decodeHandoffPayload(r.plaintext);
              if (p?.kind !== 'frame') return reject(new Error('not a frame'));
              ws.send(
                await viewer.seal(
                  m.encodeMessagePayload({ type: 'insertText', text: 'typed in chromium' }),
                ),
              );
              resolve({
                frameBytes: p.image.length,
                width: p.meta.deviceWidth,
                first: [...p.image.subarray(0, 4)],
                confirmed: viewer.isConfirmed,
              });
            } else if (r.kind === 'dropped') reject(new Error(r.reason));
          });
        };
        ws.onopen = () => void viewer.hello().then((h) => ws.send(h));
      });
    }, sessionId);
    await agentDone;
    await page.close();

    expect(seen).toEqual({
      frameBytes: image.length,
      width: 1280,
      first: [...image.subarray(0, 4)],
      confirmed: true,
    });
    expect(received).toEqual([{ type: 'insertText', text: 'typed in chromium' }]);
  });

  it('refuses an off-curve point in Chromium too, and a hello under another secret', async () => {
    const page = await browser.browser.newPage();
    await page.goto(`${origin}/viewer`);
    await page.waitForFunction(() => 'e2ee' in globalThis);
    const secret = generateFragmentSecret();
    const agent = await createE2eeSession({
      role: 'agent',
      sessionId: 's',
      fragmentSecret: generateFragmentSecret(),
    });
    const foreignHello = [...(await agent.hello())];
    const codes = await page.evaluate(
      async ({ k, hello }) => {
        const m = (globalThis as unknown as { e2ee: E2eeModule }).e2ee;
        const viewer = await m.createE2eeSession({
          role: 'viewer',
          sessionId: 's',
          fragmentSecret: k,
        });
        const r = await viewer.receive(new Uint8Array(hello));
        const curve = await crypto.subtle
          .importKey(
            'raw',
            new Uint8Array([4, ...new Array<number>(64).fill(1)]),
            { name: 'ECDH', namedCurve: 'P-256' },
            false,
            [],
          )
          .then(
            () => 'accepted',
            (e: Error) => e.name,
          );
        return { hello: r.kind === 'dropped' ? r.code : r.kind, curve };
      },
      { k: secret, hello: foreignHello },
    );
    await page.close();
    expect(codes).toEqual({ hello: 'E_E2EE_HELLO_INVALID', curve: 'DataError' });
  });
});
