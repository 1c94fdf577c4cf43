import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the recording server received. */
export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. `/api/chat.postMessage`. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What the handler answers with. */
export interface RecordedReply {
  status?: number;
  headers?: Record<string, string>;
  body?: string | object;
}

/** A local HTTP server on port 0 that records every request and answers via `handler`. */
export interface RecordingServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  requests: RecordedRequest[];
  /** Replaceable at any time. */
  handler: (req: RecordedRequest) => RecordedReply | Promise<RecordedReply>;
  close(): Promise<void>;
}

/**
 * Starts a stand-in for a third-party HTTP service (Slack's Web API, a webhook receiver) on
 * 127.0.0.1, port 0. Tests assert on `requests`.
 */
export async function startRecordingServer(
  handler: RecordingServer['handler'] = () => ({ status: 200, body: { ok: true } }),
): Promise<RecordingServer> {
  const state: RecordingServer = {
    origin: '',
    requests: [],
    handler,
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      state.requests.push(recorded);
      Promise.resolve(state.handler(recorded))
        .then((reply) => {
          const body =
            typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
          res.writeHead(reply.status ?? 200, {
            'content-type': 'application/json',
            ...reply.headers,
          });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.origin = `http://127.0.0.1:${port}`;
  state.close = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    });
  return state;
}
