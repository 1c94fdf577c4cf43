import { Hono } from 'hono';
import { z } from 'zod';
import { LoopgateError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import type { AppEnv } from './appEnv.js';
import { requireOperator } from './authenticate.js';

const querySchema = z.object({
  status: z.enum(['failed', 'all']).default('failed'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * `GET /v1/deliveries?status=failed|all&limit=N` (operators only): what became of the
 * notifications, newest first, so failures show in the UI.
 *
 * `{notifications: [{pause_id, channel, kind, recipient, status, ref, error_code, error_message,
 * at}], webhooks: [{msg_id, endpoint_id, url, event_type, pause_id, status, attempts,
 * last_status, last_error, next_attempt_at, updated_at}]}`. With `status=failed` (the default)
 * only failed notifications and webhook messages that failed, are retrying after a failure, or
 * whose endpoint is gone. Webhook secrets are never included.
 */
export function createDeliveryRoutes(store: Store): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/deliveries', async (c) => {
    requireOperator(c);
    const query = querySchema.safeParse(c.req.query());
    if (!query.success)
      throw new LoopgateError('E_HTTP_BODY_INVALID', 'status must be failed or all; limit 1-500.');
    const { status, limit } = query.data;
    const notifications = await store.listNotificationDeliveries({
      limit,
      ...(status === 'failed' ? { status: 'failed' as const } : {}),
    });
    const endpoints = new Map((await store.listWebhookEndpoints()).map((e) => [e.id, e.url]));
    const messages = (await store.listWebhookMessages({ limit })).filter(
      (m) =>
        status === 'all' ||
        m.status === 'failed' ||
        m.status === 'endpoint_gone' ||
        (m.status === 'pending' && m.lastError !== null),
    );
    c.header('Cache-Control', 'no-store');
    return c.json({
      notifications: notifications.map((d) => ({
        pause_id: d.pauseId,
        channel: d.channel,
        kind: d.kind,
        recipient: d.recipient,
        status: d.status,
        ref: d.ref,
        error_code: d.errorCode,
        error_message: d.errorMessage,
        at: iso(d.at),
      })),
      webhooks: messages.map((m) => ({
        msg_id: m.msgId,
        endpoint_id: m.endpointId,
        url: endpoints.get(m.endpointId) ?? null,
        event_type: m.eventType,
        pause_id: typeof m.event.data['pause_id'] === 'string' ? m.event.data['pause_id'] : null,
        status: m.status,
        attempts: m.attempts,
        last_status: m.lastStatus,
        last_error: m.lastError,
        next_attempt_at: iso(m.nextAttemptAt),
        updated_at: iso(m.updatedAt),
      })),
    });
  });
  return app;
}
