import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sampleApproval } from '../testing/sampleApproval.js';
import {
  startRecordingServer,
  type RecordedRequest,
  type RecordingServer,
} from '../testing/recordingServer.js';
import type { WebhookEndpoint } from './deliverWebhook.js';
import { nextRetryDelay } from './nextRetryDelay.js';
import { createWebhookSecret } from './signWebhook.js';
import { WebhookDispatcher, type WebhookAttemptReport } from './webhookDispatcher.js';
import { createApprovalWebhookEvent, WebhookNotifier } from './webhookNotifier.js';

// A receiver like a user's: it verifies every delivery with the standardwebhooks package and
// answers with the next status from `statuses` (then 204).
let receiver: RecordingServer;
let statuses: { status: number; headers?: Record<string, string> }[];
let verified: { id: string; payload: unknown }[];
let secret: string;

function verifyDelivery(req: RecordedRequest): void {
  const headers = Object.fromEntries(
    ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [
      h,
      String(req.headers[h]),
    ]),
  );
  verified.push({
    id: headers['webhook-id']!,
    payload: new Webhook(secret).verify(req.body, headers),
  });
}

beforeEach(async () => {
  statuses = [];
  verified = [];
  secret = createWebhookSecret();
  receiver = await startRecordingServer((req) => {
    try {
      verifyDelivery(req);
    } catch {
      return { status: 401, body: 'bad signature' };
    }
    const next = statuses.shift() ?? { status: 204 };
    return { status: next.status, body: '', ...(next.headers ? { headers: next.headers } : {}) };
  });
});
afterEach(async () => {
  await receiver.close();
});

/** A scheduler that records delays and runs tasks only when told: no real waiting. */
function fakeScheduler() {
  const queue: { delayMs: number; task: () => Promise<void> }[] = [];
  return {
    delays: [] as number[],
    schedule(delayMs: number, task: () => Promise<void>) {
      this.delays.push(delayMs);
      queue.push({ delayMs, task });
    },
    pending: () => queue.length,
    async runNext() {
      const next = queue.shift();
      if (!next) throw new Error('nothing scheduled');
      await next.task();
    },
  };
}

function endpoint(overrides: Partial<WebhookEndpoint> = {}): WebhookEndpoint {
  return { id: 'ep_1', url: `${receiver.origin}/hooks/loopgate?key=abc`, secret, ...overrides };
}

function setup() {
  const scheduler = fakeScheduler();
  const reports: WebhookAttemptReport[] = [];
  const dispatcher = new WebhookDispatcher({
    random: () => 0.5,
    schedule: (d, t) => scheduler.schedule(d, t),
    onAttempt: (r) => void reports.push(r),
  });
  return { scheduler, reports, dispatcher };
}

describe('WebhookDispatcher against a verifying receiver', () => {
  it('delivers a signed request.created event the receiver verifies', async () => {
    const { dispatcher, reports, scheduler } = setup();
    const event = createApprovalWebhookEvent('request.created', sampleApproval(), Date.now());
    const report = await dispatcher.dispatch(endpoint(), event);
    expect(report).toMatchObject({
      ok: true,
      status: 204,
      outcome: 'delivered',
      attempt: 1,
      nextAttemptAt: null,
      endpointId: 'ep_1',
    });
    expect(verified).toEqual([
      {
        id: event.id,
        payload: {
          type: 'request.created',
          timestamp: event.timestamp,
          data: {
            pause_id: 'pa_7Hq2xKc9',
            status: 'pending',
            action_description: 'Send $420 to ACME Corp',
            action_details: { amount: '420', to: 'ACME Corp' },
            expires_at: '2026-11-21T10:00:00.000Z',
            approval_url: 'http://127.0.0.1:7878/approvals/pa_7Hq2xKc9',
          },
        },
      },
    ]);
    expect(receiver.requests[0]!.path).toBe('/hooks/loopgate?key=abc');
    expect(receiver.requests[0]!.headers['content-type']).toBe('application/json');
    expect(reports).toHaveLength(1);
    expect(scheduler.pending()).toBe(0);
  });

  it('retries after a 500 on the backoff schedule with the same webhook-id until it succeeds', async () => {
    statuses = [{ status: 500 }, { status: 500 }];
    const { dispatcher, reports, scheduler } = setup();
    const event = createApprovalWebhookEvent('request.decided', sampleApproval(), Date.now());
    const first = await dispatcher.dispatch(endpoint(), event);
    expect(first).toMatchObject({
      ok: false,
      status: 500,
      outcome: 'retry_scheduled',
      error: { code: 'E_WEBHOOK_DELIVERY_FAILED' },
    });
    expect(first.error?.message).not.toContain('key=abc');
    expect(first.nextAttemptAt! - first.at).toBeGreaterThanOrEqual(5_000);
    expect(receiver.requests).toHaveLength(1);

    await scheduler.runNext();
    await scheduler.runNext();
    expect(scheduler.pending()).toBe(0);
    expect(scheduler.delays).toEqual([
      nextRetryDelay(1, { random: () => 0.5 }),
      nextRetryDelay(2, { random: () => 0.5 }),
    ]);
    expect(scheduler.delays).toEqual([5_000, 20_000]);
    expect(receiver.requests).toHaveLength(3);
    expect(verified.map((v) => v.id)).toEqual([event.id, event.id, event.id]);
    expect(reports.map((r) => [r.attempt, r.status, r.outcome])).toEqual([
      [1, 500, 'retry_scheduled'],
      [2, 500, 'retry_scheduled'],
      [3, 204, 'delivered'],
    ]);
  });

  it('gives up after 24 h of retries and reports the failure', async () => {
    statuses = Array.from({ length: 50 }, () => ({ status: 503 }));
    const { dispatcher, reports, scheduler } = setup();
    await dispatcher.dispatch(
      endpoint(),
      createApprovalWebhookEvent('request.created', sampleApproval(), Date.now()),
    );
    while (scheduler.pending() > 0) await scheduler.runNext();
    expect(receiver.requests).toHaveLength(11);
    expect(scheduler.delays.reduce((a, b) => a + b, 0)).toBe(24 * 3600_000);
    expect(reports.at(-1)).toMatchObject({
      attempt: 11,
      outcome: 'failed',
      nextAttemptAt: null,
      status: 503,
    });
  });

  it('honours a longer Retry-After', async () => {
    statuses = [{ status: 429, headers: { 'retry-after': '120' } }];
    const { dispatcher, scheduler } = setup();
    const report = await dispatcher.dispatch(
      endpoint(),
      createApprovalWebhookEvent('request.created', sampleApproval(), Date.now()),
    );
    expect(report).toMatchObject({ retryAfterMs: 120_000, outcome: 'retry_scheduled' });
    expect(scheduler.delays).toEqual([120_000]);
  });

  it('stops at 410 Gone: the endpoint should be disabled', async () => {
    statuses = [{ status: 410 }];
    const { dispatcher, scheduler } = setup();
    const report = await dispatcher.dispatch(
      endpoint(),
      createApprovalWebhookEvent('request.created', sampleApproval(), Date.now()),
    );
    expect(report).toMatchObject({ outcome: 'endpoint_gone', gone: true, nextAttemptAt: null });
    expect(scheduler.pending()).toBe(0);
  });

  it('does not follow redirects: a 3xx is a failure to retry', async () => {
    statuses = [{ status: 307, headers: { location: 'http://169.254.169.254/latest/meta-data' } }];
    const { dispatcher, scheduler } = setup();
    const report = await dispatcher.dispatch(
      endpoint(),
      createApprovalWebhookEvent('request.created', sampleApproval(), Date.now()),
    );
    expect(report).toMatchObject({ ok: false, status: 307, outcome: 'retry_scheduled' });
    expect(receiver.requests).toHaveLength(1);
    expect(scheduler.pending()).toBe(1);
  });

  it('schedules a retry when the receiver cannot be reached', async () => {
    const { dispatcher, scheduler } = setup();
    const origin = receiver.origin;
    await receiver.close();
    const report = await dispatcher.dispatch(
      endpoint({ url: `${origin}/hooks` }),
      createApprovalWebhookEvent('request.created', sampleApproval(), Date.now()),
    );
    expect(report).toMatchObject({
      ok: false,
      status: null,
      outcome: 'retry_scheduled',
      error: { code: 'E_WEBHOOK_DELIVERY_FAILED' },
    });
    expect(scheduler.pending()).toBe(1);
    receiver = await startRecordingServer();
  });

  it('refuses a misconfigured endpoint without sending anything', async () => {
    const { dispatcher } = setup();
    const event = createApprovalWebhookEvent('request.created', sampleApproval(), Date.now());
    await expect(
      dispatcher.dispatch(endpoint({ url: 'ftp://example.com/x' }), event),
    ).rejects.toMatchObject({ code: 'E_WEBHOOK_URL_INVALID' });
    await expect(
      dispatcher.dispatch(endpoint({ url: 'https://u:p@example.com/x' }), event),
    ).rejects.toMatchObject({ code: 'E_WEBHOOK_URL_INVALID' });
    await expect(dispatcher.dispatch(endpoint({ url: 'not a url' }), event)).rejects.toMatchObject({
      code: 'E_WEBHOOK_URL_INVALID',
    });
    await expect(
      dispatcher.dispatch(endpoint({ secret: 'whsec_c2hvcnQ=' }), event),
    ).rejects.toMatchObject({ code: 'E_WEBHOOK_SECRET_INVALID' });
    expect(receiver.requests).toHaveLength(0);
  });

  it('keeps delivering when the report callback throws', async () => {
    statuses = [{ status: 500 }];
    const scheduler = fakeScheduler();
    const dispatcher = new WebhookDispatcher({
      random: () => 0.5,
      schedule: (d, t) => scheduler.schedule(d, t),
      onAttempt: () => {
        throw new Error('store down');
      },
    });
    await dispatcher.dispatch(
      endpoint(),
      createApprovalWebhookEvent('request.created', sampleApproval(), Date.now()),
    );
    await scheduler.runNext();
    expect(receiver.requests).toHaveLength(2);
  });
});

describe('WebhookNotifier', () => {
  it('sends request.created, then request.decided or request.expired, only for subscribed events', async () => {
    const { dispatcher } = setup();
    const endpoints: Record<string, WebhookEndpoint> = {
      ep_all: endpoint({ id: 'ep_all' }),
      ep_decided: endpoint({ id: 'ep_decided', events: ['request.decided'] }),
    };
    const notifier = new WebhookNotifier({ dispatcher, findEndpoint: (id) => endpoints[id] });
    const created = await notifier.notifyCreated(sampleApproval(), 'ep_all');
    const skipped = await notifier.notifyCreated(sampleApproval(), 'ep_decided');
    const gone = await notifier.notifyCreated(sampleApproval(), 'ep_removed');
    expect(created.ref).toMatch(/^msg_/);
    expect(skipped.ref).toBe('');
    expect(gone.ref).toBe('');

    const decided = sampleApproval({
      status: 'responded',
      response: {
        decision: 'rejected',
        comment: 'no',
        responder: 'alice',
        responded_at: '2026-11-20T10:05:00.000Z',
        channel: 'slack',
      },
    });
    await notifier.notifyDecided(decided, skipped);
    await notifier.notifyDecided(sampleApproval({ status: 'timed_out' }), created);
    await notifier.notifyDecided(sampleApproval(), created);
    await notifier.notifyReminder();
    await notifier.notifyDigest();

    const payloads = verified.map(
      (v) => v.payload as { type: string; data: Record<string, unknown> },
    );
    expect(payloads.map((p) => p.type)).toEqual([
      'request.created',
      'request.decided',
      'request.expired',
    ]);
    expect(payloads[1]!.data['response']).toEqual({
      decision: 'rejected',
      comment: 'no',
      responder: 'alice',
      responded_at: '2026-11-20T10:05:00.000Z',
      channel: 'slack',
    });
    expect(payloads[2]!.data['status']).toBe('timed_out');
  });
});
