import { createSecretToken, hashSecret } from '../core/ids.js';
import type { Store } from '../store/store.js';
import type { OperatorRecord, SessionRecord } from '../core/records.js';
import { resolveSessionByHash } from './operatorAuth.js';

/** An event-stream ticket works once and for 60 seconds. */
export const eventTicketTtlMs = 60_000;

/** A ticket as issued: `ticket` goes in `GET /v1/events?ticket=…`; `expiresAt` in ms. */
export interface IssuedEventTicket {
  ticket: string;
  expiresAt: number;
}

/**
 * Short-lived, single-use tickets for the event stream. `EventSource` (HTML Living Standard
 * §9.2) cannot send headers, so a page that holds the session secret trades it, with the
 * `X-Loopgate-Session` header, for a ticket it puts in the stream's URL. Tickets live in this
 * process's memory (only their SHA-256 is kept) and die with the session they were made from.
 */
export class EventTickets {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #tickets = new Map<string, { sessionIdHash: string; expiresAt: number }>();

  constructor(store: Store, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  /** A new ticket for `session`, valid {@link eventTicketTtlMs}. */
  issue(session: SessionRecord): IssuedEventTicket {
    const now = this.#now();
    for (const [hash, entry] of this.#tickets)
      if (entry.expiresAt <= now) this.#tickets.delete(hash);
    const ticket = createSecretToken();
    const expiresAt = now + eventTicketTtlMs;
    this.#tickets.set(hashSecret(ticket), { sessionIdHash: session.idHash, expiresAt });
    return { ticket, expiresAt };
  }

  /**
   * Spends `ticket`: the signed-in operator it was issued to, or null when it is unknown, used
   * already, expired, or its session ended.
   */
  async redeem(
    ticket: string,
  ): Promise<{ session: SessionRecord; operator: OperatorRecord } | null> {
    const hash = hashSecret(ticket);
    const entry = this.#tickets.get(hash);
    this.#tickets.delete(hash);
    const now = this.#now();
    if (!entry || entry.expiresAt <= now) return null;
    return resolveSessionByHash(this.#store, entry.sessionIdHash, now);
  }
}
