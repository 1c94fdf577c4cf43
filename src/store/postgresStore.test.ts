import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { findBrokenAuditEntry } from '../core/auditChain.js';
import { isLoopgateError } from '../core/errors.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../test/support/postgres.mjs';
import { copySqliteToPostgres } from './copySqliteToPostgres.js';
import { migratePostgresDatabase, openPostgresStore } from './postgresStore.js';
import { openSqliteStore } from './sqliteStore.js';
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

describe('copySqliteToPostgres', () => {
  it('moves a SQLite data dir into an empty database, audit chain and all, and refuses a second copy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopgate-copy-'));
    const path = join(dir, 'loopgate.db');
    const sqlite = openSqliteStore(path);
    const t0 = Date.UTC(2026, 10, 20, 10, 0, 0);
    const audit = (type: string, requestId: string | null = null) => ({
      type,
      requestId,
      actor: 'test',
      data: { n: 1 },
    });
    const admin = await sqlite.ensureOperator({
      id: 'op_a',
      name: 'admin',
      role: 'admin',
      now: t0,
    });
    await sqlite.ensureOperator({ id: 'op_b', name: 'bob', role: 'approver', now: t0 + 1 });
    await sqlite.createAgentKey({
      id: 'key_1',
      name: 'claude',
      scope: 'agent',
      keyHash: 'h1',
      prefix: 'lg_ab',
      createdAt: t0,
      revokedAt: null,
      lastUsedAt: null,
    });
    await sqlite.saveTotpEnrollment({
      operatorId: admin.id,
      secretEncrypted: 'v1.x',
      enrolledAt: t0,
    });
    await sqlite.updateTotpState(admin.id, (row) => ({
      state: { ...row.state, lastUsedStep: 42, consecutiveFailures: 2 },
      result: null,
    }));
    await sqlite.saveWebAuthnCredential({
      id: 'cred-1',
      operatorId: admin.id,
      publicKey: new Uint8Array([1, 2, 3, 250]),
      counter: 7,
      transports: ['internal'],
      name: 'laptop',
      createdAt: t0,
      lastUsedAt: null,
      flaggedAt: null,
    });
    await sqlite.linkOperatorContact({
      operatorId: admin.id,
      kind: 'email',
      value: 'a@example.com',
      now: t0,
    });
    await sqlite.createWebhookEndpoint({
      id: 'wh_1',
      url: 'https://example.com/hook',
      secret: 'whsec_x',
      events: ['request.created'],
      createdAt: t0,
      disabledAt: null,
    });
    for (let i = 0; i < 30; i += 1) {
      const id = `pa_${i}`;
      await sqlite.createApproval(
        {
          id,
          agentId: 'claude',
          status: 'pending',
          actionDescription: `Send $${i} to ACME`,
          actionDetails: { amount: String(i), note: 'ünïcode ✓' },
          fields: [],
          recipientEmail: null,
          recipientSlack: null,
          actionHash: 'a'.repeat(64),
          createdAt: t0 + i,
          expiresAt: t0 + 3_600_000,
          updatedAt: t0 + i,
          response: null,
          receipt: null,
          gate: { type: 'approve' },
          toolName: 'transfer',
          consumedAt: null,
          votes: [],
        },
        audit('approval.created', id),
      );
      await sqlite.saveWebhookMessage({
        msgId: `msg_${i}`,
        endpointId: 'wh_1',
        eventType: 'request.created',
        event: { id: `msg_${i}`, type: 'request.created', timestamp: 'x', data: { i } },
        status: 'delivered',
        attempts: 1,
        firstAttemptAt: t0,
        nextAttemptAt: null,
        lastStatus: 204,
        lastError: null,
        updatedAt: t0, // equal times: the copy must keep insertion order for ties
      });
    }
    await sqlite.recordDecision(
      'pa_3',
      {
        response: {
          pauseId: 'pa_3',
          actionHash: 'a'.repeat(64),
          decision: 'approved',
          comment: '',
          fields: {},
          responder: 'admin',
          respondedAt: t0 + 100,
          channel: 'web',
          nonce: 'n',
          signature: 'sha256=00',
        },
        receipt: 'jws',
        now: t0 + 100,
      },
      audit('approval.decided', 'pa_3'),
    );
    await sqlite.consumeApproval('pa_3', t0 + 200, audit('approval.consumed', 'pa_3'));
    await sqlite.cancelApproval('pa_4', t0 + 300, audit('approval.cancelled', 'pa_4'));
    await sqlite.appendAudit(audit('operator.signed_in'), t0 + 400);
    const perMinute = { limit: 5, windowMs: 60_000 };
    for (let i = 0; i < 8; i += 1) {
      await sqlite.admitNotification('slack:#approvals', `pa_${i}`, t0 + 500, perMinute);
    }

    const url = await cluster.createDatabase();
    const counts = await copySqliteToPostgres(path, url);
    expect(counts).toMatchObject({ approvals: 30, audit_log: 34, operators: 2 });
    const copy = await openPostgresStore(url);
    try {
      const chain = await copy.listAuditEntries();
      expect(chain).toEqual(await sqlite.listAuditEntries());
      expect(findBrokenAuditEntry(chain)).toBeNull();
      expect(await copy.listApprovals({ limit: 100 })).toEqual(
        await sqlite.listApprovals({ limit: 100 }),
      );
      expect(await copy.listAgentKeys()).toEqual(await sqlite.listAgentKeys());
      expect(await copy.listOperators()).toEqual(await sqlite.listOperators());
      expect(await copy.getTotpEnrollment(admin.id)).toEqual(
        await sqlite.getTotpEnrollment(admin.id),
      );
      expect(await copy.listWebAuthnCredentials(admin.id)).toEqual(
        await sqlite.listWebAuthnCredentials(admin.id),
      );
      expect(await copy.findOperatorByContact('email', 'a@example.com')).toEqual(admin);
      // The limit's count and the held digest move too.
      expect(await copy.nextDigestDueAt(t0 + 501, perMinute)).toBe(t0 + 60_500);
      expect(await copy.takeDueDigests(t0 + 60_500, perMinute)).toEqual([
        { recipient: 'slack:#approvals', pauseIds: ['pa_5', 'pa_6', 'pa_7'] },
      ]);
      expect(await copy.listWebhookEndpoints()).toEqual(await sqlite.listWebhookEndpoints());
      expect(await copy.listWebhookMessages({ limit: 100 })).toEqual(
        await sqlite.listWebhookMessages({ limit: 100 }),
      );
      // The copy carries on the chain where SQLite left it.
      const next = await copy.appendAudit(audit('store.copied'), t0 + 500);
      expect(next.seq).toBe(35);
      expect(findBrokenAuditEntry(await copy.listAuditEntries())).toBeNull();
    } finally {
      await copy.close();
      await sqlite.close();
    }
    const again = await copySqliteToPostgres(path, url).catch((error: unknown) => error);
    expect(isLoopgateError(again, 'E_STORE_COPY_TARGET_NOT_EMPTY')).toBe(true);
    expect((again as Error).message).not.toContain(cluster.password);
    rmSync(dir, { recursive: true, force: true });
  });
});
