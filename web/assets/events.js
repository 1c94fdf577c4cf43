// @ts-check
/**
 * The live feed: `GET /v1/events` as Server-Sent Events (HTML Living Standard §9.2), one
 * `event: approval` with the approval view as `data` on every change. EventSource cannot send
 * the session header, so each connection first gets a single-use ticket
 * (`POST /v1/events/tickets`, a 401 goes to the sign-in page) and opens
 * `/v1/events?ticket=…`. A ticket works once, so when the stream drops (EventSource would retry
 * with the spent ticket and be refused, which closes it for good) this module opens a new
 * stream with a fresh ticket after a growing pause.
 */

import { fetchEventTicket } from './api.js';

/** @typedef {import('./api.js').ApprovalView} ApprovalView */

/**
 * @typedef {object} ApprovalFeedHandlers
 * @property {(view: ApprovalView) => void} onApproval  called for each approval event
 * @property {(connected: boolean, reconnected: boolean) => void} onConnectionChange
 *   connected: the stream is open; reconnected: it opened after having been lost, so events may
 *   have been missed and the caller should fetch its state again
 */

const RETRY_DELAYS_MS = [1000, 2000, 5000, 10_000, 30_000];

/**
 * Opens the approval feed. Returns a function that closes it.
 * @param {ApprovalFeedHandlers} handlers
 * @returns {() => void}
 */
export function subscribeToApprovals(handlers) {
  /** @type {EventSource | null} */
  let source = null;
  let everConnected = false;
  let lost = false;
  let attempt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let retryTimer;
  let closed = false;
  let stopped = false;

  const markLost = () => {
    if (lost) return;
    lost = true;
    handlers.onConnectionChange(false, false);
  };

  const open = async () => {
    if (closed) return;
    /** @type {string} */
    let ticket;
    try {
      ({ ticket } = await fetchEventTicket()); // never settles on 401: the page goes to sign-in
    } catch {
      markLost(); // the server is unreachable or failing; keep trying
      scheduleRetry();
      return;
    }
    if (closed) return;
    source = new EventSource(`/v1/events?ticket=${encodeURIComponent(ticket)}`);
    source.addEventListener('open', () => {
      attempt = 0;
      const reconnected = everConnected && lost;
      everConnected = true;
      lost = false;
      handlers.onConnectionChange(true, reconnected);
    });
    source.addEventListener('approval', (event) => {
      /** @type {unknown} */
      let view;
      try {
        view = JSON.parse(/** @type {MessageEvent<string>} */ (event).data);
      } catch {
        return; // A malformed event carries nothing we can show; the next fetch will catch up.
      }
      if (view && typeof view === 'object' && 'pause_id' in view) {
        handlers.onApproval(/** @type {ApprovalView} */ (view));
      }
    });
    source.addEventListener('error', () => {
      markLost();
      // The ticket is spent: EventSource's own retry would be refused, so reconnect ourselves.
      source?.close();
      source = null;
      scheduleRetry();
    });
  };

  const scheduleRetry = () => {
    if (closed) return;
    clearTimeout(retryTimer);
    const delay = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)] ?? 30_000;
    attempt += 1;
    retryTimer = setTimeout(() => void open(), delay);
  };

  // Leaving the page (or going into the back/forward cache) must not show a lost connection.
  addEventListener('pagehide', () => {
    closed = true;
    clearTimeout(retryTimer);
    source?.close();
    source = null;
  });
  addEventListener('pageshow', (event) => {
    if (!event.persisted || !closed || stopped) return;
    closed = false;
    lost = true; // restored from the back/forward cache: events were missed meanwhile
    void open();
  });

  void open();
  return () => {
    stopped = true;
    closed = true;
    clearTimeout(retryTimer);
    source?.close();
  };
}
