import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';

const viewerDir = fileURLToPath(new URL('../../../web/viewer/', import.meta.url));

/** Which way a binary message is going through the relay. */
export type RelayDirection = 'toAgent' | 'toViewer';

/**
 * A stand-in for the server's relay, implementing the relay side of the viewer protocol:
 * serves the viewer page (`/handoff/:id`, with CSP `script-src 'self'`) and its assets, accepts
 * one viewer WebSocket at `/v1/handoff/:id/viewer?t=<token>` (a second gets close code 4409),
 * tells each side `{"type":"peer","state":…}`, and forwards binary messages between the viewer
 * and an in-process agent side. `tamper` lets a test play a hostile relay.
 */
export interface RelayDouble {
  origin: string;
  /** Viewer text messages the relay received (the viewer page sends none). */
  viewerTexts: string[];
  /** Every binary message that went through, as forwarded, for inspection. */
  forwarded: Array<{ direction: RelayDirection; bytes: Uint8Array }>;
  /** Connects the agent side: `deliver` receives what the relay sends it; returns its `send`. */
  attachAgent(deliver: (data: Uint8Array | string) => void): (data: Uint8Array) => void;
  close(): Promise<void>;
}

export interface RelayDoubleOptions {
  sessionId: string;
  token: string;
  /** Folder holding the compiled E2EE module (served at /assets/e2ee/). */
  e2eeDir: string;
  /** Returns the messages to forward instead of `bytes` (none to drop, several to replay). */
  tamper?: (direction: RelayDirection, bytes: Uint8Array) => Uint8Array[];
}

const types: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.html': 'text/html',
};

export async function startRelayDouble(options: RelayDoubleOptions): Promise<RelayDouble> {
  const { sessionId, token, e2eeDir } = options;
  const tamper = options.tamper ?? ((_d, b) => [b]);
  const viewerTexts: string[] = [];
  const forwarded: RelayDouble['forwarded'] = [];
  let viewer: WebSocket | null = null;
  let agentDeliver: ((data: Uint8Array | string) => void) | null = null;

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let file: string | null = null;
    if (url.pathname === `/handoff/${sessionId}`) file = `${viewerDir}viewer.html`;
    const asset = /^\/assets\/(viewer|e2ee)\/([A-Za-z0-9]+\.(?:js|css))$/.exec(url.pathname);
    if (asset) file = `${asset[1] === 'viewer' ? viewerDir : `${e2eeDir}/`}${asset[2]}`;
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) =>
        res
          .writeHead(200, {
            'content-type': types[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream',
            'content-security-policy':
              "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'",
          })
          .end(body),
      () => res.writeHead(404).end(),
    );
  });

  const forward = (direction: RelayDirection, bytes: Uint8Array): void => {
    for (const out of tamper(direction, bytes)) {
      forwarded.push({ direction, bytes: out });
      if (direction === 'toAgent') agentDeliver?.(out);
      else if (viewer?.readyState === viewer?.OPEN) viewer?.send(out);
    }
  };

  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== `/v1/handoff/${sessionId}/viewer` || url.searchParams.get('t') !== token) {
      ws.close(4401, 'token invalid');
      return;
    }
    // As the relay does: the newer viewer connection takes over.
    const previous = viewer;
    viewer = ws;
    if (previous) {
      previous.close(4409, 'replaced by a newer viewer connection');
      agentDeliver?.(JSON.stringify({ type: 'peer', state: 'disconnected' }));
    }
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) forward('toAgent', new Uint8Array(data));
      else viewerTexts.push(data.toString());
    });
    ws.on('close', () => {
      if (viewer !== ws) return;
      viewer = null;
      agentDeliver?.(JSON.stringify({ type: 'peer', state: 'disconnected' }));
    });
    if (agentDeliver) {
      ws.send(JSON.stringify({ type: 'peer', state: 'connected' }));
      agentDeliver(JSON.stringify({ type: 'peer', state: 'connected' }));
    }
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    viewerTexts,
    forwarded,
    attachAgent(deliver) {
      agentDeliver = deliver;
      if (viewer) {
        viewer.send(JSON.stringify({ type: 'peer', state: 'connected' }));
        deliver(JSON.stringify({ type: 'peer', state: 'connected' }));
      }
      return (data) => forward('toViewer', data);
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
