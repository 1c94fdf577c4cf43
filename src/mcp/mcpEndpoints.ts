import { createMcpHandler } from '@modelcontextprotocol/server';
import { serveStdio, type StdioServerHandle } from '@modelcontextprotocol/server/stdio';
import type { ApprovalsClient } from './approvalsClient.js';
import { createMcpServer } from './createMcpServer.js';

/**
 * The streamable-HTTP endpoint `/mcp`, serving both the 2026-07-28 (stateless, per-request)
 * revision and 2025-era clients (stateless legacy fallback). `clientFor` gives the approvals
 * client of the authenticated agent.
 */
export function createMcpHttpEndpoint(
  clientFor: (agent: { agentId: string; keyId: string }) => ApprovalsClient,
  onerror?: (error: Error) => void,
): {
  fetch(request: Request, agent: { agentId: string; keyId: string; token: string }): Promise<Response>;
  close(): Promise<void>;
} {
  const handler = createMcpHandler(
    (ctx) => {
      const extra = ctx.authInfo?.extra as { agentId: string; keyId: string } | undefined;
      if (!extra) throw new Error('MCP request without an authenticated agent');
      return createMcpServer(clientFor(extra));
    },
    { legacy: 'stateless', ...(onerror ? { onerror } : {}) },
  );
  return {
    fetch: (request, agent) =>
      handler.fetch(request, {
        authInfo: { token: agent.token, clientId: agent.agentId, scopes: [], extra: { agentId: agent.agentId, keyId: agent.keyId } },
      }),
    close: () => handler.close(),
  };
}

/**
 * Serves the approval tools over stdio (both protocol eras). Nothing but MCP is written to
 * stdout.
 */
export function serveMcpStdio(client: ApprovalsClient, onerror?: (error: Error) => void): StdioServerHandle {
  return serveStdio(() => createMcpServer(client), onerror ? { onerror } : {});
}
