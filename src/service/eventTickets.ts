import { createHmac, randomBytes } from 'node:crypto';
import { constantTimeEqual, createSecretToken, hashSecret } from '../core/ids.js';
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
 * `X-Loopgate-Session` header, for a ticket it puts in the stream's URL. A ticket is
 * `<payload>.<mac>`: the payload (base64url JSON `{s, e, n}`: the session's id hash, the expiry
 * in ms, a 256-bit nonce) MACed with HMAC-SHA-256 (RFC 2104) under the deployment's signing
 * secret, so any server of a deployment can check it; its single use is claimed in the store
 * (`Store.claimTask`), so no two servers accept it twice. It dies with its session.
 */
export class EventTickets {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #key: Buffer;

  /**
   * @param secret the deployment's signing secret (every server the same); a process that
   *   gives none gets a random one, so its tickets work on it alone
   */
  constructor(store: Store, now: () => number, secret?: string) {
    this.#store = store;
    this.#now = now;
    this.#key = createHmac('sha256', secret ?? randomBytes(32))
      .update('loopgate event ticket key v1')
      .digest();
  }

  /** A new ticket for `session`, valid {@link eventTicketTtlMs}. */
  issue(session: SessionRecord): IssuedEventTicket {
    const expiresAt = this.#now() + eventTicketTtlMs;
    const payload = Buffer.from(
      JSON.stringify({ s: session.idHash, e: expiresAt, n: createSecretToken() }),
    ).toString('base64url');
    return { ticket: `${payload}.${this.#mac(payload)}`, expiresAt };
  }

  /**
   * Spends `ticket`: the signed-in operator it was issued to, or null when it is forged,
   * used already (on any server), expired, or its session ended.
   */
  async redeem(
    ticket: string,
  ): Promise<{ session: SessionRecord; operator: OperatorRecord } | null> {
    const [payload, mac, extra] = ticket.split('.');
    if (!payload || !mac || extra !== undefined || !constantTimeEqual(mac, this.#mac(payload))) {
      return null;
    }
    let claims: { s?: unknown; e?: unknown; n?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return null;
    }
    const now = this.#now();
    if (typeof claims.s !== 'string' || typeof claims.e !== 'number' || claims.e <= now) {
      return null;
    }
    if (typeof claims.n !== 'string') return null;
    if (!(await this.#store.claimTask(`event-ticket:${hashSecret(claims.n)}`, now, claims.e))) {
      return null;
    }
    return resolveSessionByHash(this.#store, claims.s, now);
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url');
  }
}
