import createDebug from 'debug';
import WebSocket from 'ws';
import { handoffSubprotocol, relayCloseCodes, type RelayAgentLink } from './relayHub.js';

const debug = createDebug('loopgate:relay');

/** Close codes after which reconnecting cannot help. */
const finalCodes = new Set<number>([
  relayCloseCodes.badToken,
  relayCloseCodes.noSession,
  relayCloseCodes.viewerTaken,
  relayCloseCodes.ended,
]);

/** Options of {@link connectRelayAgentSocket}. */
export interface RelayAgentSocketOptions {
  /** `ws(s)://host:port/v1/handoff/<id>/agent` */
  url: string;
  /** The session's agent token (from `POST /v1/handoff`), sent as `Authorization: Bearer`. */
  token: string;
  /**
   * Everything the relay sends: text control messages and binary E2EE messages. When the socket
   * drops, `{"type":"peer","state":"disconnected"}` is delivered, so the E2EE session is reset.
   */
  onMessage: (data: Uint8Array | string) => void;
  /** Called once when the link gives up for good (session ended, token refused, closed). */
  onClosed?: (code: number) => void;
}

/**
 * The agent side's WebSocket to a remote relay (`loopgate mcp --server-url`). Messages sent
 * while disconnected are discarded: they belong to a key exchange the reconnect replaces.
 * Reconnects with backoff (0.5 s doubling to 8 s) until the relay closes with 4401, 4404,
 * 4409 or 4410, or {@link RelayAgentLink.close} is called.
 */
export function connectRelayAgentSocket(options: RelayAgentSocketOptions): RelayAgentLink {
  let ws: WebSocket | null = null;
  let stopped = false;
  let delay = 500;
  let timer: NodeJS.Timeout | undefined;

  const stop = (code: number) => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    options.onClosed?.(code);
  };

  const open = () => {
    if (stopped) return;
    const socket = new WebSocket(options.url, [handoffSubprotocol], {
      headers: { authorization: `Bearer ${options.token}` },
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    socket.binaryType = 'nodebuffer';
    ws = socket;
    socket.on('open', () => {
      delay = 500;
      debug('agent socket connected');
    });
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (ws !== socket) return;
      options.onMessage(
        isBinary
          ? new Uint8Array(data.buffer, data.byteOffset, data.length)
          : data.toString('utf8'),
      );
    });
    socket.on('error', (err: Error) => debug('agent socket error: %s', err.message));
    socket.on('close', (code: number) => {
      if (ws !== socket) return;
      ws = null;
      options.onMessage(JSON.stringify({ type: 'peer', state: 'disconnected' }));
      if (stopped) return;
      if (finalCodes.has(code)) {
        debug('agent socket closed for good (%d)', code);
        stop(code);
        return;
      }
      debug('agent socket closed (%d); reconnecting in %d ms', code, delay);
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 8_000);
    });
  };
  open();

  return {
    send(data) {
      if (ws?.readyState === WebSocket.OPEN) ws.send(data, { binary: true });
    },
    close() {
      const socket = ws;
      stop(1000);
      ws = null;
      socket?.close(1000, 'agent side done');
    },
  };
}
