import createDebug from 'debug';
import { LoopgateError } from '../../core/errors.js';
import { parseWebhookSecret, signWebhook } from './signWebhook.js';

const debug = createDebug('loopgate:channels');

/** The events an endpoint can subscribe to (`loopgate webhooks add URL --events …`). */
export type WebhookEventType = 'request.created' | 'request.decided' | 'request.expired';

/** A registered receiver. */
export interface WebhookEndpoint {
  /** Stable id of the endpoint (shown in the UI next to its failures). */
  id: string;
  /** Absolute http(s) URL, no credentials. */
  url: string;
  /** `whsec_…`, unique to this endpoint. Never logged. */
  secret: string;
  /** Subscribed event types; all when absent. */
  events?: readonly string[];
}

/**
 * One event, in the Standard Webhooks payload shape (spec §"Payload structure"). `id` becomes
 * `webhook-id` and stays the same for every retry, so receivers can process it once.
 */
export interface WebhookEvent {
  /** `msg_…` (see `createWebhookMessageId`). */
  id: string;
  type: WebhookEventType;
  /** ISO 8601 UTC: when the event happened (not when it is delivered). */
  timestamp: string;
  data: Record<string, unknown>;
}

/** Options for {@link deliverWebhook}. */
export interface DeliverWebhookOptions {
  fetch?: typeof fetch;
  /** Clock in ms since the epoch; the attempt's `webhook-timestamp`. Default `Date.now`. */
  now?: () => number;
  /** Request timeout in ms. Default 15 000 (the spec recommends 15–30 s). */
  timeoutMs?: number;
}

/** The outcome of one attempt. Delivery failures are results, not exceptions. */
export interface WebhookAttemptResult {
  /** A 2xx answer. */
  ok: boolean;
  /** HTTP status, or `null` when no answer came (timeout, refused connection). */
  status: number | null;
  durationMs: number;
  /** Why it failed: code `E_WEBHOOK_DELIVERY_FAILED` and a message; absent when `ok`. */
  error?: { code: 'E_WEBHOOK_DELIVERY_FAILED'; message: string };
  /** The receiver's Retry-After, in ms, when it sent one. */
  retryAfterMs: number | null;
  /** 410 Gone: the receiver wants no more webhooks; disable the endpoint. */
  gone: boolean;
}

/** The exact body sent for an event: compact JSON of `{type, timestamp, data}`. */
export function serializeWebhookEvent(event: WebhookEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data });
}

/**
 * Checks an endpoint URL: absolute http(s), no user or password in it.
 * @throws LoopgateError `E_WEBHOOK_URL_INVALID`.
 */
export function assertWebhookUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch (err) {
    throw new LoopgateError(
      'E_WEBHOOK_URL_INVALID',
      `Expected an absolute http(s) URL, got ${JSON.stringify(value.slice(0, 200))}.`,
      {
        cause: err,
      },
    );
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.username !== '' ||
    url.password !== ''
  ) {
    throw new LoopgateError(
      'E_WEBHOOK_URL_INVALID',
      `Expected an http(s) URL without credentials, got scheme ${url.protocol}${url.username ? ' with credentials' : ''}.`,
    );
  }
  return url;
}

/**
 * Makes one delivery attempt: POSTs the event as JSON, signed with the Standard Webhooks
 * headers for this attempt's time (the id stays, the timestamp is new on each retry, spec
 * §"Webhook metadata"). Success is any 2xx; redirects are not followed and count as failures
 * (spec §"Delivery success and failure").
 *
 * @throws LoopgateError `E_WEBHOOK_URL_INVALID` / `E_WEBHOOK_SECRET_INVALID` for a misconfigured
 *   endpoint (no request is made). Every network or HTTP failure is returned, not thrown.
 */
export async function deliverWebhook(
  endpoint: WebhookEndpoint,
  event: WebhookEvent,
  options: DeliverWebhookOptions = {},
): Promise<WebhookAttemptResult> {
  const url = assertWebhookUrl(endpoint.url);
  const secret = parseWebhookSecret(endpoint.secret);
  if (!secret.ok)
    throw new LoopgateError(secret.code, `Endpoint ${endpoint.id}: ${secret.message}`);
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? globalThis.fetch;
  const body = serializeWebhookEvent(event);
  const headers = signWebhook({
    secret: endpoint.secret,
    msgId: event.id,
    timestamp: Math.floor(now() / 1000),
    body,
  });
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'loopgate-webhooks',
        ...headers,
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
  } catch (err) {
    const e = err as Error;
    const reason =
      e.name === 'TimeoutError'
        ? 'timed out'
        : `${e.name}: ${(e.cause as Error | undefined)?.message ?? e.message}`;
    debug('webhook %s to endpoint %s failed: %s', event.id, endpoint.id, reason);
    return {
      ok: false,
      status: null,
      durationMs: elapsed(),
      error: {
        code: 'E_WEBHOOK_DELIVERY_FAILED',
        message: `POST ${url.origin}${url.pathname} failed: ${reason}.`,
      },
      retryAfterMs: null,
      gone: false,
    };
  }
  await response.body?.cancel().catch(() => undefined);
  const ok = response.status >= 200 && response.status < 300;
  debug('webhook %s to endpoint %s: HTTP %d', event.id, endpoint.id, response.status);
  return {
    ok,
    status: response.status,
    durationMs: elapsed(),
    ...(ok
      ? {}
      : {
          error: {
            code: 'E_WEBHOOK_DELIVERY_FAILED' as const,
            message: `POST ${url.origin}${url.pathname} answered HTTP ${response.status}; expected 2xx.`,
          },
        }),
    retryAfterMs: parseRetryAfterMs(response.headers.get('retry-after'), now()),
    gone: response.status === 410,
  };
}

function parseRetryAfterMs(value: string | null, now: number): number | null {
  if (value === null) return null;
  const seconds = Number(value.trim());
  if (value.trim() !== '' && Number.isFinite(seconds) && seconds >= 0)
    return Math.ceil(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
