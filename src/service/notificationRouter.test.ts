import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRecordingServer, type RecordingServer } from '../channels/testing/recordingServer.js';
import { startSmtpCatcher, type SmtpCatcher } from '../channels/testing/smtpCatcher.js';
import type { NotificationsConfig, RunningNotifications } from '../cli/notificationsSetup.js';
import { startNotifications } from '../cli/notificationsSetup.js';
import { createServiceHarness, type HarnessServer } from './testing/notificationsHarness.js';

// Slack is a local stand-in for its Web API that records every call (we cannot reach Slack);
// email goes to a real SMTP server; the clock is the test's.

let slack: RecordingServer;
let smtp: SmtpCatcher;
let harness: Awaited<ReturnType<typeof createServiceHarness>>;
let notifications: RunningNotifications;
let ts = 0;

const minute = 60_000;

function slackCalls(method?: string): { path: string; body: Record<string, unknown> }[] {
  return slack.requests
    .map((r) => ({ path: r.path, body: JSON.parse(r.body) as Record<string, unknown> }))
    .filter((c) => method === undefined || c.path === `/api/${method}`);
}

async function start(extra: Partial<NotificationsConfig> = {}) {
  notifications = await startOn(harness, extra);
}

/** Starts notifications as the server that owns `server`'s store connection and service. */
function startOn(
  server: HarnessServer,
  extra: Partial<NotificationsConfig> = {},
): Promise<RunningNotifications> {
  return startNotifications(
    {
      slackBotToken: 'xoxb-test',
      slackApiUrl: `${slack.origin}/api`,
      smtpUrl: `smtp://mailer:secret@127.0.0.1:${smtp.port}`,
      emailFrom: 'Loopgate <approvals@example.com>',
      fallbackAfterMinutes: 10,
      reminderBeforeMinutes: 15,
      escalateAfterMinutes: 30,
      agentNotificationsPerHour: 1_000,
      ...extra,
    },
    {
      store: server.store,
      service: server.service,
      publicUrl: 'http://localhost:7878',
      logger: pino({ level: 'silent' }),
      now: harness.now,
      manualTimers: true,
    },
  );
}

async function request(overrides: Record<string, unknown> = {}, timeoutMs?: number) {
  const record = await harness.service.createApproval(
    {
      action_description: 'Send $420 to ACME Corp',
      action_details: { amount: '420' },
      recipient_slack: '#approvals',
      recipient_email: 'bob@example.com',
      ...overrides,
    },
    'claude',
    undefined,
    timeoutMs === undefined ? {} : { timeoutMs },
  );
  await notifications.router.idle();
  return record;
}

beforeEach(async () => {
  ts = 0;
  slack = await startRecordingServer((req) => {
    const body = JSON.parse(req.body) as { channel?: string };
    ts += 1;
    return {
      body: {
        ok: true,
        channel: body.channel?.startsWith('#') ? 'C0APPROVALS' : body.channel,
        ts: `1763632800.${String(ts).padStart(6, '0')}`,
      },
    };
  });
  smtp = await startSmtpCatcher('mailer', 'secret');
  harness = await createServiceHarness();
});

afterEach(async () => {
  await notifications?.close();
  await harness.close();
  await slack.close();
  await smtp.close();
});

describe('NotificationRouter', () => {
  it('posts to Slack first and mails the fallback only after fallback_after_minutes without a decision', async () => {
    await start();
    const record = await request();
    expect(slackCalls('chat.postMessage')).toHaveLength(1);
    expect(slackCalls('chat.postMessage')[0]!.body).toMatchObject({
      channel: '#approvals',
      text: 'Approval requested: Send $420 to ACME Corp',
    });
    expect(smtp.mails).toHaveLength(0);

    harness.clock.now += 9 * minute + 59_000;
    await notifications.router.sweep();
    expect(smtp.mails).toHaveLength(0);

    harness.clock.now += 1_000;
    await notifications.router.sweep();
    const mail = await smtp.nextMail();
    expect(mail.rcptTo).toEqual(['bob@example.com']);
    expect(mail.subject).toBe('Approval needed: Send $420 to ACME Corp');
    expect(mail.text).toMatch(/http:\/\/localhost:7878\/email\/confirm\?token=[A-Za-z0-9_-]{43}/);

    await notifications.router.sweep();
    harness.clock.now += minute;
    await notifications.router.sweep();
    expect(smtp.mails).toHaveLength(1);
    const deliveries = await harness.store.listNotificationDeliveries({
      pauseId: record.id,
      limit: 10,
    });
    expect(deliveries.map((d) => [d.channel, d.kind, d.status])).toEqual([
      ['email', 'fallback', 'sent'],
      ['slack', 'created', 'sent'],
    ]);
    expect(deliveries[1]!.ref).toBe('C0APPROVALS:1763632800.000001');
  });

  it('sends no fallback once the request is decided, and updates the Slack message in place', async () => {
    await start();
    const record = await request();
    await harness.service.decide(record.id, {
      decision: 'rejected',
      responder: 'admin',
      channel: 'web',
    });
    await notifications.router.idle();
    const update = slackCalls('chat.update')[0]!;
    expect(update.body).toMatchObject({
      channel: 'C0APPROVALS',
      ts: '1763632800.000001',
      text: 'Rejected: Send $420 to ACME Corp',
    });
    expect(JSON.stringify(update.body['blocks'])).toContain('*Rejected* by admin via web');
    harness.clock.now += 11 * minute;
    await notifications.router.sweep();
    expect(smtp.mails).toHaveLength(0);
  });

  it('mails at once when Slack fails, records the failure, and keeps the request in the inbox', async () => {
    slack.handler = () => ({ body: { ok: false, error: 'channel_not_found' } });
    await start();
    const record = await request();
    const mail = await smtp.nextMail();
    expect(mail.rcptTo).toEqual(['bob@example.com']);
    const failed = await harness.store.listNotificationDeliveries({ status: 'failed', limit: 10 });
    expect(failed).toEqual([
      expect.objectContaining({
        pauseId: record.id,
        channel: 'slack',
        kind: 'created',
        errorCode: 'E_SLACK_API_ERROR',
        errorMessage: expect.stringContaining('channel_not_found'),
      }),
    ]);
    expect(
      (await harness.service.listApprovals({ status: 'pending', limit: 10 })).map((r) => r.id),
    ).toEqual([record.id]);
  });

  it('records a failed mail when the SMTP server refuses it', async () => {
    smtp.refuseWith = { code: 550, message: 'mailbox unavailable' };
    await start({ slackBotToken: undefined });
    const record = await request({ recipient_slack: undefined });
    const failed = await harness.store.listNotificationDeliveries({ status: 'failed', limit: 10 });
    expect(failed).toEqual([
      expect.objectContaining({
        pauseId: record.id,
        channel: 'email',
        kind: 'created',
        errorCode: 'E_EMAIL_SEND_FAILED',
      }),
    ]);
    expect((await harness.service.getApproval(record.id)).status).toBe('pending');
  });

  it('sends at most 5 notifications a minute to one approver and digests the rest, never an approve-all', async () => {
    await start();
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      ids.push((await request({ action_description: `Pay invoice ${i}` })).id);
      harness.clock.now += 1_000;
    }
    expect(slackCalls('chat.postMessage')).toHaveLength(5);
    await notifications.router.sweep();
    expect(slackCalls('chat.postMessage')).toHaveLength(5);
    // A held request decided meanwhile leaves the digest.
    await harness.service.decide(ids[19]!, {
      decision: 'approved',
      responder: 'admin',
      channel: 'web',
    });
    harness.clock.now += minute;
    await notifications.router.sweep();
    const posts = slackCalls('chat.postMessage');
    expect(posts).toHaveLength(6);
    expect(posts[5]!.body).toMatchObject({
      channel: '#approvals',
      text: '14 more requests waiting',
    });
    expect(JSON.stringify(posts[5]!.body).toLowerCase()).not.toContain('approve');
    expect(await harness.service.listApprovals({ status: 'pending', limit: 100 })).toHaveLength(19);
  });

  it('keeps held requests across a restart and sends their digest once afterwards', async () => {
    await start();
    for (let i = 0; i < 7; i += 1) await request({ action_description: `Pay invoice ${i}` });
    expect(slackCalls('chat.postMessage')).toHaveLength(5);
    // The server stops before the digest is due, and comes back on the same database.
    await notifications.close();
    await harness.restart();
    await start();
    await notifications.router.sweep();
    expect(slackCalls('chat.postMessage')).toHaveLength(5);
    harness.clock.now += minute;
    await notifications.router.sweep();
    await notifications.router.sweep();
    harness.clock.now += minute;
    await notifications.router.sweep();
    const posts = slackCalls('chat.postMessage');
    expect(posts).toHaveLength(6);
    expect(posts[5]!.body).toMatchObject({
      channel: '#approvals',
      text: '2 more requests waiting',
    });
  });

  it('holds one approver to 5 a minute across two servers on one database, and sends one digest', async () => {
    await start();
    const second = await harness.openAnother();
    const other = await startOn(second);
    try {
      // Each server notifies about the requests it stored itself.
      for (let i = 0; i < 10; i += 1) {
        const server = i % 2 === 0 ? harness : second;
        await server.service.createApproval(
          {
            action_description: `Pay invoice ${i}`,
            action_details: { amount: String(i) },
            recipient_slack: '#approvals',
          },
          'claude',
        );
        await notifications.router.idle();
        await other.router.idle();
      }
      expect(slackCalls('chat.postMessage')).toHaveLength(5);
      harness.clock.now += minute;
      // Both servers sweep at the same moment; one of them sends the digest.
      await Promise.all([notifications.router.sweep(), other.router.sweep()]);
      await Promise.all([notifications.router.sweep(), other.router.sweep()]);
      const posts = slackCalls('chat.postMessage');
      expect(posts).toHaveLength(6);
      expect(posts[5]!.body).toMatchObject({ text: '5 more requests waiting' });
    } finally {
      await other.close();
    }
  });

  it('forgets a request’s task claims an hour after it expired, in the sweep', async () => {
    await start({ fallbackAfterMinutes: 1 });
    const record = await request({}, 60 * minute);
    harness.clock.now += 2 * minute;
    await notifications.router.sweep();
    expect((await smtp.nextMail()).rcptTo).toEqual(['bob@example.com']);
    const key = `notify:fallback:${record.id}`;
    harness.clock.now = record.expiresAt + 30 * minute;
    await notifications.router.sweep();
    expect(await harness.store.claimTask(key, harness.now(), record.expiresAt)).toBe(false);
    harness.clock.now = record.expiresAt + 61 * minute;
    await notifications.router.sweep();
    expect(await harness.store.claimTask(key, harness.now(), record.expiresAt)).toBe(true);
  });

  it('reminds in the Slack thread and by mail before expiry, once', async () => {
    await start({ fallbackAfterMinutes: 1 });
    const record = await request({}, 60 * minute);
    harness.clock.now += 2 * minute;
    await notifications.router.sweep();
    await smtp.nextMail();
    harness.clock.now += 43 * minute;
    await notifications.router.sweep();
    await notifications.router.sweep();
    const replies = slackCalls('chat.postMessage').filter((c) => c.body['thread_ts'] !== undefined);
    expect(replies).toHaveLength(1);
    expect(replies[0]!.body).toMatchObject({
      channel: 'C0APPROVALS',
      thread_ts: '1763632800.000001',
    });
    expect(JSON.stringify(replies[0]!.body['blocks'])).toContain('expires in 15 minutes');
    const reminder = await smtp.nextMail();
    expect(reminder.subject).toBe('Reminder: approval needed: Send $420 to ACME Corp');
    expect(smtp.mails).toHaveLength(2);
    expect(
      (await harness.store.listNotificationDeliveries({ pauseId: record.id, limit: 10 })).filter(
        (d) => d.kind === 'reminder',
      ),
    ).toHaveLength(2);
  });

  it('escalates an undecided request to the escalation group after escalate_after_minutes', async () => {
    await start({
      escalationSlack: '#oncall',
      escalationEmail: 'lead@example.com',
      fallbackAfterMinutes: 100,
    });
    await request({ recipient_email: undefined });
    harness.clock.now += 29 * minute;
    await notifications.router.sweep();
    expect(slackCalls('chat.postMessage').map((c) => c.body['channel'])).toEqual(['#approvals']);
    harness.clock.now += minute;
    await notifications.router.sweep();
    await notifications.router.sweep();
    expect(slackCalls('chat.postMessage').map((c) => c.body['channel'])).toEqual([
      '#approvals',
      '#oncall',
    ]);
    expect((await smtp.nextMail()).rcptTo).toEqual(['lead@example.com']);
    expect(smtp.mails).toHaveLength(1);
  });

  it('stops mail and Slack messages about one agent’s requests after its budget, across recipients and restarts', async () => {
    await start({ slackBotToken: undefined, agentNotificationsPerHour: 3 });
    // Five requests to five addresses: the per-approver limit never holds them back, the budget does.
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1)
      ids.push(
        (await request({ recipient_slack: undefined, recipient_email: `approver${i}@example.com` }))
          .id,
      );
    expect(smtp.mails.map((m) => m.rcptTo[0])).toEqual([
      'approver0@example.com',
      'approver1@example.com',
      'approver2@example.com',
    ]);
    const refused = await harness.store.listNotificationDeliveries({ status: 'failed', limit: 10 });
    expect(refused.map((d) => [d.pauseId, d.errorCode]).sort()).toEqual(
      [ids[3]!, ids[4]!].map((id) => [id, 'E_NOTIFY_BUDGET_EXCEEDED']).sort(),
    );
    expect(await harness.service.listApprovals({ status: 'pending', limit: 10 })).toHaveLength(5);

    // A restart does not refill it: the count is in the store.
    await notifications.close();
    await start({ slackBotToken: undefined, agentNotificationsPerHour: 3 });
    await request({ recipient_slack: undefined, recipient_email: 'approver5@example.com' });
    expect(smtp.mails).toHaveLength(3);
    // Another agent has its own budget.
    await harness.service.createApproval(
      {
        action_description: 'Rotate keys',
        action_details: {},
        recipient_email: 'approver6@example.com',
      },
      'cursor',
    );
    await notifications.router.idle();
    expect(smtp.mails.map((m) => m.rcptTo[0])).toContain('approver6@example.com');
    // An hour later the window has moved on.
    harness.clock.now += 60 * minute;
    await request({ recipient_slack: undefined, recipient_email: 'approver7@example.com' });
    expect(smtp.mails.map((m) => m.rcptTo[0])).toEqual([
      'approver0@example.com',
      'approver1@example.com',
      'approver2@example.com',
      'approver6@example.com',
      'approver7@example.com',
    ]);
  });

  it('refuses an escalation recipient that is not a Slack channel or id, and email without a From address', async () => {
    await expect(start({ escalationSlack: 'oncall' })).rejects.toMatchObject({
      code: 'E_CONFIG_INVALID',
    });
    await expect(start({ emailFrom: undefined })).rejects.toMatchObject({
      code: 'E_CONFIG_INVALID',
      message: expect.stringContaining('LOOPGATE_EMAIL_FROM'),
    });
  });
});
