import {
  deliverWebhook,
  type WebhookAttemptResult,
  type WebhookEndpoint,
  type WebhookEvent,
} from './deliverWebhook.js';
import { nextRetryDelay } from './nextRetryDelay.js';

/** Runs `task` after `delayMs`; injected so tests advance time instead of waiting. */
export type RetryScheduler = (delayMs: number, task: () => Promise<void>) => void;

/** Options for {@link WebhookDispatcher}. */
export interface WebhookDispatcherOptions {
  fetch?: typeof fetch;
  /** Clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Jitter source in [0, 1) for {@link nextRetryDelay}. Default `Math.random`. */
  random?: () => number;
  /** Default: `setTimeout`, unref'd so pending retries never keep the process alive. */
  schedule?: RetryScheduler;
  /** Per-attempt timeout in ms. Default 15 000. */
  timeoutMs?: number;
  /**
   * Told about every attempt, e.g. to store it so the UI can show failures. Errors it throws are
   * swallowed: reporting never stops delivery.
   */
  onAttempt?: (report: WebhookAttemptReport) => void | Promise<void>;
}

/** What became of one attempt, and what happens next. */
export interface WebhookAttemptReport extends WebhookAttemptResult {
  endpointId: string;
  msgId: string;
  eventType: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** When the attempt started, ms since the epoch. */
  at: number;
  /**
   * `delivered`; `retry_scheduled` (see `nextAttemptAt`); `failed` (24 h of retries are over);
   * `endpoint_gone` (410: disable the endpoint, no more retries).
   */
  outcome: 'delivered' | 'retry_scheduled' | 'failed' | 'endpoint_gone';
  /** When the next attempt runs, ms since the epoch, or `null`. */
  nextAttemptAt: number | null;
}

const MAX_SINGLE_DELAY_MS = 6 * 60 * 60 * 1000;

const defaultSchedule: RetryScheduler = (delayMs, task) => {
  const timer = setTimeout(() => void task(), delayMs);
  timer.unref();
};

/**
 * Delivers webhook events with retries: the first attempt at once, then on the
 * {@link nextRetryDelay} schedule for 24 h (longer when the receiver's Retry-After asks for
 * it, capped at 6 h per wait), keeping the same `webhook-id`. A 410 stops retries. Retries
 * live in this process's timers; persist the reports to survive restarts.
 */
export class WebhookDispatcher {
  readonly #options: WebhookDispatcherOptions;
  readonly #now: () => number;
  readonly #schedule: RetryScheduler;

  constructor(options: WebhookDispatcherOptions = {}) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#schedule = options.schedule ?? defaultSchedule;
  }

  /** True when `endpoint` subscribes to events of `type`. */
  static subscribes(endpoint: WebhookEndpoint, type: string): boolean {
    return endpoint.events === undefined || endpoint.events.includes(type);
  }

  /**
   * Sends `event` to `endpoint` now and schedules retries on failure.
   * @returns the report of the first attempt.
   * @throws LoopgateError `E_WEBHOOK_URL_INVALID` / `E_WEBHOOK_SECRET_INVALID` (nothing is sent).
   */
  async dispatch(endpoint: WebhookEndpoint, event: WebhookEvent): Promise<WebhookAttemptReport> {
    return this.#attempt(endpoint, event, 1);
  }

  async #attempt(
    endpoint: WebhookEndpoint,
    event: WebhookEvent,
    attempt: number,
  ): Promise<WebhookAttemptReport> {
    const at = this.#now();
    const result = await deliverWebhook(endpoint, event, {
      now: this.#now,
      ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}),
      ...(this.#options.timeoutMs !== undefined ? { timeoutMs: this.#options.timeoutMs } : {}),
    });
    let outcome: WebhookAttemptReport['outcome'];
    let nextAttemptAt: number | null = null;
    if (result.ok) {
      outcome = 'delivered';
    } else if (result.gone) {
      outcome = 'endpoint_gone';
    } else {
      const delay = nextRetryDelay(
        attempt,
        this.#options.random ? { random: this.#options.random } : {},
      );
      if (delay === null) {
        outcome = 'failed';
      } else {
        const wait = Math.min(Math.max(delay, result.retryAfterMs ?? 0), MAX_SINGLE_DELAY_MS);
        outcome = 'retry_scheduled';
        nextAttemptAt = this.#now() + wait;
        this.#schedule(wait, async () => {
          await this.#attempt(endpoint, event, attempt + 1).catch(() => undefined);
        });
      }
    }
    const report: WebhookAttemptReport = {
      ...result,
      endpointId: endpoint.id,
      msgId: event.id,
      eventType: event.type,
      attempt,
      at,
      outcome,
      nextAttemptAt,
    };
    try {
      await this.#options.onAttempt?.(report);
    } catch {
      // Reporting must never stop delivery.
    }
    return report;
  }
}
