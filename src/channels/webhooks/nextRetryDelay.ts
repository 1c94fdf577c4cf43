/** How long loopgate keeps retrying one webhook message, from its first attempt: 24 h. */
export const WEBHOOK_RETRY_WINDOW_MS = 24 * 60 * 60 * 1000;

const FIRST_DELAY_MS = 5_000;
const FACTOR = 4;
const MAX_DELAY_MS = 6 * 60 * 60 * 1000;
const JITTER = 0.1;

/** Options for {@link nextRetryDelay}. */
export interface RetryDelayOptions {
  /** Returns a number in [0, 1); default `Math.random`. 0.5 means no jitter. */
  random?: () => number;
}

/** The delay before retry `attempt + 1` without jitter, or `null` past the window. */
function nominalDelay(attempt: number): number | null {
  let elapsed = 0;
  let delay = 0;
  for (let n = 1; n <= attempt; n++) {
    delay = Math.min(FIRST_DELAY_MS * FACTOR ** (n - 1), MAX_DELAY_MS);
    if (elapsed >= WEBHOOK_RETRY_WINDOW_MS) return null;
    // The last retry lands on the end of the window rather than past it.
    delay = Math.min(delay, WEBHOOK_RETRY_WINDOW_MS - elapsed);
    elapsed += delay;
  }
  return delay;
}

/**
 * The retry schedule for webhook deliveries: exponential backoff (5 s, 20 s, 80 s, 5 min 20 s,
 * 21 min, 85 min, 5.7 h, then every 6 h) until 24 h after the first attempt, the last retry
 * landing at 24 h; 11 attempts in all. Standard Webhooks recommends "exponential backoff" with
 * "some level of random jitter" (spec §"Deliverability and reliability"): each delay is varied by
 * up to ±10 %.
 *
 * @param attempt how many attempts have failed so far (1 after the first).
 * @returns milliseconds to wait before the next attempt, or `null` when retries are over.
 */
export function nextRetryDelay(attempt: number, options: RetryDelayOptions = {}): number | null {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`attempt counts failed attempts and starts at 1, got ${attempt}`);
  }
  const delay = nominalDelay(attempt);
  if (delay === null || delay <= 0) return null;
  const random = options.random ?? Math.random;
  return Math.round(delay * (1 + (random() * 2 - 1) * JITTER));
}
