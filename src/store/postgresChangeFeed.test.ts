import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../test/support/postgres.mjs';
import type { ChangeNotice } from '../core/changeFeed.js';
import { loadOrCreateReceiptKey, loadOrCreateSigningSecret } from '../crypto/signingKeys.js';
import { ApprovalService } from '../service/approvalService.js';
import { openPostgresChangeFeed, type PostgresChangeFeed } from './postgresChangeFeed.js';
import { openSqliteStore } from './sqliteStore.js';
import type { Store } from './store.js';

// Two servers' change feeds on one real PostgreSQL database (a throwaway cluster). The requests
// themselves sit in one SQLite file both servers open: the feed does not care which store holds
// the truth, only that both read the same one.

let cluster: ThrowawayPostgres;
let url: string;
let admin: pg.Client;
let feeds: PostgresChangeFeed[];

beforeAll(async () => {
  cluster = await startThrowawayPostgres();
  url = await cluster.createDatabase();
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await cluster?.stop();
});

beforeEach(() => {
  feeds = [];
});

afterEach(async () => {
  for (const feed of feeds) await feed.close();
});

async function openFeed(
  options: { reconnectDelayMs?: number } = {},
): Promise<{ feed: PostgresChangeFeed; heard: ChangeNotice[]; gaps: { count: number } }> {
  const feed = openPostgresChangeFeed({ url, ...options });
  feeds.push(feed);
  const heard: ChangeNotice[] = [];
  const gaps = { count: 0 };
  feed.onRemoteChange((notice) => heard.push(notice));
  feed.onGap(() => (gaps.count += 1));
  await expect.poll(() => feed.backendPid).not.toBeNull();
  return { feed, heard, gaps };
}

async function kill(feed: PostgresChangeFeed): Promise<number> {
  const pid = feed.backendPid!;
  const result = await admin.query<{ killed: boolean }>(
    'SELECT pg_terminate_backend($1) AS killed',
    [pid],
  );
  expect(result.rows[0]?.killed).toBe(true);
  return pid;
}

describe('openPostgresChangeFeed', () => {
  it('delivers every one of 250 notices published at once, in the order published', async () => {
    const a = await openFeed();
    const b = await openFeed();
    const sent = Array.from({ length: 250 }, (_, i) => ({
      type: 'decided' as const,
      id: `pa_${i}`,
    }));
    for (const notice of sent) a.feed.publish(notice);
    await expect.poll(() => b.heard.length).toBe(250);
    expect(b.heard).toEqual(sent);
    expect(a.heard).toEqual([]);
  });

  it('tells every other server’s feed, never the sender’s own, and ignores foreign payloads', async () => {
    const a = await openFeed();
    const b = await openFeed();
    a.feed.publish({ type: 'decided', id: 'pa_1' });
    await expect.poll(() => b.heard).toEqual([{ type: 'decided', id: 'pa_1' }]);
    b.feed.publish({ type: 'created', id: 'pa_2' });
    // Notifications reach a listener in commit order: had A heard its own, it would come first.
    await expect.poll(() => a.heard).toEqual([{ type: 'created', id: 'pa_2' }]);

    await admin.query(`NOTIFY loopgate_changes, 'not json'`);
    await admin.query(`NOTIFY loopgate_changes, '{"type":"approved-all","id":"pa_3"}'`);
    await admin.query(`NOTIFY loopgate_changes, '{"type":"cancelled","id":"pa_4"}'`);
    await expect.poll(() => b.heard.length).toBe(2);
    expect(b.heard.at(-1)).toEqual({ type: 'cancelled', id: 'pa_4' });
    // A's connection may hear it a moment after B's.
    await expect
      .poll(() => a.heard)
      .toEqual([
        { type: 'created', id: 'pa_2' },
        { type: 'cancelled', id: 'pa_4' },
      ]);
  });

  it('reconnects after its connection is killed, reports the gap, and hears notices again', async () => {
    const a = await openFeed();
    const b = await openFeed();
    const old = await kill(a.feed);
    await expect.poll(() => a.gaps.count).toBe(1);
    expect(a.feed.backendPid).not.toBeNull();
    expect(a.feed.backendPid).not.toBe(old);
    b.feed.publish({ type: 'decided', id: 'pa_5' });
    await expect.poll(() => a.heard).toEqual([{ type: 'decided', id: 'pa_5' }]);
    expect(b.gaps.count).toBe(0);
  });
});

describe('ApprovalService over a PostgreSQL change feed', () => {
  let dir: string;
  let stores: Store[];
  let services: ApprovalService[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'loopgate-pgfeed-'));
    stores = [];
    services = [];
  });

  afterEach(async () => {
    for (const service of services) service.stop();
    for (const store of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startServer(feed: PostgresChangeFeed, recheckIntervalMs: number) {
    const store = openSqliteStore(join(dir, 'loopgate.db'));
    stores.push(store);
    const service = new ApprovalService({
      store,
      receiptKey: await loadOrCreateReceiptKey(dir),
      signingSecret: loadOrCreateSigningSecret(dir),
      publicUrl: 'http://localhost:7878',
      changeFeed: feed,
      recheckIntervalMs,
    });
    services.push(service);
    return service;
  }

  async function waitOnAandDecideOnB(
    a: ApprovalService,
    b: ApprovalService,
    between: () => Promise<void> = async () => undefined,
  ) {
    const record = await a.createApproval(
      { action_description: 'Deploy to production', action_details: {} },
      'claude',
    );
    const waiting = a.waitForDecision(record.id, { maxWaitMs: 50_000 });
    await expect.poll(() => a.activeWaits).toBe(1);
    await between();
    await b.decide(record.id, { decision: 'approved', responder: 'alice', channel: 'web' });
    return waiting;
  }

  it('wakes a waiter on server A when server B decides, through NOTIFY alone', async () => {
    const hour = 3_600_000;
    const a = await startServer((await openFeed()).feed, hour);
    const b = await startServer((await openFeed()).feed, hour);
    // No re-read within the 50 s wait: only the notification can wake it.
    const woken = await waitOnAandDecideOnB(a, b);
    expect(woken.status).toBe('responded');
  });

  it('wakes the waiter through the periodic re-read while A’s listening connection is down', async () => {
    // A stays disconnected for an hour once killed: the notice of B's decision is lost.
    const aFeed = await openFeed({ reconnectDelayMs: 3_600_000 });
    const a = await startServer(aFeed.feed, 50);
    const b = await startServer((await openFeed()).feed, 50);
    const woken = await waitOnAandDecideOnB(a, b, async () => {
      await kill(aFeed.feed);
      await expect.poll(() => aFeed.feed.backendPid).toBeNull();
    });
    expect(woken.status).toBe('responded');
    expect(aFeed.heard).toEqual([]);
    expect(aFeed.feed.backendPid).toBeNull();
  });

  it('wakes the waiter after A’s listening connection was killed and came back', async () => {
    const hour = 3_600_000;
    const aFeed = await openFeed();
    const a = await startServer(aFeed.feed, hour);
    const b = await startServer((await openFeed()).feed, hour);
    const woken = await waitOnAandDecideOnB(a, b, async () => {
      await kill(aFeed.feed);
    });
    // Either the notice reached the new connection or the gap's re-read found the decision.
    expect(woken.status).toBe('responded');
    await expect.poll(() => aFeed.gaps.count).toBe(1);
  });
});
