import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { isLoopgateError } from '../core/errors.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../test/support/postgres.js';
import { migratePostgresDatabase, openPostgresStore } from './postgresStore.js';
import { postgresMigrations } from './postgresMigrations.js';
import type { Store } from './store.js';
import { describeStoreContract } from './testing/storeContract.js';

let cluster: ThrowawayPostgres;
beforeAll(async () => {
  cluster = await startThrowawayPostgres();
});
afterAll(async () => {
  await cluster?.stop();
});

describeStoreContract('PostgreSQL', async () => {
  const url = await cluster.createDatabase();
  let current = await openPostgresStore(url);
  const others: Store[] = [];
  return {
    store: current,
    async reopen() {
      await current.close();
      current = await openPostgresStore(url);
      return current;
    },
    async openAnother() {
      // A second pool: its own connections, as a second server would have.
      const another = await openPostgresStore(url);
      others.push(another);
      return another;
    },
    async cleanup() {
      for (const another of others) await another.close();
      await current.close();
    },
  };
});

describe('openPostgresStore', () => {
  it('applies the migrations once when two servers start on one database at once', async () => {
    const url = await cluster.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(url)));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const rows = await client.query<{ version: number }>(
      'SELECT version FROM loopgate_migrations ORDER BY version',
    );
    await client.end();
    expect(rows.rows.map((r) => r.version)).toEqual(postgresMigrations.map((_, i) => i + 1));
    for (const store of stores) {
      expect(await store.checkReadiness()).toEqual({
        ok: true,
        schemaVersion: postgresMigrations.length,
      });
      await store.close();
    }
    expect(await migratePostgresDatabase(url)).toEqual({
      from: postgresMigrations.length,
      to: postgresMigrations.length,
    });
  });

  it('reports a schema that is behind as not ready, until `db migrate` brings it up to date', async () => {
    const url = await cluster.createDatabase();
    const store = await openPostgresStore(url, { applyMigrations: false });
    expect(await store.checkReadiness()).toMatchObject({
      ok: false,
      code: 'E_STORE_SCHEMA_OUTDATED',
      message: expect.stringMatching(/version 0.*loopgate db migrate/),
    });
    expect(await migratePostgresDatabase(url)).toEqual({ from: 0, to: postgresMigrations.length });
    expect(await store.checkReadiness()).toMatchObject({ ok: true });
    await store.close();
  });

  it('refuses a database made by a newer loopgate', async () => {
    const url = await cluster.createDatabase();
    await migratePostgresDatabase(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('INSERT INTO loopgate_migrations (version, applied_at) VALUES (99, 0)');
    await client.end();
    const caught = await openPostgresStore(url).catch((error: unknown) => error);
    expect(isLoopgateError(caught, 'E_STORE_MIGRATION')).toBe(true);
    expect((caught as Error).message).toMatch(/version 99.*Upgrade loopgate/);
  });

  it('never shows the password of a database it cannot use', async () => {
    const url = await cluster.createDatabase();
    const wrong = url.replace(cluster.password, 'not-the-Password-42');
    const caught = await openPostgresStore(wrong).catch((error: unknown) => error);
    expect(isLoopgateError(caught, 'E_STORE_UNREACHABLE')).toBe(true);
    const shown = `${(caught as Error).message} ${String((caught as Error).cause)}`;
    expect(shown).toMatch(/postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
    expect(shown).toMatch(/password authentication failed/);
    expect(shown).not.toContain('not-the-Password-42');
  });

  it('reports a database that stops answering as not ready', async () => {
    const url = await cluster.createDatabase();
    const store = await openPostgresStore(url);
    expect(await store.checkReadiness()).toMatchObject({ ok: true });
    // Close the database to new connections and drop the store's: it can no longer reach it.
    const name = new URL(url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: url.replace(`/${name}`, '/postgres') });
    await admin.connect();
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
      name,
    ]);
    await admin.end();
    const readiness = await store.checkReadiness();
    expect(readiness).toMatchObject({ ok: false, code: 'E_STORE_UNREACHABLE' });
    expect(JSON.stringify(readiness)).toContain('postgres:***@');
    expect(JSON.stringify(readiness)).not.toContain(cluster.password);
    await store.close().catch(() => undefined);
  });

  it('refuses a URL that is not postgres://, without echoing it', async () => {
    const caught = await openPostgresStore('mysql://root:hunter2hunter2@db/x').catch(
      (error: unknown) => error,
    );
    expect(isLoopgateError(caught, 'E_CONFIG_INVALID')).toBe(true);
    expect((caught as Error).message).not.toContain('hunter2');
  });
});
