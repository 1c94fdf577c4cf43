import { createMcpHandler, type McpServer } from '@modelcontextprotocol/server';
import { serveStdio, type StdioServerHandle } from '@modelcontextprotocol/server/stdio';
import type { ApprovalsClient } from './approvalsClient.js';
import { createMcpServer } from './createMcpServer.js';
import type { HandoffAgent } from './handoffAgent.js';

interface JsonRpcMessage {
  id?: string | number;
  method?: string;
  params?: { requestId?: string | number };
}

/**
 * The streamable-HTTP endpoint `/mcp`, serving both the 2026-07-28 (stateless, per-request)
 * revision and 2025-era clients (stateless legacy fallback). `clientFor` gives the approvals
 * client of the authenticated agent.
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

  return {
    async fetch(request, agent) {
      const authInfo = {
        token: agent.token,
        clientId: agent.agentId,
        scopes: [],
        extra: { agentId: agent.agentId, keyId: agent.keyId },
      };
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
    close: () => handler.close(),
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
