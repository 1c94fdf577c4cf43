/** Options for {@link NotificationRateLimiter}. */
export interface NotificationRateLimiterOptions {
  /** Notifications (digests included) per approver per window. Default 5. */
  limit?: number;
  /** Sliding window length in milliseconds. Default 60 000 (one minute). */
  windowMs?: number;
  /** Clock in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** What {@link NotificationRateLimiter.admit} decided. */
export type AdmitResult =
  /** Send this notification now; it has been counted. */
  | { kind: 'send' }
  /**
   * Held back; it will be part of a digest. Call {@link NotificationRateLimiter.takeDueDigests}
   * at `dueAt` (ms since the epoch) or later.
   */
  | { kind: 'held'; dueAt: number };

/** A digest that is due: one notification standing in for every held request of `approver`. */
export interface DueDigest {
  approver: string;
  /** Held pause_ids, oldest first. Never empty. */
  pauseIds: string[];
}

/**
 * Keeps each approver at no more than `limit` notifications in any sliding window of
 * `windowMs` (issue 5: 5 a minute). Requests over the limit are held and later merged into one
 * digest ("3 more requests waiting"), which itself counts as a notification. Nothing is dropped:
 * every admitted pause_id is either sent alone or listed in exactly one digest, unless
 * {@link discard}ed because it was decided meanwhile. A digest never approves anything; it
 * points at the inbox.
 *
 * Pure bookkeeping with an injected clock: the caller sends, and schedules a timer for
 * `dueAt` / {@link nextDueAt}. State is in memory, per process.
 */
export class NotificationRateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  /** approver → send times (ms), oldest first, only those inside the window. */
  readonly #sent = new Map<string, number[]>();
  /** approver → held pause_ids, insertion-ordered. */
  readonly #held = new Map<string, Set<string>>();

  constructor(options: NotificationRateLimiterOptions = {}) {
    this.#limit = options.limit ?? 5;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    if (!Number.isInteger(this.#limit) || this.#limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${this.#limit}`);
    }
    if (!(this.#windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${this.#windowMs}`);
  }

  /**
   * Asks whether a notification about `pauseId` may go to `approver` now. `send` counts it;
   * `held` keeps it for the approver's next digest. While an approver has held requests, new
   * ones are held too, so the digest goes out before anything newer.
   */
  admit(approver: string, pauseId: string): AdmitResult {
    const now = this.#now();
    const sent = this.#prune(approver, now);
    const held = this.#held.get(approver);
    if ((held === undefined || held.size === 0) && sent.length < this.#limit) {
      sent.push(now);
      this.#sent.set(approver, sent);
      return { kind: 'send' };
    }
    const set = held ?? new Set<string>();
    set.add(pauseId);
    this.#held.set(approver, set);
    return { kind: 'held', dueAt: this.#freeSlotAt(sent, now) };
  }

  /** Forgets a held request (it was decided or expired before its digest went out). */
  discard(pauseId: string): void {
    for (const [approver, set] of this.#held) {
      set.delete(pauseId);
      if (set.size === 0) this.#held.delete(approver);
    }
  }

  /**
   * Returns, and counts as sent, one digest per approver who has held requests and a free slot
   * now. Call it from a timer at {@link nextDueAt}.
   */
  takeDueDigests(): DueDigest[] {
    const now = this.#now();
    const due: DueDigest[] = [];
    for (const [approver, set] of this.#held) {
      const sent = this.#prune(approver, now);
      if (sent.length >= this.#limit || set.size === 0) continue;
      sent.push(now);
      this.#sent.set(approver, sent);
      due.push({ approver, pauseIds: [...set] });
      this.#held.delete(approver);
    }
    return due;
  }

  /** Earliest time (ms since the epoch) a held digest can go out, or `null` when none is held. */
  nextDueAt(): number | null {
    const now = this.#now();
    let next: number | null = null;
    for (const approver of this.#held.keys()) {
      const at = this.#freeSlotAt(this.#prune(approver, now), now);
      if (next === null || at < next) next = at;
    }
    return next;
  }

  /** How many requests are held for `approver`. */
  heldCount(approver: string): number {
    return this.#held.get(approver)?.size ?? 0;
  }

  #prune(approver: string, now: number): number[] {
    const sent = this.#sent.get(approver) ?? [];
    const cutoff = now - this.#windowMs;
    while (sent.length > 0 && sent[0]! <= cutoff) sent.shift();
    if (sent.length === 0) this.#sent.delete(approver);
    return sent;
  }

  /** When the oldest send that keeps the window full leaves it. */
  #freeSlotAt(sent: number[], now: number): number {
    if (sent.length < this.#limit) return now;
    return sent[sent.length - this.#limit]! + this.#windowMs;
  }
}
