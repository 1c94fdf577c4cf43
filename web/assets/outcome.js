// @ts-check
/**
 * How an approval's state reads to a human, in one place so the inbox and the approval page
 * say the same thing. States (DESIGN.md): pending → responded (approved | rejected) |
 * timed_out (no decision before expires_at) | expired (cancelled by the agent).
 */

import { formatAbsoluteTime, millisecondsUntil } from './time.js';

/** @typedef {import('./api.js').ApprovalView} ApprovalView */

/**
 * @typedef {object} Outcome
 * @property {'pending' | 'approved' | 'rejected' | 'timed_out' | 'expired'} kind
 * @property {string} label  one or two words for a badge: "Approved", "Timed out"…
 * @property {string} sentence  the full statement: "This request was approved by alice at …"
 * @property {string | null} decidedAt  ISO time of the decision or deadline, when known
 */

/**
 * Whether a request can still be decided: pending and before its expires_at by this browser's
 * clock (the server marks it timed_out on its own schedule).
 * @param {ApprovalView} view
 * @param {number} [now]
 * @returns {boolean}
 */
export function isDecidable(view, now = Date.now()) {
  return view.status === 'pending' && millisecondsUntil(view.expires_at, now) > 0;
}

/**
 * The outcome of a request in words.
 * @param {ApprovalView} view
 * @param {number} [now]
 * @returns {Outcome}
 */
export function describeOutcome(view, now = Date.now()) {
  const response = view.response;
  if (view.status === 'responded' && response) {
    const kind = response.decision === 'approved' ? 'approved' : 'rejected';
    return {
      kind,
      label: kind === 'approved' ? 'Approved' : 'Rejected',
      sentence: `This request was ${kind} by ${response.responder} at ${formatAbsoluteTime(response.responded_at)}.`,
      decidedAt: response.responded_at,
    };
  }
  if (view.status === 'timed_out' || (view.status === 'pending' && !isDecidable(view, now))) {
    return {
      kind: 'timed_out',
      label: 'Timed out',
      sentence: `This request expired at ${formatAbsoluteTime(view.expires_at)} without a decision — nothing can be decided any more.`,
      decidedAt: view.expires_at,
    };
  }
  if (view.status === 'expired') {
    const passed = millisecondsUntil(view.expires_at, now) <= 0;
    return {
      kind: 'expired',
      label: 'Expired',
      sentence: passed
        ? `This request expired at ${formatAbsoluteTime(view.expires_at)} — nothing can be decided any more.`
        : 'This request was cancelled by the agent and has expired — nothing can be decided any more.',
      decidedAt: passed ? view.expires_at : null,
    };
  }
  return {
    kind: 'pending',
    label: 'Pending',
    sentence: 'This request is waiting for a decision.',
    decidedAt: null,
  };
}
