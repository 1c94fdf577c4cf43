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
  /** The flat-mode session the command was sent to; undefined for the connection's own target. */
  sessionId: string | undefined;
  timer: NodeJS.Timeout;
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
  #commandTimeoutMs: number;

  private constructor(url: string, ws: WebSocket, commandTimeoutMs: number) {
    this.url = url;
    this.#ws = ws;
    this.#commandTimeoutMs = commandTimeoutMs;
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
   * `timeoutMs` (default 10,000 ms) bounds the opening handshake; `commandTimeoutMs` (default
   * 30,000 ms) bounds how long any one command waits for its answer, so nothing queued behind a
   * command Chromium never answers waits for ever.
   *
   * @throws {LoopgateError} `E_CDP_UNREACHABLE` when the socket does not open within `timeoutMs`.
   */
  static async connect(
    url: string,
    options: { timeoutMs?: number; commandTimeoutMs?: number } = {},
  ): Promise<CdpConnection> {
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
    return new CdpConnection(url, ws, options.commandTimeoutMs ?? 30_000);
  }

  /** True once the socket closed, by us or by the browser. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one command and resolves with its `result`.
   *
   * @throws {LoopgateError} `E_CDP_COMMAND_FAILED` when Chromium answers with an error or not
   *   within the command timeout; `E_CDP_DISCONNECTED` when the connection is or becomes closed,
   *   or the flat-mode session `sessionId` is detached (its page closed), before the answer.
   *   Chromium may drop the answer to a command whose page closes while it runs (a click on a
   *   button that closes its window), so a detach settles that session's commands.
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
      const timer = setTimeout(() => {
        if (!this.#pending.delete(id)) return;
        debug('← %s #%d not answered', method, id);
        reject(
          new LoopgateError(
            'E_CDP_COMMAND_FAILED',
            `Chromium did not answer ${method} within ${this.#commandTimeoutMs / 1000} s.`,
          ),
        );
      }, this.#commandTimeoutMs);
      timer.unref();
      this.#pending.set(id, { method, sessionId, timer, resolve, reject });
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
      clearTimeout(pending.timer);
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
      if (event.method === 'Target.detachedFromTarget') {
        const detached = event.params['sessionId'];
        if (typeof detached === 'string') this.#rejectSession(detached);
      }
      for (const listener of this.#listeners) listener(event);
    }
  }

  /** Settles the commands of a detached flat-mode session; Chromium will not answer them. */
  #rejectSession(sessionId: string): void {
    for (const [id, pending] of this.#pending) {
      if (pending.sessionId !== sessionId) continue;
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      debug('← %s #%d: its page closed first', pending.method, id);
      pending.reject(
        new LoopgateError(
          'E_CDP_DISCONNECTED',
          `The page closed before ${pending.method} was answered.`,
        ),
      );
    }
  }

  #onClose(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    debug('connection %s closed: %s', this.url, reason);
    for (const [, pending] of this.#pending) {
      clearTimeout(pending.timer);
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
