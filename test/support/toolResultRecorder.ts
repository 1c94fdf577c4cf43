import { AjvJsonSchemaValidator } from '@modelcontextprotocol/client/validators/ajv';

/** The part of an MCP transport the recorder wraps (v1 and v2 SDK transports alike). */
interface WrappableTransport {
  send(message: unknown, options?: unknown): Promise<void>;
  onmessage?: ((message: never, extra?: never) => void) | undefined;
}

/** A client that can list tools (v1 and v2 SDK clients alike). */
interface ListingClient {
  listTools(): Promise<{ tools: { name: string; outputSchema?: unknown }[] }>;
}

interface Recorded {
  tool: string;
  via: 'tools/call' | 'tasks/result';
  result: { isError?: boolean; structuredContent?: unknown };
}

/**
 * Watches a connected client's transport like a strict client would: every `tools/call` result
 * and every `tasks/result` (the result of a tool run as a task) that carries `structuredContent`
 * is checked, error results included, against the `outputSchema` the tool declared in
 * `tools/list` (JSON Schema, checked with ajv). Call after `client.connect(transport)`.
 * `violations()` lists what failed (empty when every structured result fits); a tool that
 * declares no outputSchema is not checked (nothing describes its results).
 */
export function recordToolResults(client: ListingClient, transport: WrappableTransport) {
  const calls = new Map<string | number, { method: string; tool?: string; taskId?: string }>();
  const taskTools = new Map<string, string>();
  const recorded: Recorded[] = [];

  const send = transport.send.bind(transport);
  transport.send = (message: unknown, options?: unknown) => {
    const m = message as {
      id?: string | number;
      method?: string;
      params?: Record<string, unknown>;
    };
    if (m.id !== undefined && m.method === 'tools/call')
      calls.set(m.id, { method: m.method, tool: m.params?.['name'] as string });
    if (m.id !== undefined && m.method === 'tasks/result')
      calls.set(m.id, { method: m.method, taskId: m.params?.['taskId'] as string });
    return send(message, options);
  };

  const onmessage = transport.onmessage;
  if (!onmessage) throw new Error('recordToolResults: connect the client first');
  transport.onmessage = ((message: never, extra?: never) => {
    const m = message as { id?: string | number; result?: Record<string, unknown> };
    const call = m.id !== undefined && m.result ? calls.get(m.id) : undefined;
    if (call && m.result) {
      calls.delete(m.id!);
      const task = m.result['task'] as { taskId?: string } | undefined;
      if (call.method === 'tools/call' && task?.taskId) taskTools.set(task.taskId, call.tool!);
      else if (call.method === 'tools/call')
        recorded.push({ tool: call.tool!, via: 'tools/call', result: m.result });
      else if (call.taskId && taskTools.has(call.taskId))
        recorded.push({ tool: taskTools.get(call.taskId)!, via: 'tasks/result', result: m.result });
    }
    onmessage(message, extra);
  }) as typeof transport.onmessage;

  return {
    /** Every tool result seen so far. */
    recorded,
    /** What a strict client would refuse: `"<tool> (<via>): <why>"` per structured result. */
    async violations(): Promise<string[]> {
      const { tools } = await client.listTools();
      const schemas = new Map(tools.map((t) => [t.name, t.outputSchema]));
      const ajv = new AjvJsonSchemaValidator();
      const out: string[] = [];
      for (const { tool, via, result } of recorded) {
        const schema = schemas.get(tool);
        if (schema === undefined || result.structuredContent === undefined) continue;
        const check = ajv.getValidator(schema as never)(result.structuredContent);
        if (!check.valid)
          out.push(
            `${tool} (${via}${result.isError ? ', isError' : ''}): ${check.errorMessage} in ${JSON.stringify(result.structuredContent)}`,
          );
      }
      return out;
    },
  };
}
