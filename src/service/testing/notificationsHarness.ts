import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateReceiptKey, loadOrCreateSigningSecret } from '../../crypto/signingKeys.js';
import { openSqliteStore } from '../../store/sqliteStore.js';
import type { Store } from '../../store/store.js';
import { ApprovalService } from '../approvalService.js';

/** The public URL the test service believes it is served at. */
export const harnessOrigin = 'http://localhost:7878';

/**
 * A real {@link ApprovalService} over a real SQLite store in a temp dir, with a clock the test
 * moves (`clock.now`, ms since the epoch).
 */
export async function createServiceHarness(): Promise<{
  store: Store;
  service: ApprovalService;
  clock: { now: number };
  now: () => number;
  close(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-notify-'));
  const store = openSqliteStore(join(dir, 'loopgate.db'));
  const clock = { now: Date.UTC(2026, 10, 20, 10, 0, 0) };
  const now = () => clock.now;
  const service = new ApprovalService({
    store,
    receiptKey: await loadOrCreateReceiptKey(dir),
    signingSecret: loadOrCreateSigningSecret(dir),
    publicUrl: harnessOrigin,
    now,
  });
  return {
    store,
    service,
    clock,
    now,
    async close() {
      service.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
