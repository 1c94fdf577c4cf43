import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRecordingServer, type RecordingServer } from '../channels/testing/recordingServer.js';
import { startSmtpCatcher, type SmtpCatcher } from '../channels/testing/smtpCatcher.js';
import { startNotifications, type RunningNotifications } from '../cli/notificationsSetup.js';
import { loadOrCreateReceiptKey, loadOrCreateSigningSecret } from '../crypto/signingKeys.js';
import { openSqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';
import { ApprovalService, type ApprovalChange } from './approvalService.js';
import { createMemoryChangeFeedHub, type MemoryChangeFeedHub } from './testing/memoryChangeFeed.js';
import { WebhookOutbox } from './webhookOutbox.js';

// Two servers of one deployment: two ApprovalService instances, each with its own connection to
// one SQLite file, linked by an in-memory change feed that can lose notices. Webhooks go to a
// local receiver, mail to a real SMTP server; the clock is the test's.

const minute = 60_000;
const hour = 60 * minute;

interface Server {
  store: Store;
  service: ApprovalService;
  /** Every change this server's live pages were told about. */
  seen: ApprovalChange[];
}

let dir: string;
let hub: MemoryChangeFeedHub;
let clock: { now: number };
let servers: Server[];
let running: RunningNotifications[];
let receiver: RecordingServer;
let smtp: SmtpCatcher;

async function startServer(recheckIntervalMs = hour): Promise<Server> {
  const store = openSqliteStore(join(dir, 'loopgate.db'));
  const service = new ApprovalService({
    store,
    receiptKey: await loadOrCreateReceiptKey(dir),
    signingSecret: loadOrCreateSigningSecret(dir),
    publicUrl: 'http://localhost:7878',
    changeFeed: hub.connect(),
    recheckIntervalMs,
    now: () => clock.now,
  });
  const server: Server = { store, service, seen: [] };
  service.subscribe((change) => server.seen.push(change));
  servers.push(server);
  return server;
}

async function startRouter(server: Server): Promise<RunningNotifications> {
  const notifications = await startNotifications(
    {
      smtpUrl: `smtp://mailer:secret@127.0.0.1:${smtp.port}`,
      emailFrom: 'Loopgate <approvals@example.com>',
      fallbackAfterMinutes: 10,
      reminderBeforeMinutes: 15,
      escalateAfterMinutes: 30,
      agentNotificationsPerHour: 1_000,
    },
    {
      store: server.store,
      service: server.service,
      publicUrl: 'http://localhost:7878',
      logger: pino({ level: 'silent' }),
      now: () => clock.now,
      manualTimers: true,
    },
  );
  running.push(notifications);
  return notifications;
}

function request(server: Server, overrides: Record<string, unknown> = {}) {
  return server.service.createApproval(
    {
      action_description: 'Send $420 to ACME Corp',
      action_details: { amount: '420' },
      ...overrides,
    },
    'claude',
    undefined,
    { timeoutMs: hour },
  );
}

function webhookTypes(): string[] {
  return receiver.requests.map((r) => (JSON.parse(r.body) as { type: string }).type);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loopgate-servers-'));
  hub = createMemoryChangeFeedHub();
  clock = { now: Date.now() };
  servers = [];
  running = [];
  receiver = await startRecordingServer(() => ({ status: 204, body: '' }));
  smtp = await startSmtpCatcher('mailer', 'secret');
});

afterEach(async () => {
  for (const notifications of running) await notifications.close();
  for (const server of servers) {
    server.service.stop();
    await server.store.close();
  }
  await receiver.close();
  await smtp.close();
  rmSync(dir, { recursive: true, force: true });
});

async function addWebhookEndpoint(store: Store): Promise<void> {
  await store.createWebhookEndpoint({
    id: 'wh_1',
    url: `${receiver.origin}/hook`,
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    events: ['request.created', 'request.decided', 'request.expired'],
    createdAt: clock.now,
    disabledAt: null,
  });
}

describe('several servers on one database', () => {
  it('wakes a waiter on server A the moment server B stores the decision, and A’s live pages see it', async () => {
    const a = await startServer();
    const b = await startServer();
    const record = await request(a);
    // The recheck floor is an hour away and the wait bound 50 s: only the feed can wake it.
    const waiting = a.service.waitForDecision(record.id, { maxWaitMs: 50_000 });
    await expect.poll(() => a.service.activeWaits).toBe(1);
    await b.service.decide(record.id, { decision: 'approved', responder: 'alice', channel: 'web' });
    const woken = await waiting;
    expect(woken.status).toBe('responded');
    expect(woken.response?.responder).toBe('alice');
    expect(a.seen.map((c) => [c.type, c.origin, c.record.status])).toEqual([
      ['created', 'local', 'pending'],
      ['decided', 'remote', 'responded'],
    ]);
    expect(b.seen.map((c) => [c.type, c.origin])).toEqual([
      ['created', 'remote'],
      ['decided', 'local'],
    ]);
    // A notice holds the change type and the id, nothing of the request itself.
    expect(hub.published).toEqual([
      { type: 'created', id: record.id },
      { type: 'decided', id: record.id },
    ]);
  });

  it('still wakes the waiter when the notice is lost: the periodic re-read finds the decision', async () => {
    const a = await startServer(20);
    const b = await startServer(20);
    const record = await request(a);
    const waiting = a.service.waitForDecision(record.id, { maxWaitMs: 50_000 });
    await expect.poll(() => a.service.activeWaits).toBe(1);
    hub.dropping = true;
    await b.service.decide(record.id, { decision: 'rejected', responder: 'bob', channel: 'web' });
    const woken = await waiting;
    expect(woken.status).toBe('responded');
    expect(woken.response?.decision).toBe('rejected');
    expect(a.seen.at(-1)).toMatchObject({ type: 'decided', origin: 'remote' });
    expect(a.service.activeWaits).toBe(0);
  });

  it('re-reads the awaited requests at once when the feed reports a gap', async () => {
    const a = await startServer();
    const b = await startServer();
    const record = await request(a);
    const waiting = a.service.waitForDecision(record.id, { maxWaitMs: 50_000 });
    await expect.poll(() => a.service.activeWaits).toBe(1);
    hub.dropping = true;
    await b.service.cancel(record.id, 'agent:claude');
    hub.dropping = false;
    hub.reportGap();
    expect((await waiting).status).toBe('expired');
  });

  it('sends the webhooks of a change only from the server that stored it', async () => {
    const a = await startServer();
    const b = await startServer();
    await addWebhookEndpoint(a.store);
    const routers = [await startRouter(a), await startRouter(b)];
    const record = await request(a);
    await b.service.decide(record.id, { decision: 'approved', responder: 'alice', channel: 'web' });
    // Both servers heard both changes (the live pages show them)…
    await expect.poll(() => a.seen.length).toBe(2);
    await expect.poll(() => b.seen.length).toBe(2);
    for (const r of routers) await r.router.idle();
    // …and each event went out once.
    expect(webhookTypes()).toEqual(['request.created', 'request.decided']);
    expect(await a.store.listWebhookMessages({ limit: 10 })).toHaveLength(2);
  });

  it('mails a new request once, and its reminder once, however many servers sweep', async () => {
    const a = await startServer();
    const b = await startServer();
    const routers = [await startRouter(a), await startRouter(b)];
    const record = await request(a, { recipient_email: 'bob@example.com' });
    for (const r of routers) await r.router.idle();
    expect((await smtp.nextMail()).subject).toBe('Approval needed: Send $420 to ACME Corp');
    clock.now += 45 * minute;
    await Promise.all(routers.flatMap((r) => [r.router.sweep(), r.router.sweep()]));
    expect((await smtp.nextMail()).subject).toBe(
      'Reminder: approval needed: Send $420 to ACME Corp',
    );
    await Promise.all(routers.map((r) => r.router.sweep()));
    expect(smtp.mails).toHaveLength(2);
    const reminders = (await b.store.listNotificationDeliveries({ pauseId: record.id, limit: 10 }))
      .filter((d) => d.kind === 'reminder')
      .map((d) => [d.channel, d.status]);
    expect(reminders).toEqual([['email', 'sent']]);
  });

  it('tells a timeout once: only the server whose expiry won notifies', async () => {
    const a = await startServer();
    const b = await startServer();
    await addWebhookEndpoint(a.store);
    const routers = [await startRouter(a), await startRouter(b)];
    const record = await request(a);
    clock.now += hour;
    const local: ApprovalChange[] = [];
    for (const s of [a, b]) s.service.subscribeLocal((change) => local.push(change));
    await Promise.all([a.service.expireDue(), b.service.expireDue(), a.service.expireDue()]);
    for (const r of routers) await r.router.idle();
    expect(local.map((c) => [c.type, c.record.id])).toEqual([['timed_out', record.id]]);
    expect(webhookTypes()).toEqual(['request.created', 'request.expired']);
  });

  it('attempts a due webhook retry from one server only', async () => {
    const a = await startServer();
    const b = await startServer();
    await addWebhookEndpoint(a.store);
    receiver.handler = () => ({ status: 503, body: 'busy' });
    const outboxes = [a, b].map(
      (s) => new WebhookOutbox({ store: s.store, now: () => clock.now, random: () => 0.5 }),
    );
    const record = await a.store.getApproval((await request(a)).id);
    await outboxes[0]!.publish('request.created', a.service.view(record!));
    expect(receiver.requests).toHaveLength(1);
    receiver.handler = () => ({ status: 204, body: '' });
    clock.now += 5_000;
    const attempts = await Promise.all(outboxes.flatMap((o) => [o.runDue(), o.runDue()]));
    expect(attempts.reduce((sum, n) => sum + n, 0)).toBe(1);
    expect(receiver.requests).toHaveLength(2);
    expect(await b.store.listWebhookMessages({ limit: 10 })).toEqual([
      expect.objectContaining({ status: 'delivered', attempts: 2 }),
    ]);
  });
});
