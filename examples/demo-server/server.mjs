#!/usr/bin/env node
// A tiny MCP server for trying loopgate's gateway: get_color is harmless, get_weather is what
// examples/policy.yaml gates with an authenticator code.
//   loopgate proxy --policy examples/policy.yaml -- node examples/demo-server/server.mjs
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';

const forecasts = { paris: 'Sunny, 21 °C', berlin: 'Light rain, 14 °C', tokyo: 'Cloudy, 18 °C' };

serveStdio(() => {
  const server = new McpServer({ name: 'demo-server', version: '1.0.0' });
  server.registerTool(
    'get_color',
    { description: 'Returns the color of the day.', inputSchema: z.object({}) },
    async () => ({ content: [{ type: 'text', text: 'Dark Blue' }] }),
  );
  server.registerTool(
    'get_weather',
    {
      description: 'Returns the weather forecast for a city.',
      inputSchema: z.object({ city: z.string().describe('City name, e.g. Paris') }),
    },
    async ({ city }) => ({
      content: [
        {
          type: 'text',
          text: `Weather in ${city}: ${forecasts[city.toLowerCase()] ?? 'Clear, 17 °C'}`,
        },
      ],
    }),
  );
  return server;
});
