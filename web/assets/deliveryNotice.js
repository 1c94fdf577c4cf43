// @ts-check
/**
 * A notice on the inbox when Slack messages, emails or webhooks failed recently (`GET
 * /v1/deliveries`), linking to the Delivery page. The requests themselves are always in the
 * inbox; the notice says the people or systems outside it may not know.
 */

import { apiGet } from './api.js';

/** Failures older than this are not worth a notice on the inbox (the Delivery page keeps them). */
const RECENT_MS = 24 * 3600 * 1000;

async function main() {
  const notice = document.getElementById('delivery-notice');
  if (!notice) return;
  /** @type {any} */
  let answer;
  try {
    answer = await apiGet('/v1/deliveries?status=failed&limit=50');
  } catch {
    return; // the inbox has its own sign-in and error handling
  }
  const since = Date.now() - RECENT_MS;
  /** @param {{ at?: string, updated_at?: string }} row */
  const recent = (row) => Date.parse(row.at ?? row.updated_at ?? '') >= since;
  const count =
    (Array.isArray(answer?.notifications) ? answer.notifications.filter(recent).length : 0) +
    (Array.isArray(answer?.webhooks) ? answer.webhooks.filter(recent).length : 0);
  if (count === 0) return;
  const text = notice.querySelector('[data-count]');
  if (text)
    text.textContent = `${count} notification${count === 1 ? '' : 's'} could not be delivered in the last day.`;
  notice.hidden = false;
}

void main();
