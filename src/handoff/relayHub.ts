import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import { WebSocketServer, type WebSocket } from 'ws';
import { LoopgateError } from '../core/errors.js';
import { constantTimeEqual, createId, createSecretToken, hashSecret } from '../core/ids.js';
import {
  handoffTtlSeconds,
  isFinalHandoffStatus,
  type CreatedHandoff,
  type HandoffCreateInput,
  type HandoffStatus,
  type HandoffView,
} from './handoffView.js';

const debug = createDebug('loopgate:relay');

/** The WebSocket subprotocol both sides speak. */
export const handoffSubprotocol = 'loopgate.handoff.v1';

/**
 * Close codes the relay uses (the viewer page names each one). 4000–4999 is the range RFC 6455
 * §7.4.2 leaves to applications.
 */
export const relayCloseCodes = {
  malformed: 4400,
  badToken: 4401,
  noSession: 4404,
  /** A newer connection of the same side took over (viewer or agent). */
  viewerTaken: 4409,
  ended: 4410,
  tooBig: 4413,
  rateExceeded: 4429,
  bufferFull: 4508,
} as const;

/** Sizes and rates the relay enforces. */
export interface RelayLimits {
  /** Largest binary message from the agent side (an encrypted screencast frame), bytes. Default 2 MiB. */
  maxFrameBytes: number;
  /** Largest message from a viewer (encrypted input), bytes. Default 64 KiB. */
  maxInputBytes: number;
  /**
   * Viewer messages per second (token bucket, burst of the same size). Each encrypted message
   * forwarded to the viewer also earns it one message, so frame acks never eat the input budget.
   * Default 50.
   */
  maxInputPerSecond: number;
  /** Bytes a viewer's socket may hold unsent before it is closed with 4508. Default 8 MiB. */
  maxViewerBufferBytes: number;
  /** Live sessions one agent may hold. Default 32. */
  maxSessionsPerAgent: number;
  /** WebSocket ping interval; a peer that misses one pong is dropped. Default 15 s. */
  heartbeatMs: number;
  /** How long an ended session stays readable. Default 1 hour. */
  keepEndedMs: number;
}

/** The defaults of {@link RelayLimits}. */
export const defaultRelayLimits: RelayLimits = {
  maxFrameBytes: 2 * 1024 * 1024,
  maxInputBytes: 64 * 1024,
  maxInputPerSecond: 50,
  maxViewerBufferBytes: 8 * 1024 * 1024,
  maxSessionsPerAgent: 32,
  heartbeatMs: 15_000,
  keepEndedMs: 3_600_000,
};

/** A status change, for the audit log. `actor` is `agent:<id>`, `viewer` or `relay`. */
export interface HandoffStatusChange {
  view: HandoffView;
  previous: HandoffStatus | null;
  actor: string;
}

/** Options of {@link createRelayHub}. */
export interface RelayHubOptions {
  /** Base URL humans open (session URLs are `<publicUrl>/handoff/<id>?t=…`). */
  publicUrl: string;
  limits?: Partial<RelayLimits>;
  /**
   * Checks an upgrade request's Host and Origin (DNS rebinding, cross-site WebSocket
   * hijacking); return false to refuse it with 403. Default: accept.
   */
  checkRequest?: (host: string | undefined, origin: string | undefined) => boolean;
  /**
   * Records, before {@link RelayHub.openSession} returns, that this server holds the new session
   * until `keepUntil` (ms since epoch), so the other servers of a deployment can forward requests
   * about it here. A rejection cancels the session and fails `openSession`.
   */
  claimSession?: (claim: { sessionId: string; keepUntil: number }) => Promise<void>;
  /** Called after every status change, including creation (`previous: null`). */
  onStatusChange?: (change: HandoffStatusChange) => void;
  now?: () => number;
}

/** One side's connection, WebSocket or in-process. */
interface RelayPeer {
  sendBinary(bytes: Uint8Array): void;
  sendText(text: string): void;
  close(code: number, reason: string): void;
}

interface ViewerPeer extends RelayPeer {
  /** Input token bucket. */
  tokens: number;
  refilledAt: number;
}

interface RelaySession {
  id: string;
  agentId: string;
  service: string;
  blockerType: string | undefined;
  status: HandoffStatus;
  detail: string | undefined;
  createdAt: number;
  expiresAt: number;
  endedAt: number | undefined;
  viewerTokenHash: string;
  agentTokenHash: string;
  viewer: ViewerPeer | null;
  agent: RelayPeer | null;
  listeners: Set<() => void>;
  timer: NodeJS.Timeout | undefined;
}

/** An in-process agent-side connection (the embedded server). */
export interface RelayAgentLink {
  /** Sends one binary (E2EE) message to the viewer. */
  send(data: Uint8Array): void;
  /** Leaves the session; the viewer is told the agent is away. */
  close(): void;
}

const e2eeDataType = 3;

const peerText = (state: 'connected' | 'disconnected') => JSON.stringify({ type: 'peer', state });

/**
 * The handoff relay that runs in the server: creates sessions, serves the two WebSocket
 * endpoints of each (`/v1/handoff/<id>/agent` and `/v1/handoff/<id>/viewer`), forwards the
 * E2EE messages between them byte for byte and in order (it cannot read them), enforces the
 * limits with named close codes, and keeps each session's status:
 * `pending → active → resolved | cancelled | timeout | error`, pushed to waiters at once.
 * Only the agent side ends a session (the human's Done and Cancel reach it encrypted); a viewer
 * sends binary messages only.
 *
 * Sessions live in memory: they last minutes and die with their sockets anyway.
 */
export class RelayHub {
  readonly limits: RelayLimits;
  #options: RelayHubOptions;
  #now: () => number;
  #sessions = new Map<string, RelaySession>();
  #viewerWss: WebSocketServer;
  #agentWss: WebSocketServer;
  #sweeper: NodeJS.Timeout;
  #heartbeat: NodeJS.Timeout;
  #alive = new WeakMap<WebSocket, boolean>();

  /** @internal Use {@link createRelayHub}. */
  constructor(options: RelayHubOptions) {
    this.#options = options;
    this.limits = { ...defaultRelayLimits, ...options.limits };
    this.#now = options.now ?? Date.now;
    const handleProtocols = (protocols: Set<string>) =>
      protocols.has(handoffSubprotocol) ? handoffSubprotocol : false;
    // ws closes with 1009 above maxPayload; below it the relay's own checks close with 4413.
    this.#viewerWss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: Math.max(this.limits.maxInputBytes * 4, 1024 * 1024),
      handleProtocols,
    });
    this.#agentWss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: this.limits.maxFrameBytes * 2,
      handleProtocols,
    });
    this.#sweeper = setInterval(() => this.#sweep(), 60_000);
    this.#sweeper.unref();
    this.#heartbeat = setInterval(() => this.#beat(), this.limits.heartbeatMs);
    this.#heartbeat.unref();
  }

  /**
   * Opens a session for `agentId`. Returns its view, the viewer URL (without `#k=`, which only
   * the agent side knows) and the agent side's socket token. Tokens are 256-bit and kept as
   * SHA-256 only.
   *
   * @throws {LoopgateError} `E_HANDOFF_TOO_MANY` when the agent already has
   *   {@link RelayLimits.maxSessionsPerAgent} live sessions.
   */
  createSession(agentId: string, input: HandoffCreateInput): CreatedHandoff {
    const live = [...this.#sessions.values()].filter(
      (s) => s.agentId === agentId && !isFinalHandoffStatus(s.status),
    ).length;
    if (live >= this.limits.maxSessionsPerAgent) {
      throw new LoopgateError(
        'E_HANDOFF_TOO_MANY',
        `Agent "${agentId}" has ${live} live handoff sessions; cancel_handoff the ones you no longer need.`,
      );
    }
    const now = this.#now();
    const viewerToken = createSecretToken();
    const agentToken = createSecretToken();
    const ttlMs = (input.ttl_seconds ?? handoffTtlSeconds.default) * 1_000;
    const session: RelaySession = {
      id: createId('ho'),
      agentId,
      service: input.service,
      blockerType: input.blocker_type,
      status: 'pending',
      detail: undefined,
      createdAt: now,
      expiresAt: now + ttlMs,
      endedAt: undefined,
      viewerTokenHash: hashSecret(viewerToken),
      agentTokenHash: hashSecret(agentToken),
      viewer: null,
      agent: null,
      listeners: new Set(),
      timer: undefined,
    };
    session.timer = setTimeout(() => {
      this.#setStatus(
        session,
        'timeout',
        'The session URL expired before the human finished.',
        'relay',
      );
    }, ttlMs);
    session.timer.unref();
    this.#sessions.set(session.id, session);
    debug('session %s created for agent %s (ttl %d s)', session.id, agentId, ttlMs / 1_000);
    const view = this.#view(session);
    this.#options.onStatusChange?.({ view, previous: null, actor: `agent:${agentId}` });
    const base = this.#options.publicUrl.replace(/\/$/, '');
    return {
      ...view,
      viewer_url: `${base}/handoff/${session.id}?t=${viewerToken}`,
      agent_token: agentToken,
    };
  }

  /**
   * {@link createSession}, then {@link RelayHubOptions.claimSession}: what the API and the
   * embedded server call, so a session is findable by every server before anyone hears of it.
   * @throws {LoopgateError} `E_HANDOFF_TOO_MANY`; whatever `claimSession` rejects with (the
   *   session is cancelled then).
   */
  async openSession(agentId: string, input: HandoffCreateInput): Promise<CreatedHandoff> {
    const created = this.createSession(agentId, input);
    if (!this.#options.claimSession) return created;
    try {
      await this.#options.claimSession({
        sessionId: created.session_id,
        keepUntil: Date.parse(created.expires_at) + this.limits.keepEndedMs,
      });
    } catch (err) {
      this.#setStatus(
        this.#own(created.session_id, agentId),
        'error',
        'The session could not be recorded in the database.',
        'relay',
      );
      throw err;
    }
    return created;
  }

  /** True when this hub holds session `id` (live or recently ended), whoever its agent is. */
  hasSession(id: string): boolean {
    return this.#sessions.has(id);
  }

  /**
   * The session's view.
   * @throws {LoopgateError} `E_HANDOFF_NOT_FOUND` (unknown, or another agent's: no probing).
   */
  getSession(id: string, agentId: string): HandoffView {
    return this.#view(this.#own(id, agentId));
  }

  /**
   * Resolves with the view the moment the status changes (or at once when it has ended), else
   * unchanged after `maxWaitMs`, or when `signal` aborts. Push, not polling.
   * @throws {LoopgateError} `E_HANDOFF_NOT_FOUND`.
   */
  waitForChange(
    id: string,
    agentId: string,
    options: { maxWaitMs: number; signal?: AbortSignal },
  ): Promise<HandoffView> {
    const session = this.#own(id, agentId);
    const start = session.status;
    if (isFinalHandoffStatus(start) || options.signal?.aborted || options.maxWaitMs <= 0)
      return Promise.resolve(this.#view(session));
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        session.listeners.delete(listener);
        options.signal?.removeEventListener('abort', finish);
        resolve(this.#view(session));
      };
      const listener = () => {
        if (session.status !== start) finish();
      };
      const timer = setTimeout(finish, options.maxWaitMs);
      session.listeners.add(listener);
      options.signal?.addEventListener('abort', finish, { once: true });
    });
  }

  /**
   * The agent withdraws the session: status `cancelled`, both sides told and disconnected.
   * @throws {LoopgateError} `E_HANDOFF_NOT_FOUND`, `E_HANDOFF_ENDED`.
   */
  cancel(id: string, agentId: string): HandoffView {
    return this.end(id, agentId, 'cancelled', 'The agent cancelled the handoff.');
  }

  /**
   * The agent side reports the end it saw: the human's Done or Cancel arriving through the
   * E2EE channel (`resolved`, `cancelled`), or the browser or page going away (`error`).
   * @throws {LoopgateError} `E_HANDOFF_NOT_FOUND`; `E_HANDOFF_ENDED` when it had already ended.
   */
  end(
    id: string,
    agentId: string,
    status: 'resolved' | 'cancelled' | 'error',
    detail?: string,
  ): HandoffView {
    const session = this.#own(id, agentId);
    if (!this.#setStatus(session, status, detail, `agent:${agentId}`)) {
      throw new LoopgateError(
        'E_HANDOFF_ENDED',
        `Handoff ${id} already ended with status "${session.status}".`,
      );
    }
    return this.#view(session);
  }

  /**
   * Connects the agent side in-process (the embedded server): `deliver` gets what a WebSocket
   * agent would (text control messages, binary E2EE messages). A new link replaces the old.
   * @throws {LoopgateError} `E_HANDOFF_NOT_FOUND`, `E_HANDOFF_ENDED`.
   */
  attachAgent(
    id: string,
    agentId: string,
    deliver: (data: Uint8Array | string, closeCode?: number) => void,
  ): RelayAgentLink {
    const session = this.#own(id, agentId);
    if (isFinalHandoffStatus(session.status))
      throw new LoopgateError(
        'E_HANDOFF_ENDED',
        `Handoff ${id} already ended with status "${session.status}".`,
      );
    let open = true;
    const peer: RelayPeer = {
      sendBinary: (bytes) => open && deliver(bytes),
      sendText: (text) => open && deliver(text),
      close: (code) => {
        if (!open) return;
        open = false;
        deliver(peerText('disconnected'), code);
      },
    };
    this.#joinAgent(session, peer);
    return {
      send: (data) => {
        if (open) this.#fromAgent(session, peer, data);
      },
      close: () => {
        if (!open) return;
        open = false;
        this.#leave(session, peer);
      },
    };
  }

  /**
   * Handles an HTTP upgrade if it is for `/v1/handoff/<id>/viewer?t=<token>` or
   * `/v1/handoff/<id>/agent` (with `Authorization: Bearer <agent token>`); returns false for any
   * other path (the caller decides). Refusals after the handshake use the close codes above, so
   * a browser can tell why.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://relay.invalid');
    const match = /^\/v1\/handoff\/([A-Za-z0-9_-]{1,100})\/(viewer|agent)$/.exec(url.pathname);
    if (!match) return false;
    const [, id, role] = match as unknown as [string, string, 'viewer' | 'agent'];
    const origin = req.headers.origin;
    let allowed = true;
    try {
      allowed = this.#options.checkRequest?.(req.headers.host, origin) ?? true;
    } catch {
      allowed = false; // a Host header that does not parse
    }
    if (!allowed) {
      debug('refused a %s upgrade for %s: Host or Origin not allowed', role, id);
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    const token =
      role === 'viewer'
        ? (url.searchParams.get('t') ?? '')
        : (/^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '');
    const wss = role === 'viewer' ? this.#viewerWss : this.#agentWss;
    wss.handleUpgrade(req, socket, head, (ws) => {
      this.#alive.set(ws, true);
      ws.on('pong', () => this.#alive.set(ws, true));
      ws.on('error', (err) => debug('%s socket error on %s: %s', role, id, err.message));
      const session = this.#sessions.get(id);
      if (!session) {
        ws.close(relayCloseCodes.noSession, 'no such handoff session');
        return;
      }
      const hash = role === 'viewer' ? session.viewerTokenHash : session.agentTokenHash;
      if (!token || !constantTimeEqual(hashSecret(token), hash)) {
        debug('%s of %s refused: bad token', role, id);
        ws.close(relayCloseCodes.badToken, 'token invalid');
        return;
      }
      if (isFinalHandoffStatus(session.status) || this.#now() >= session.expiresAt) {
        ws.close(relayCloseCodes.ended, 'session ended');
        return;
      }
      if (role === 'viewer') this.#acceptViewer(session, ws);
      else this.#acceptAgent(session, ws);
    });
    return true;
  }

  /** Number of sessions kept (live and recently ended). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Closes every socket and forgets every session. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    clearInterval(this.#heartbeat);
    for (const session of this.#sessions.values()) {
      clearTimeout(session.timer);
      session.viewer?.close(1001, 'server shutting down');
      session.agent?.close(1001, 'server shutting down');
    }
    this.#sessions.clear();
    for (const wss of [this.#viewerWss, this.#agentWss]) {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  }

  // ---- sockets ----

  /**
   * Wraps a socket; `onGone` runs once, when the relay closes it or the peer goes, so the other
   * side hears at once even while a close frame waits behind a backlog.
   */
  #wsPeer(
    ws: WebSocket,
    bufferLimit: number,
    role: string,
    id: string,
    onGone: () => void,
  ): RelayPeer {
    let closing = false;
    let gone = false;
    const goneOnce = () => {
      if (gone) return;
      gone = true;
      onGone();
    };
    ws.on('close', goneOnce);
    const close = (code: number, reason: string) => {
      if (closing) return;
      closing = true;
      ws.close(code, reason);
      goneOnce();
      // A peer that does not read would keep the close frame queued behind its backlog.
      setTimeout(() => ws.terminate(), 5_000).unref();
    };
    return {
      sendBinary(bytes) {
        if (closing) return;
        // Never drop a message (the receiver is strict about order): close instead.
        if (ws.bufferedAmount + bytes.length > bufferLimit) {
          debug('%s of %s cannot keep up (%d bytes unsent): closing', role, id, ws.bufferedAmount);
          close(relayCloseCodes.bufferFull, 'send buffer full');
          return;
        }
        ws.send(bytes, { binary: true });
      },
      sendText(text) {
        if (!closing) ws.send(text);
      },
      close,
    };
  }

  #acceptViewer(session: RelaySession, ws: WebSocket): void {
    // The newer viewer connection wins: a phone that slept holds a dead socket the relay may
    // not notice for two heartbeats, and its page must get the stream back when it wakes. The
    // older one is closed with 4409 (its page stops there, so two tabs never take turns).
    const previous = session.viewer;
    if (previous) {
      debug('viewer of %s replaced by a newer connection', session.id);
      session.viewer = null;
      previous.close(relayCloseCodes.viewerTaken, 'replaced by a newer viewer connection');
      // The agent side drops the old keys before it hears of the new viewer.
      session.agent?.sendText(peerText('disconnected'));
    }
    const base = this.#wsPeer(ws, this.limits.maxViewerBufferBytes, 'viewer', session.id, () => {
      if (session.viewer !== viewer) return;
      session.viewer = null;
      debug('viewer left %s', session.id);
      session.agent?.sendText(peerText('disconnected'));
      this.#notify(session);
    });
    const viewer: ViewerPeer = {
      ...base,
      tokens: this.limits.maxInputPerSecond,
      refilledAt: this.#now(),
    };
    session.viewer = viewer;
    debug('viewer joined %s', session.id);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (session.viewer !== viewer) return;
      if (data.length > this.limits.maxInputBytes) {
        debug('viewer of %s sent %d bytes: too big', session.id, data.length);
        viewer.close(relayCloseCodes.tooBig, 'message too big');
        return;
      }
      if (!this.#takeInputToken(viewer)) {
        debug('viewer of %s exceeded %d messages/s', session.id, this.limits.maxInputPerSecond);
        viewer.close(relayCloseCodes.rateExceeded, 'input rate exceeded');
        return;
      }
      if (!isBinary) {
        // Done and Cancel travel only inside the E2EE channel, to the agent side, which ends
        // the session (`end`): a holder of the `?t=` token without `#k=` decides nothing.
        debug('viewer of %s sent a text message: refused', session.id);
        viewer.close(
          relayCloseCodes.malformed,
          'the viewer sends binary (encrypted) messages only',
        );
        return;
      }
      session.agent?.sendBinary(new Uint8Array(data.buffer, data.byteOffset, data.length));
    });
    if (session.status === 'pending') this.#setStatus(session, 'active', undefined, 'viewer');
    else this.#notify(session);
    if (session.agent) {
      viewer.sendText(peerText('connected'));
      session.agent.sendText(peerText('connected'));
    }
  }

  #acceptAgent(session: RelaySession, ws: WebSocket): void {
    // The agent side may reconnect after a network blip; the newer socket wins.
    const peer: RelayPeer = this.#wsPeer(
      ws,
      this.limits.maxFrameBytes * 4,
      'agent',
      session.id,
      () => this.#leave(session, peer),
    );
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (session.agent !== peer) return;
      if (!isBinary) {
        peer.close(relayCloseCodes.malformed, 'the agent side sends binary messages only');
        return;
      }
      this.#fromAgent(session, peer, new Uint8Array(data.buffer, data.byteOffset, data.length));
    });
    this.#joinAgent(session, peer);
  }

  #joinAgent(session: RelaySession, peer: RelayPeer): void {
    const previous = session.agent;
    session.agent = peer;
    if (previous) {
      debug('agent side of %s replaced by a new connection', session.id);
      previous.close(relayCloseCodes.viewerTaken, 'replaced by a newer agent connection');
      session.viewer?.sendText(peerText('disconnected'));
    }
    debug('agent side joined %s', session.id);
    if (session.viewer) {
      session.viewer.sendText(peerText('connected'));
      peer.sendText(peerText('connected'));
    }
  }

  #leave(session: RelaySession, peer: RelayPeer): void {
    if (session.agent !== peer) return;
    session.agent = null;
    debug('agent side left %s', session.id);
    session.viewer?.sendText(peerText('disconnected'));
  }

  #fromAgent(session: RelaySession, peer: RelayPeer, bytes: Uint8Array): void {
    if (bytes.length > this.limits.maxFrameBytes) {
      debug('agent side of %s sent %d bytes: too big', session.id, bytes.length);
      peer.close(relayCloseCodes.tooBig, 'message too big');
      return;
    }
    const viewer = session.viewer;
    if (!viewer) return; // no viewer, no keys: the message belongs to no live key exchange
    // Each encrypted message may be answered by one (a frame by its ack).
    if (bytes[1] === e2eeDataType)
      viewer.tokens = Math.min(this.limits.maxInputPerSecond * 2, viewer.tokens + 1);
    viewer.sendBinary(bytes);
  }

  #takeInputToken(viewer: ViewerPeer): boolean {
    const now = this.#now();
    const rate = this.limits.maxInputPerSecond;
    viewer.tokens = Math.min(
      Math.max(rate, viewer.tokens),
      viewer.tokens + ((now - viewer.refilledAt) / 1_000) * rate,
    );
    viewer.refilledAt = now;
    if (viewer.tokens < 1) return false;
    viewer.tokens -= 1;
    return true;
  }

  // ---- status ----

  #own(id: string, agentId: string): RelaySession {
    const session = this.#sessions.get(id);
    if (!session || session.agentId !== agentId) {
      throw new LoopgateError(
        'E_HANDOFF_NOT_FOUND',
        `No handoff session "${id}"; use the session_id browser_handoff returned.`,
      );
    }
    return session;
  }

  /** Compare-and-set: a final status is never left. Returns false when nothing changed. */
  #setStatus(
    session: RelaySession,
    status: HandoffStatus,
    detail: string | undefined,
    actor: string,
  ): boolean {
    const previous = session.status;
    if (isFinalHandoffStatus(previous) || previous === status) return false;
    session.status = status;
    session.detail = detail;
    debug('session %s: %s → %s (%s)', session.id, previous, status, actor);
    if (isFinalHandoffStatus(status)) {
      session.endedAt = this.#now();
      clearTimeout(session.timer);
      const text = JSON.stringify(
        detail ? { type: 'status', status, detail } : { type: 'status', status },
      );
      const peers = [session.viewer, session.agent];
      session.viewer = null;
      session.agent = null;
      for (const peer of peers) {
        peer?.sendText(text);
        peer?.close(relayCloseCodes.ended, 'session ended');
      }
    }
    this.#options.onStatusChange?.({ view: this.#view(session), previous, actor });
    this.#notify(session);
    return true;
  }

  #notify(session: RelaySession): void {
    for (const listener of [...session.listeners]) listener();
  }

  #view(session: RelaySession): HandoffView {
    return {
      session_id: session.id,
      agent_id: session.agentId,
      service: session.service,
      status: session.status,
      viewer_connected: session.viewer !== null,
      ...(session.detail ? { detail: session.detail } : {}),
      created_at: new Date(session.createdAt).toISOString(),
      expires_at: new Date(session.expiresAt).toISOString(),
      ...(session.endedAt !== undefined
        ? { ended_at: new Date(session.endedAt).toISOString() }
        : {}),
    };
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, session] of this.#sessions) {
      if (session.endedAt !== undefined && now - session.endedAt > this.limits.keepEndedMs)
        this.#sessions.delete(id);
    }
  }

  #beat(): void {
    for (const wss of [this.#viewerWss, this.#agentWss]) {
      for (const ws of wss.clients) {
        if (this.#alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        this.#alive.set(ws, false);
        ws.ping();
      }
    }
  }
}

/** Creates the relay; attach {@link RelayHub.handleUpgrade} to the HTTP server's `upgrade` event. */
export function createRelayHub(options: RelayHubOptions): RelayHub {
  return new RelayHub(options);
}
