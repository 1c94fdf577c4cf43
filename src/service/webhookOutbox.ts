import type { NotifiableApproval } from '../channels/notifiableApproval.js';
import {
  deliverWebhook,
  type WebhookEvent,
  type WebhookEventType,
} from '../channels/webhooks/deliverWebhook.js';
import { nextRetryDelay } from '../channels/webhooks/nextRetryDelay.js';
import { createApprovalWebhookEvent } from '../channels/webhooks/webhookNotifier.js';
import { isLoopgateError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import type { WebhookEndpointRecord, WebhookMessageRecord } from '../core/records.js';

/** The event types an endpoint may subscribe to (`loopgate webhooks add URL --events …`). */
export const webhookEventTypes: readonly WebhookEventType[] = [
  'request.created',
  'request.decided',
  'request.expired',
];

/** Options for {@link WebhookOutbox}. */
export interface WebhookOutboxOptions {
  store: Store;
  /** Clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  fetch?: typeof fetch;
  /** Jitter source in [0, 1) for the retry schedule. Default `Math.random`. */
  random?: () => number;
  /** Per-attempt timeout in ms. Default 15 000. */
  timeoutMs?: number;
  /** How often {@link WebhookOutbox.start}'s timer looks for due retries, in ms. Default 1 000. */
  pollIntervalMs?: number;
  /** Told about every attempt's stored state (delivered, retry scheduled, failed, endpoint gone). */
  onAttempt?: (message: WebhookMessageRecord) => void;
  /**
   * How long an attempt keeps a message to itself, in ms: should this server die mid-attempt,
   * another one (or this one after a restart) tries again after this. Default: the attempt
   * timeout plus one minute.
   */
  claimMs?: number;
}

/** The longest single wait between attempts, even when a receiver's Retry-After asks for more. */
const maxSingleDelayMs = 6 * 60 * 60 * 1000;

/**
 * Delivers Standard Webhooks events with retries that survive a restart: every message to every
 * endpoint is stored (`webhook_messages`) before its first attempt, and each attempt stores the
 * outcome and, on failure, when the next one is due (exponential backoff with jitter for 24 h,
 * `nextRetryDelay`; a receiver's Retry-After can stretch a wait up to 6 h). A 410 Gone disables
 * the endpoint. After a restart {@link runDue} (called by {@link start}'s timer) picks up every
 * pending message; the `webhook-id` stays the same across attempts, so receivers can deduplicate
 * (delivery is at least once). Failures are kept for the UI (`listWebhookMessages`).
 *
 * With several servers on one database, each attempt is claimed in the store first
 * (`claimWebhookMessage`, a compare-and-set on the message's next attempt time), so two servers
 * never attempt one message at the same time; a first attempt is claimed as it is stored.
 */
export class WebhookOutbox {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #options: WebhookOutboxOptions;
  readonly #inFlight = new Set<string>();
  readonly #running = new Set<Promise<unknown>>();
  readonly #claimMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: WebhookOutboxOptions) {
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#options = options;
    this.#claimMs = options.claimMs ?? (options.timeoutMs ?? 15_000) + 60_000;
  }

  /**
   * Sends `type` about `approval` to every enabled endpoint subscribed to it: stores one message
   * per endpoint (one `msg_…` id for all), then makes the first attempts. Never throws for a
   * delivery failure; it is stored and retried.
   * @returns the event sent, or null when no endpoint subscribes to `type`.
   */
  async publish(
    type: WebhookEventType,
    approval: NotifiableApproval,
  ): Promise<WebhookEvent | null> {
    const endpoints = (await this.#store.listWebhookEndpoints()).filter(
      (e) => e.disabledAt === null && e.events.includes(type),
    );
    if (endpoints.length === 0) return null;
    const now = this.#now();
    const event = createApprovalWebhookEvent(type, approval, now);
    const messages = endpoints.map((endpoint): WebhookMessageRecord => ({
      msgId: event.id,
      endpointId: endpoint.id,
      eventType: type,
      event,
      status: 'pending',
      attempts: 0,
      firstAttemptAt: now,
      // Stored already claimed by this server for the first attempt, which follows at once.
      nextAttemptAt: now + this.#claimMs,
      lastStatus: null,
      lastError: null,
      updatedAt: now,
    }));
    for (const message of messages) await this.#store.saveWebhookMessage(message);
    await Promise.all(messages.map((m, i) => this.#attempt(m, endpoints[i]!)));
    return event;
  }

  /**
   * Attempts every pending message whose retry is due (after a restart: every one left pending).
   * @returns how many attempts were made.
   */
  async runDue(): Promise<number> {
    const now = this.#now();
    const due = await this.#store.listDueWebhookMessages(now, 100);
    let attempted = 0;
    await Promise.all(
      due.map(async (message) => {
        if (this.#inFlight.has(flightKey(message))) return;
        const leaseUntil = now + this.#claimMs;
        const claimed =
          message.nextAttemptAt !== null &&
          (await this.#store.claimWebhookMessage(
            message.msgId,
            message.endpointId,
            message.nextAttemptAt,
            now,
            leaseUntil,
          ));
        if (!claimed) return; // another server took it
        message = { ...message, nextAttemptAt: leaseUntil };
        const endpoint = await this.#store.getWebhookEndpoint(message.endpointId);
        if (!endpoint || endpoint.disabledAt !== null) {
          await this.#save(message, {
            status: 'failed',
            nextAttemptAt: null,
            lastError: 'The endpoint was removed or disabled.',
          });
          return;
        }
        if (await this.#attempt(message, endpoint)) attempted += 1;
      }),
    );
    return attempted;
  }

  /** Starts the timer that runs due retries (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      const run = this.runDue().catch(() => 0);
      this.#running.add(run);
      void run.finally(() => this.#running.delete(run));
    }, this.#options.pollIntervalMs ?? 1_000);
    this.#timer.unref();
  }

  /** Stops the timer and waits for attempts in flight. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all([...this.#running]);
  }

  /** Makes one attempt unless one for the same message is in flight; true when it ran. */
  async #attempt(message: WebhookMessageRecord, endpoint: WebhookEndpointRecord): Promise<boolean> {
    const key = flightKey(message);
    if (this.#inFlight.has(key)) return false;
    this.#inFlight.add(key);
    const run = this.#deliver(message, endpoint);
    this.#running.add(run);
    try {
      await run;
      return true;
    } finally {
      this.#running.delete(run);
      this.#inFlight.delete(key);
    }
  }

  async #deliver(message: WebhookMessageRecord, endpoint: WebhookEndpointRecord): Promise<void> {
    const attempts = message.attempts + 1;
    let result;
    try {
      result = await deliverWebhook(
        { id: endpoint.id, url: endpoint.url, secret: endpoint.secret, events: endpoint.events },
        message.event as WebhookEvent,
        {
          now: this.#now,
          ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}),
          ...(this.#options.timeoutMs !== undefined ? { timeoutMs: this.#options.timeoutMs } : {}),
        },
      );
    } catch (err) {
      // A misconfigured endpoint (URL or secret): retrying cannot help.
      const reason = isLoopgateError(err) ? `${err.code}: ${err.message}` : String(err);
      await this.#save(message, {
        attempts,
        status: 'failed',
        nextAttemptAt: null,
        lastStatus: null,
        lastError: reason,
      });
      return;
    }
    if (result.ok) {
      await this.#save(message, {
        attempts,
        status: 'delivered',
        nextAttemptAt: null,
        lastStatus: result.status,
        lastError: null,
      });
      return;
    }
    const lastError = result.error?.message ?? `HTTP ${result.status ?? 'no answer'}`;
    if (result.gone) {
      await this.#store.disableWebhookEndpoint(endpoint.id, this.#now());
      await this.#save(message, {
        attempts,
        status: 'endpoint_gone',
        nextAttemptAt: null,
        lastStatus: result.status,
        lastError,
      });
      return;
    }
    const delay = nextRetryDelay(
      attempts,
      this.#options.random ? { random: this.#options.random } : {},
    );
    if (delay === null) {
      await this.#save(message, {
        attempts,
        status: 'failed',
        nextAttemptAt: null,
        lastStatus: result.status,
        lastError,
      });
      return;
    }
    const wait = Math.min(Math.max(delay, result.retryAfterMs ?? 0), maxSingleDelayMs);
    await this.#save(message, {
      attempts,
      status: 'pending',
      nextAttemptAt: this.#now() + wait,
      lastStatus: result.status,
      lastError,
    });
  }

  async #save(message: WebhookMessageRecord, change: Partial<WebhookMessageRecord>): Promise<void> {
    const next: WebhookMessageRecord = { ...message, ...change, updatedAt: this.#now() };
    await this.#store.saveWebhookMessage(next);
    try {
      this.#options.onAttempt?.(next);
    } catch {
      // Reporting never stops delivery.
    }
  }
}

function flightKey(message: WebhookMessageRecord): string {
  return `${message.msgId}\0${message.endpointId}`;
}
