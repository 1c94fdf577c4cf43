import {
  Agent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { LoopgateError } from '../core/errors.js';
import { parseInternalUrl } from '../core/internalUrl.js';
import type { HandoffOwnerRecord } from '../store/store.js';

/**
 * The header a server adds to a request it forwards to the server holding a handoff session.
 * A request that carries it (from a peer, or sent by anyone) is never forwarded again, so a
 * request makes at most one hop and an inconsistent directory cannot make two servers bounce it.
 * Its value (the forwarding server's id) is for logs only and grants nothing.
 */
export const forwardedByHeader = 'x-loopgate-forwarded-by';

/** The handoff requests that name a session: its REST API and its two WebSocket endpoints. */
const sessionRequestPath =
  /^\/v1\/handoff\/([A-Za-z0-9_-]{1,100})(?:\/(?:wait|cancel|end|viewer|agent))?(?:\?|$)/;

/** Options of {@link createHandoffForwarder}. */
export interface HandoffForwarderOptions {
  /** This server's id in the directory of servers. */
  serverId: string;
  /** True when this server's relay holds the session (then nothing is looked up). */
  holds: (sessionId: string) => boolean;
  /** The store's `findHandoffOwner`. */
  findOwner: (sessionId: string, now: number) => Promise<HandoffOwnerRecord | null>;
  /** A directory entry whose heartbeat is older than this (ms) belongs to a dead server. */
  staleAfterMs: number;
  /** How long to wait for the owner's TCP connection, ms. Default 5 s. */
  connectTimeoutMs?: number;
  logger: Pick<Logger, 'warn' | 'debug'>;
  now?: () => number;
}

/**
 * Sends requests about a handoff session this server does not hold to the server that does.
 * Sessions live in the memory of the server that created it (its relay), which recorded itself
 * as the owner in the store; behind a load balancer the agent's and the viewer's requests may
 * land anywhere. The request goes out unchanged (method, path, Host, Origin, Authorization,
 * body) with {@link forwardedByHeader} added, so the owner checks Host/Origin and the caller's
 * credentials exactly as if it had come directly; a WebSocket upgrade is piped both ways over
 * a TCP connection to the owner. The relay forwards only ciphertext, and so does this.
 *
 * The only destination is the owner's `internalUrl` from the store's directory of servers,
 * and only while its heartbeat is fresh; nothing in the request chooses where it goes. A
 * request it does not forward (this server holds the session, no owner is recorded, the owner
 * is this server, gone or stale, or the request was already forwarded) is handled here as
 * before, so an unknown session gets the same 404 as on a single server.
 */
export class HandoffForwarder {
  #options: HandoffForwarderOptions;
  // A new connection per forwarded request: a kept-alive one that the owner closes as idle just
  // as it is reused fails with ECONNRESET (a wait lost to a race, seen under load).
  #agent = new Agent({ keepAlive: false });
  /** Piped WebSockets, closed with the server (the HTTP server no longer tracks them). */
  #pipes = new Set<Duplex>();

  /** @internal Use {@link createHandoffForwarder}. */
  constructor(options: HandoffForwarderOptions) {
    this.#options = options;
  }

  /**
   * Serves a plain HTTP request: forwards it to the session's owner, or calls `local`.
   * Never throws; a lookup that fails is logged and handled locally.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, local: () => void): void {
    const sessionId = this.#sessionIdOf(req);
    if (sessionId === null) return local();
    this.#ownerUrl(sessionId).then(
      (target) => (target ? this.#forwardRequest(req, res, target, sessionId) : local()),
      (err: unknown) => {
        this.#options.logger.warn({ err, session_id: sessionId }, 'handoff owner lookup failed');
        local();
      },
    );
  }

  /**
   * Serves an HTTP upgrade (the relay's WebSockets): pipes it to the session's owner, or calls
   * `local`. Never throws.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, local: () => void): void {
    const sessionId = this.#sessionIdOf(req);
    if (sessionId === null) return local();
    // The client may leave while the owner is looked up.
    const drop = () => socket.destroy();
    socket.on('error', drop);
    this.#ownerUrl(sessionId).then(
      (target) => {
        socket.off('error', drop);
        if (socket.destroyed) return;
        if (target) this.#forwardUpgrade(req, socket, head, target, sessionId);
        else local();
      },
      (err: unknown) => {
        socket.off('error', drop);
        this.#options.logger.warn({ err, session_id: sessionId }, 'handoff owner lookup failed');
        if (!socket.destroyed) local();
      },
    );
  }

  /** Closes the connections to other servers and every piped WebSocket. */
  close(): void {
    this.#agent.destroy();
    for (const socket of this.#pipes) socket.destroy();
    this.#pipes.clear();
  }

  /** The session a request may need forwarding for, or null (checked without I/O). */
  #sessionIdOf(req: IncomingMessage): string | null {
    if (req.headers[forwardedByHeader] !== undefined) return null;
    const match = sessionRequestPath.exec(req.url ?? '');
    const sessionId = match?.[1];
    if (sessionId === undefined || this.#options.holds(sessionId)) return null;
    return sessionId;
  }

  /** The owner's internal URL when the session must be served there, else null. */
  async #ownerUrl(sessionId: string): Promise<URL | null> {
    const now = (this.#options.now ?? Date.now)();
    const owner = await this.#options.findOwner(sessionId, now);
    if (!owner || owner.serverId === this.#options.serverId) return null;
    const { server } = owner;
    if (!server || now - server.heartbeatAt > this.#options.staleAfterMs) {
      this.#options.logger.debug(
        { session_id: sessionId, owner: owner.serverId },
        'handoff session owner is gone; not forwarding',
      );
      return null;
    }
    const parsed = parseInternalUrl(server.internalUrl);
    if (!parsed.ok) {
      this.#options.logger.warn(
        { session_id: sessionId, owner: owner.serverId },
        `directory entry of the handoff session's owner is unusable: ${parsed.message}`,
      );
      return null;
    }
    return parsed.value;
  }

  #forwardRequest(req: IncomingMessage, res: ServerResponse, target: URL, sessionId: string): void {
    this.#options.logger.debug(
      { session_id: sessionId, target: target.origin },
      'forwarding a handoff request to the server holding the session',
    );
    const upstream = httpRequest({
      agent: this.#agent,
      host: target.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: target.port || 80,
      method: req.method,
      path: req.url,
      headers: [...req.rawHeaders, forwardedByHeader, this.#options.serverId],
      setHost: false,
    });
    this.#limitConnect(upstream);
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      this.#options.logger.warn(
        { err, session_id: sessionId, target: target.origin },
        'could not forward a handoff request to the server holding the session',
      );
      const error = new LoopgateError(
        'E_HANDOFF_OWNER_UNREACHABLE',
        `Handoff session ${sessionId} lives on another loopgate server, which did not answer at ${target.origin} (${err.message}); try again, or start a new handoff.`,
      );
      const body = JSON.stringify({ error: { code: error.code, message: error.message } });
      res.writeHead(error.status, { 'content-type': 'application/json' }).end(body);
    });
    // A long-poll's caller that leaves must not leave the owner waiting on our behalf.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  #forwardUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    target: URL,
    sessionId: string,
  ): void {
    const upstream = connect({
      host: target.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(target.port || 80),
    });
    upstream.setNoDelay(true);
    this.#limitConnect(upstream);
    this.#pipes.add(socket).add(upstream);
    const forget = () => {
      this.#pipes.delete(socket);
      this.#pipes.delete(upstream);
    };
    this.#options.logger.debug(
      { session_id: sessionId, target: target.origin },
      'forwarding a handoff WebSocket to the server holding the session',
    );
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      lines.push(`${forwardedByHeader}: ${this.#options.serverId}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', (err) => {
      if (!connected) {
        this.#options.logger.warn(
          { err, session_id: sessionId, target: target.origin },
          'could not forward a handoff WebSocket to the server holding the session',
        );
        socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      socket.destroy();
    });
    upstream.on('close', () => {
      forget();
      if (connected) socket.destroy();
    });
    socket.on('error', () => upstream.destroy());
    socket.on('close', () => {
      forget();
      upstream.destroy();
    });
  }

  /** Gives up on an owner that does not accept the TCP connection in time. */
  #limitConnect(outgoing: Socket | ReturnType<typeof httpRequest>): void {
    const ms = this.#options.connectTimeoutMs ?? 5_000;
    const arm = (socket: Socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(
        () => outgoing.destroy(new Error(`no connection within ${ms} ms`)),
        ms,
      );
      timer.unref();
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    };
    if ('connecting' in outgoing) arm(outgoing);
    else outgoing.once('socket', arm);
  }
}

/** Creates the forwarder; see {@link HandoffForwarder}. */
export function createHandoffForwarder(options: HandoffForwarderOptions): HandoffForwarder {
  return new HandoffForwarder(options);
}
