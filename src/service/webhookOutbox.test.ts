import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWebhookSecret } from '../channels/webhooks/signWebhook.js';
import {
  startRecordingServer,
  type RecordedRequest,
  type RecordingServer,
} from '../channels/testing/recordingServer.js';
import { sampleApproval } from '../channels/testing/sampleApproval.js';
import { openSqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';
import { WebhookOutbox } from './webhookOutbox.js';

// The receiver verifies every message with the `standardwebhooks` package, as a user's would.

let receiver: RecordingServer;
let dir: string;
let store: Store;
const secret = createWebhookSecret();
const clock = { now: Date.parse('2026-11-20T10:00:00.000Z') };

function verify(req: RecordedRequest): { type: string; data: Record<string, unknown> } {
  return new Webhook(secret).verify(req.body, {
    'webhook-id': String(req.headers['webhook-id']),
    'webhook-timestamp': String(req.headers['webhook-timestamp']),
    'webhook-signature': String(req.headers['webhook-signature']),
  }) as { type: string; data: Record<string, unknown> };
}

beforeEach(async () => {
  receiver = await startRecordingServer(() => ({ status: 204, body: '' }));
  dir = mkdtempSync(join(tmpdir(), 'loopgate-outbox-'));
  store = openSqliteStore(join(dir, 'loopgate.db'));
  clock.now = Date.now();
  await store.createWebhookEndpoint({
    id: 'wh_1',
    url: `${receiver.origin}/hook`,
    secret,
    events: ['request.created', 'request.decided'],
    createdAt: clock.now,
    disabledAt: null,
  });
});

afterEach(async () => {
  await store.close();
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('WebhookOutbox', () => {
  it('sends subscribed events signed so a standardwebhooks receiver verifies them, and nothing else', async () => {
    const outbox = new WebhookOutbox({ store, now: () => clock.now });
    await outbox.publish('request.created', sampleApproval());
    expect(
      await outbox.publish('request.expired', sampleApproval({ status: 'timed_out' })),
    ).toBeNull();
    await outbox.publish(
      'request.decided',
      sampleApproval({
        status: 'responded',
        response: {
          decision: 'approved',
          responder: 'alice',
          responded_at: '2026-11-20T10:05:00.000Z',
          channel: 'email',
        },
      }),
    );
    expect(receiver.requests).toHaveLength(2);
    const [created, decided] = receiver.requests.map(verify);
    expect(created).toMatchObject({
      type: 'request.created',
      data: { pause_id: 'pa_7Hq2xKc9', status: 'pending' },
    });
    expect(decided).toMatchObject({
      type: 'request.decided',
      data: { response: { decision: 'approved', responder: 'alice', channel: 'email' } },
    });
    const stored = await store.listWebhookMessages({ limit: 10 });
    expect(stored.map((m) => [m.eventType, m.status, m.attempts])).toEqual([
      ['request.decided', 'delivered', 1],
      ['request.created', 'delivered', 1],
    ]);
    // A forged or altered body does not verify.
    const tampered = {
      ...receiver.requests[0]!,
      body: receiver.requests[0]!.body.replace('pending', 'responded'),
    };
    expect(() => verify(tampered)).toThrow();
  });

  it('retries a failed delivery with backoff after a restart, keeping the webhook-id', async () => {
    receiver.handler = () => ({ status: 503, body: 'busy' });
    const first = new WebhookOutbox({ store, now: () => clock.now, random: () => 0.5 });
    await first.publish('request.created', sampleApproval());
    const [failed] = await store.listWebhookMessages({ limit: 10 });
    expect(failed).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastStatus: 503,
      nextAttemptAt: clock.now + 5_000,
    });
    expect(failed!.lastError).toContain('HTTP 503');
    await first.stop();

    // Restart: a new store handle and a new outbox find the pending retry.
    await store.close();
    store = openSqliteStore(join(dir, 'loopgate.db'));
    receiver.handler = () => ({ status: 200, body: '' });
    const second = new WebhookOutbox({ store, now: () => clock.now, random: () => 0.5 });
    expect(await second.runDue()).toBe(0);
    clock.now += 5_000;
    expect(await second.runDue()).toBe(1);
    expect(receiver.requests).toHaveLength(2);
    expect(receiver.requests[1]!.headers['webhook-id']).toBe(
      receiver.requests[0]!.headers['webhook-id'],
    );
    expect(verify(receiver.requests[1]!)).toMatchObject({ type: 'request.created' });
    expect(await store.listWebhookMessages({ limit: 10 })).toEqual([
      expect.objectContaining({ status: 'delivered', attempts: 2, lastError: null }),
    ]);
    expect(await second.runDue()).toBe(0);
  });

  it('gives up after 24 hours of retries, and disables an endpoint that answers 410 Gone', async () => {
    receiver.handler = () => ({ status: 500, body: '' });
    const outbox = new WebhookOutbox({ store, now: () => clock.now, random: () => 0.5 });
    await outbox.publish('request.created', sampleApproval());
    for (let i = 0; i < 20; i += 1) {
      const next = await store.nextWebhookAttemptAt();
      if (next === null) break;
      clock.now = next;
      await outbox.runDue();
    }
    const [message] = await store.listWebhookMessages({ limit: 1 });
    expect(message).toMatchObject({ status: 'failed', attempts: 11 });
    expect(clock.now - message!.firstAttemptAt).toBe(24 * 3_600_000);

    receiver.handler = () => ({ status: 410, body: '' });
    await outbox.publish('request.created', sampleApproval());
    expect((await store.getWebhookEndpoint('wh_1'))?.disabledAt).toBe(clock.now);
    expect(await outbox.publish('request.created', sampleApproval())).toBeNull();
  });
});
