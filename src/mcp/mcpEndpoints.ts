import { randomBytes } from 'node:crypto';
import {
  createMcpHandler,
  isLegacyRequest,
  WebStandardStreamableHTTPServerTransport,
  type AuthInfo,
  type McpServer,
} from '@modelcontextprotocol/server';
import { serveStdio, type StdioServerHandle } from '@modelcontextprotocol/server/stdio';
import type { ApprovalsClient } from './approvalsClient.js';
import { createMcpServer } from './createMcpServer.js';
import type { HandoffAgent } from './handoffAgent.js';

interface JsonRpcMessage {
  id?: string | number;
  method?: string;
  params?: { requestId?: string | number };
}

/** Limits on 2025-11-25 streamable-HTTP sessions (held in this process's memory). */
export const mcpSessionLimits = {
  /** Sessions one agent key may hold; opening one more closes its least recently used. */
  perKey: 16,
  /** A session no request touched for this long (ms) is closed; the client starts a new one. */
  idleMs: 30 * 60_000,
} as const;

interface LegacySession {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  keyId: string;
  lastUsed: number;
}

/** The JSON-RPC answer to an unknown, expired or foreign `Mcp-Session-Id` (2025-11-25 §Transports). */
function sessionNotFound(): Response {
  return Response.json(
    {
      jsonrpc: '2.0',
      error: {
        code: -32001,
        message: 'Session not found: start a new one with initialize (no Mcp-Session-Id header).',
      },
      id: null,
    },
    { status: 404 },
  );
}

/**
 * The streamable-HTTP endpoint `/mcp`, serving both the 2026-07-28 (stateless, per-request)
 * revision and 2025-era clients. `clientFor` gives the approvals client of the authenticated
 * agent.
 *
 * A 2025-era `initialize` opens a session (MCP 2025-11-25 §Transports, "Session Management"):
 * the answer carries `Mcp-Session-Id`, one server instance serves the session's later POSTs, its
 * GET stream and DELETE, so a client can hold several streams, set a log level, and receive
 * server-to-client requests (URL elicitation). A session belongs to the agent key that opened
 * it: the id presented with another key reads as unknown (404). Sessions live in this process
 * ({@link mcpSessionLimits}); behind a load balancer without affinity a client meets 404 and
 * starts a new one, as the spec requires. A 2025-era request without a session id is still
 * served statelessly; 2026-07-28 requests are always stateless (a 2026-07-28 `initialize`, a
 * method that revision removed, is answered 404 with -32601 like any unknown method).
 *
 * Stateless 2025 serving answers a `notifications/cancelled` on a fresh server instance that
 * knows nothing of the call it cancels, so this endpoint routes it itself: every in-flight
 * `tools/call` gets an abort signal keyed by (agent key, JSON-RPC id), and a cancellation from the
 * same agent aborts it — a cancelled `wait_for_approval` stops at once instead of holding the
 * connection for its full wait.
 */
export function createMcpHttpEndpoint(
  clientFor: (agent: { agentId: string; keyId: string }) => ApprovalsClient,
  onerror?: (error: Error) => void,
  serverOptions: { progressIntervalMs?: number } = {},
): {
  fetch(
    request: Request,
    agent: { agentId: string; keyId: string; token: string },
  ): Promise<Response>;
  close(): Promise<void>;
} {
  const handler = createMcpHandler(
    (ctx) => {
      const extra = ctx.authInfo?.extra as { agentId: string; keyId: string } | undefined;
      if (!extra) throw new Error('MCP request without an authenticated agent');
      return createMcpServer(clientFor(extra), serverOptions);
    },
    { legacy: 'stateless', ...(onerror ? { onerror } : {}) },
  );
  const inflight = new Map<string, AbortController>();
  const sessions = new Map<string, LegacySession>();

  const closeSession = (id: string) => {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    void session.server.close().catch(() => undefined);
  };
  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [id, session] of sessions)
        if (now - session.lastUsed > mcpSessionLimits.idleMs) closeSession(id);
    },
    Math.min(mcpSessionLimits.idleMs, 60_000),
  );
  sweeper.unref();

  async function openSession(
    agent: { agentId: string; keyId: string },
    request: Request,
    authInfo: AuthInfo,
    parsedBody: unknown,
  ): Promise<Response> {
    const held = [...sessions.entries()]
      .filter(([, s]) => s.keyId === agent.keyId)
      .sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [id] of held.slice(0, Math.max(0, held.length - mcpSessionLimits.perKey + 1)))
      closeSession(id);
    const server = createMcpServer(clientFor(agent), serverOptions);
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => `mcps_${randomBytes(24).toString('base64url')}`,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server, keyId: agent.keyId, lastUsed: Date.now() });
      },
      onsessionclosed: (id) => closeSession(id),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    if (onerror) transport.onerror = onerror;
    await server.connect(transport);
    return transport.handleRequest(request, { authInfo, parsedBody });
  }

  return {
    async fetch(request, agent) {
      const authInfo = {
        token: agent.token,
        clientId: agent.agentId,
        scopes: [],
        extra: { agentId: agent.agentId, keyId: agent.keyId },
      };
      const sessionId = request.headers.get('mcp-session-id');
      if (sessionId !== null) {
        const session = sessions.get(sessionId);
        if (!session || session.keyId !== agent.keyId) return sessionNotFound();
        session.lastUsed = Date.now();
        return session.transport.handleRequest(request, { authInfo });
      }
      if (request.method !== 'POST') return handler.fetch(request, { authInfo });
      let parsedBody: unknown;
      try {
        parsedBody = await request.json();
      } catch {
        // Let the SDK answer the parse error in the protocol's own words.
        return handler.fetch(
          new Request(request.url, { method: 'POST', headers: request.headers, body: '{' }),
          { authInfo },
        );
      }
      const messages = (Array.isArray(parsedBody) ? parsedBody : [parsedBody]) as JsonRpcMessage[];
      // Only a 2025-era handshake opens a session: 2026-07-28 removed `initialize`, so one sent
      // with the per-request envelope goes to the stateless handler, which answers 404/-32601.
      if (
        messages.length === 1 &&
        messages[0]?.method === 'initialize' &&
        (await isLegacyRequest(request, parsedBody))
      )
        return openSession(agent, request, authInfo, parsedBody);
      const keyOf = (id: unknown) => `${agent.keyId}\0${JSON.stringify(id)}`;
      for (const message of messages) {
        if (message?.method === 'notifications/cancelled')
          inflight.get(keyOf(message.params?.requestId))?.abort();
      }
      const calls = messages
        .filter((m) => m?.method === 'tools/call' && m.id !== undefined)
        .map((m) => keyOf(m.id));
      if (calls.length === 0) return handler.fetch(request, { authInfo, parsedBody });

      const controller = new AbortController();
      request.signal.addEventListener('abort', () => controller.abort(), { once: true });
      for (const key of calls) inflight.set(key, controller);
      const forget = () => {
        for (const key of calls) if (inflight.get(key) === controller) inflight.delete(key);
      };
      controller.signal.addEventListener('abort', forget, { once: true });
      const forwarded = new Request(request.url, {
        method: 'POST',
        headers: request.headers,
        signal: controller.signal,
      });
      let response: Response;
      try {
        response = await handler.fetch(forwarded, { authInfo, parsedBody });
      } catch (err) {
        forget();
        throw err;
      }
      if (!response.body) {
        forget();
        return response;
      }
      // Forget the call once its response (JSON or an SSE stream) has been fully sent.
      const body = response.body.pipeThrough(new TransformStream({ flush: forget }));
      return new Response(body, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    },
    async close() {
      clearInterval(sweeper);
      for (const id of [...sessions.keys()]) closeSession(id);
      await handler.close();
    },
  };
}

/**
 * Serves the approval tools over stdio (both protocol eras). Nothing but MCP is written to
 * stdout.
 */
export function serveMcpStdio(
  client: ApprovalsClient,
  onerror?: (error: Error) => void,
  /** `handoff` adds the browser-handoff tools. */
  serverOptions: { handoff?: HandoffAgent } = {},
): StdioServerHandle {
  return serveStdio(() => createMcpServer(client, serverOptions), onerror ? { onerror } : {});
}

/** Serves any MCP server factory over stdio (both protocol eras), e.g. the gateway. */
export function serveFactoryOverStdio(
  factory: () => McpServer,
  onerror?: (error: Error) => void,
): StdioServerHandle {
  return serveStdio(factory, onerror ? { onerror } : {});
}
