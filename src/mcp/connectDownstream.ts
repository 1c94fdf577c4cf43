import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { LoopgateError } from '../core/errors.js';
import { serverInfo } from './createMcpServer.js';
import type { DownstreamTool } from './gatewayServer.js';

/** What {@link createDownstreamClient} reports. */
export interface DownstreamClientOptions {
  /** The wrapped server's whole tool list, re-read after it said the list changed. */
  onToolsChanged?: (tools: DownstreamTool[]) => void;
  /** The re-read failed; the gateway keeps the list it had. */
  onError?: (error: Error) => void;
}

/**
 * The gateway's client of the wrapped server, following `notifications/tools/list_changed`
 * (on a server that declares `tools.listChanged`): the SDK re-reads the whole list (debounced)
 * and hands it to `onToolsChanged`.
 */
export function createDownstreamClient(options: DownstreamClientOptions = {}): Client {
  return new Client(
    { name: `${serverInfo.name}-proxy`, version: serverInfo.version },
    {
      listChanged: {
        tools: {
          onChanged: (error, tools) => {
            if (error) options.onError?.(error);
            else if (tools) options.onToolsChanged?.(tools as DownstreamTool[]);
          },
        },
      },
    },
  );
}

/**
 * Connects the gateway to the MCP server it wraps: a command it spawns over stdio (its stderr
 * passes through to ours), or a streamable-HTTP URL. The command gets `env` in full; without
 * it, the SDK passes only a short default list (HOME, PATH, USER…), so a server's own
 * credentials (GITHUB_TOKEN…) would never arrive. When the wrapped server says its tools changed
 * (`notifications/tools/list_changed`, on a server that declares `tools.listChanged`), the SDK
 * re-reads the whole list and `onToolsChanged` gets it.
 * @throws LoopgateError E_GATEWAY_DOWNSTREAM when it cannot be started or does not speak MCP
 */
export async function connectDownstream(
  target: { command: string[]; env?: Record<string, string> } | { url: string },
  options: DownstreamClientOptions = {},
): Promise<Client> {
  const client = createDownstreamClient(options);
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
