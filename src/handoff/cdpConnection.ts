import createDebug from 'debug';
import WebSocket from 'ws';
import { LoopgateError } from '../core/errors.js';

const debug = createDebug('loopgate:cdp');

/** One CDP event: `method`, `params`, and the flat-mode `sessionId` of the target it came from. */
export interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
  sessionId?: string;
}

interface Pending {
  method: string;
  resolve: (value: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

/** Methods whose params may carry what a human typed; their params are never logged. */
const quietMethods = new Set(['Input.dispatchKeyEvent', 'Input.insertText']);

/**
 * A raw Chrome DevTools Protocol connection over one WebSocket (the `ws` package; the only file
 * in loopgate that speaks to it). Commands are JSON `{id, method, params, sessionId?}`; replies
 * carry the same `id`; in flat mode (`Target.attachToTarget` with `flatten: true`) a target's
 * commands and events carry its `sessionId` on the same socket.
 * See https://chromedevtools.github.io/devtools-protocol/.
 */
export class CdpConnection {
  readonly url: string;
  #ws: WebSocket;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #listeners = new Set<(event: CdpEvent) => void>();
  #closeListeners = new Set<(reason: string) => void>();
  #closed = false;
  #closingOnPurpose = false;

  private constructor(url: string, ws: WebSocket) {
    this.url = url;
    this.#ws = ws;
    ws.on('message', (data: WebSocket.RawData) => this.#onMessage(data));
    ws.on('close', (code: number) =>
      this.#onClose(this.#closingOnPurpose ? 'closed' : `socket closed (${code})`),
    );
    ws.on('error', (err: Error) => debug('socket error on %s: %s', url, err.message));
  }

  /**
   * Opens a connection to a DevTools WebSocket endpoint (`ws://host:port/devtools/browser/…` or
   * `…/devtools/page/…`).
   *
   * @throws {LoopgateError} `E_CDP_UNREACHABLE` when the socket does not open within `timeoutMs`.
   */
  static async connect(url: string, options: { timeoutMs?: number } = {}): Promise<CdpConnection> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', (err: Error) =>
        reject(
          new LoopgateError(
            'E_CDP_UNREACHABLE',
            `Could not open the DevTools WebSocket ${url}: ${err.message}`,
            { cause: err },
          ),
        ),
      );
    });
    debug('connected to %s', url);
    return new CdpConnection(url, ws);
  }

  /** True once the socket closed, by us or by the browser. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one command and resolves with its `result`.
   *
   * @throws {LoopgateError} `E_CDP_COMMAND_FAILED` when Chromium answers with an error;
   *   `E_CDP_DISCONNECTED` when the connection is or becomes closed before the answer.
   */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    if (this.#closed) {
      return Promise.reject(
        new LoopgateError(
          'E_CDP_DISCONNECTED',
          `Cannot send ${method}: the DevTools connection is closed.`,
        ),
      );
    }
    const id = this.#nextId++;
    const message =
      sessionId === undefined ? { id, method, params } : { id, method, params, sessionId };
    debug(
      '→ %s #%d%s %s',
      method,
      id,
      sessionId ? ` [${sessionId.slice(0, 8)}]` : '',
      quietMethods.has(method) ? '(params not logged)' : '',
    );
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { method, resolve, reject });
      this.#ws.send(JSON.stringify(message));
    });
  }

  /** Adds an event listener; returns the function that removes it. */
  onEvent(listener: (event: CdpEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener` once when the connection closes, with a reason for logs. */
  onClose(listener: (reason: string) => void): () => void {
    if (this.#closed) {
      listener('closed');
      return () => undefined;
    }
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /** Closes the socket. Closing a browser-level connection does not close the browser. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closingOnPurpose = true;
    const closed = new Promise<void>((resolve) => this.#ws.once('close', () => resolve()));
    this.#ws.close();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    if (!this.#closed) {
      this.#ws.terminate();
      this.#onClose('closed');
    }
  }

  #onMessage(data: WebSocket.RawData): void {
    let message: {
      id?: number;
      method?: string;
      params?: Record<string, unknown>;
      sessionId?: string;
      result?: Record<string, unknown>;
      error?: { code?: number; message?: string };
    };
    try {
      message = JSON.parse(data.toString()) as typeof message;
    } catch {
      debug('ignored a non-JSON message');
      return;
    }
    if (typeof message.id === 'number') {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error) {
        debug('← %s #%d error %s', pending.method, message.id, message.error.message);
        pending.reject(
          new LoopgateError(
            'E_CDP_COMMAND_FAILED',
            `Chromium refused ${pending.method}: ${message.error.message ?? 'unknown error'} (code ${message.error.code ?? '?'}).`,
          ),
        );
      } else {
        pending.resolve(message.result ?? {});
      }
      return;
    }
    if (typeof message.method === 'string') {
      const event: CdpEvent = { method: message.method, params: message.params ?? {} };
      if (typeof message.sessionId === 'string') event.sessionId = message.sessionId;
      for (const listener of this.#listeners) listener(event);
    }
  }

  #onClose(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    debug('connection %s closed: %s', this.url, reason);
    for (const [, pending] of this.#pending) {
      pending.reject(
        new LoopgateError(
          'E_CDP_DISCONNECTED',
          `The DevTools connection closed before ${pending.method} was answered (${reason}).`,
        ),
      );
    }
    this.#pending.clear();
    for (const listener of this.#closeListeners) listener(reason);
    this.#closeListeners.clear();
  }
}
