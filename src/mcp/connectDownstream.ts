import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { LoopgateError } from '../core/errors.js';
import { serverInfo } from './createMcpServer.js';

/**
 * Connects the gateway to the MCP server it wraps: a command it spawns over stdio (its stderr
 * passes through to ours), or a streamable-HTTP URL. The command gets `env` in full; without
 * it, the SDK passes only a short default list (HOME, PATH, USER…), so a server's own
 * credentials (GITHUB_TOKEN…) would never arrive.
 * @throws LoopgateError E_GATEWAY_DOWNSTREAM when it cannot be started or does not speak MCP
 */
export async function connectDownstream(
  target: { command: string[]; env?: Record<string, string> } | { url: string },
): Promise<Client> {
  const client = new Client({ name: `${serverInfo.name}-proxy`, version: serverInfo.version });
  const described = 'url' in target ? target.url : target.command.join(' ');
  try {
    if ('url' in target) {
      await client.connect(new StreamableHTTPClientTransport(new URL(target.url)));
    } else {
      const [command, ...args] = target.command;
      if (!command) throw new Error('no command given');
      await client.connect(
        new StdioClientTransport({
          command,
          args,
          stderr: 'inherit',
          ...(target.env ? { env: target.env } : {}),
        }),
      );
    }
  } catch (cause) {
    throw new LoopgateError(
      'E_GATEWAY_DOWNSTREAM',
      `Could not start or connect to the MCP server "${described}": ${(cause as Error).message}`,
      { cause },
    );
  }
  return client;
}
