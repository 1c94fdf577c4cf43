import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isLoopgateError } from '../core/errors.js';
import { openSqliteStore } from './sqliteStore.js';
import type { Store } from './store.js';
import { describeStoreContract } from './testing/storeContract.js';

describeStoreContract('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-store-'));
  const path = join(dir, 'loopgate.db');
  let current = openSqliteStore(path);
  const others: Store[] = [];
  return {
    store: current,
    async reopen() {
      await current.close();
      current = openSqliteStore(path);
      return current;
    },
    async openAnother() {
      // A second better-sqlite3 connection on the same file, as a second process would open.
      const another = openSqliteStore(path);
      others.push(another);
      return another;
    },
    async cleanup() {
      for (const another of others) await another.close();
      await current.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('openSqliteStore', () => {
  it('creates the database file readable by its owner only, in WAL mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopgate-store-'));
    const path = join(dir, 'sub', 'loopgate.db');
    const store = openSqliteStore(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a database made by a newer loopgate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopgate-store-'));
    const path = join(dir, 'loopgate.db');
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    let caught: unknown;
    try {
      openSqliteStore(path);
    } catch (err) {
      caught = err;
    }
    expect(isLoopgateError(caught, 'E_STORE_MIGRATION')).toBe(true);
    expect(String((caught as Error).message)).toMatch(/version 99.*Upgrade loopgate/);
    rmSync(dir, { recursive: true, force: true });
  });
});
