import { tasksExtensionId } from '../../src/mcp/waitTasks.js';

/** A JSON-RPC answer as the tests read it. */
export type Rpc = {
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
};

let nextId = 1;

/**
 * One 2026-07-28 request to `${baseUrl}/mcp` as the wire carries it (the per-request `_meta`
 * envelope, the `Mcp-Method` / `Mcp-Name` routing headers of SEP-2243), from a client that
 * declares the tasks extension (SEP-2663) unless `declares` is false. The MCP SDK clients cannot
 * read a `CreateTaskResult` yet, so this is the tests' client for it. `via` sends the request
 * somewhere other than the network (e.g. an in-process handler). Reads a JSON or an SSE answer.
 */
export async function modernRpc(
  baseUrl: string,
  key: string,
  method: string,
  params: Record<string, unknown>,
  options: { declares?: boolean; via?: (request: Request) => Promise<Response> } = {},
): Promise<Rpc> {
  const capabilities = options.declares === false ? {} : { extensions: { [tasksExtensionId]: {} } };
  const send = options.via ?? fetch;
  const response = await send(
    new Request(`${baseUrl}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': method,
        ...(method === 'tools/call' ? { 'mcp-name': params['name'] as string } : {}),
        ...(method.startsWith('tasks/') ? { 'mcp-name': params['taskId'] as string } : {}),
        authorization: `Bearer ${key}`,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: nextId++,
        method,
        params: {
          ...params,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientInfo': { name: 'loopgate-tests', version: '1.0.0' },
            'io.modelcontextprotocol/clientCapabilities': capabilities,
          },
        },
      }),
    }),
  );
  const text = await response.text();
  if (!(response.headers.get('content-type') ?? '').includes('text/event-stream'))
    return JSON.parse(text) as Rpc;
  const events = text
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => JSON.parse(line.slice(5)) as Rpc);
  const answer = events.find((event) => 'result' in event || 'error' in event);
  if (!answer) throw new Error(`no JSON-RPC answer to ${method} in the SSE stream`);
  return answer;
}
