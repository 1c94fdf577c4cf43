import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateReceiptKey, loadOrCreateSigningSecret } from '../../crypto/signingKeys.js';
import { openSqliteStore } from '../../store/sqliteStore.js';
import type { Store } from '../../store/store.js';
import { ApprovalService } from '../approvalService.js';

/** The public URL the test service believes it is served at. */
export const harnessOrigin = 'http://localhost:7878';

/** One server's view of the harness's database: its own store connection and service. */
export interface HarnessServer {
  store: Store;
  service: ApprovalService;
}

/**
 * A real {@link ApprovalService} over a real SQLite store in a temp dir, with a clock the test
 * moves (`clock.now`, ms since the epoch). `restart()` closes the store and service and opens
 * them again on the same file (a server restart; `store` and `service` change); `openAnother()`
 * opens a second connection and service on the same file (a second server), closed by `close()`.
 */
export async function createServiceHarness(): Promise<
  HarnessServer & {
    clock: { now: number };
    now: () => number;
    restart(): Promise<HarnessServer>;
    openAnother(): Promise<HarnessServer>;
    close(): Promise<void>;
  }
> {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-notify-'));
  const path = join(dir, 'loopgate.db');
  const clock = { now: Date.UTC(2026, 10, 20, 10, 0, 0) };
  const now = () => clock.now;
  const receiptKey = await loadOrCreateReceiptKey(dir);
  const signingSecret = loadOrCreateSigningSecret(dir);
  const others: HarnessServer[] = [];
  function open(): HarnessServer {
    const store = openSqliteStore(path);
    const service = new ApprovalService({
      store,
      receiptKey,
      signingSecret,
      publicUrl: harnessOrigin,
      now,
    });
    return { store, service };
  }
  async function shut(server: HarnessServer): Promise<void> {
    server.service.stop();
    await server.store.close();
  }
  const harness = {
    ...open(),
    clock,
    now,
    async restart() {
      await shut(harness);
      Object.assign(harness, open());
      return { store: harness.store, service: harness.service };
    },
    async openAnother() {
      const another = open();
      others.push(another);
      return another;
    },
    async close() {
      for (const another of others) await shut(another);
      await shut(harness);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}
