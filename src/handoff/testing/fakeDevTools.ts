import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** One command a client sent to {@link startFakeDevTools}. */
export interface FakeCommand {
  method: string;
  params: Record<string, unknown>;
  sessionId?: string;
}

/** A DevTools endpoint for the cases a real Chromium will not produce on demand. */
export interface FakeDevTools {
  /** `ws://127.0.0.1:<port>/devtools/browser/fake` */
  browserWsUrl: string;
  /** Every command received, in order. */
  commands: FakeCommand[];
  /** Sends an event to every connected client (`sessionId` for a flat-mode target's event). */
  emit(method: string, params: Record<string, unknown>, sessionId?: string): void;
  close(): Promise<void>;
}

/**
 * Starts a DevTools WebSocket endpoint on 127.0.0.1, port 0, that answers each command with
 * `answer(command)`'s result, or never when it returns `'never'` (as Chromium does for a command
 * whose page closed while it ran).
 */
export async function startFakeDevTools(
  answer: (command: FakeCommand) => Record<string, unknown> | 'never',
): Promise<FakeDevTools> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const commands: FakeCommand[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as FakeCommand & { id: number };
      const command: FakeCommand = { method: msg.method, params: msg.params };
      if (msg.sessionId !== undefined) command.sessionId = msg.sessionId;
      commands.push(command);
      const result = answer(command);
      if (result !== 'never') ws.send(JSON.stringify({ id: msg.id, result }));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    browserWsUrl: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/devtools/browser/fake`,
    commands,
    emit(method, params, sessionId) {
      const message = sessionId === undefined ? { method, params } : { method, params, sessionId };
      for (const client of wss.clients) client.send(JSON.stringify(message));
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
