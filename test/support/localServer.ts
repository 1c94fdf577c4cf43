import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startServer, type RunningServer } from '../../src/cli/startServer.js';
import type { z } from 'zod';
import { configSchema } from '../../src/config/configSchema.js';
import type { OperatorRecord } from '../../src/core/records.js';

/** A real `loopgate serve` in this process, with its own data dir and default admin. */
export interface LocalServer {
  server: RunningServer;
  dataDir: string;
  /** The operator every new data dir starts with. */
  admin: OperatorRecord;
  /** Stops the server and removes its data dir. */
  close(): Promise<void>;
}

/**
 * Starts the whole server (SQLite in a fresh temp dir named `loopgate-<name>-…`) on a port the
 * system picks. A loopback server announces itself as `http://localhost:<port>`, the origin
 * browsers accept as a WebAuthn relying party. `config` adds or overrides settings.
 */
export async function startLocalServer(
  name: string,
  config: Partial<z.input<typeof configSchema>> = {},
): Promise<LocalServer> {
  const dataDir = mkdtempSync(join(tmpdir(), `loopgate-${name}-`));
  try {
    const server = await startServer(
      configSchema.parse({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent', ...config }),
      pino({ level: 'silent' }),
    );
    const admin = (await server.store.getOperatorByName('admin'))!;
    return {
      server,
      dataDir,
      admin,
      close: async () => {
        await server.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}
