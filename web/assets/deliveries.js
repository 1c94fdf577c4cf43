// @ts-check
/**
 * The delivery page (`/deliveries`): notifications (Slack, email) and webhook messages that
 * failed, newest first, from `GET /v1/deliveries`. Retrying webhooks show when the next attempt
 * is due.
 */

import { ApiError, apiGet } from './api.js';
import { createElement, replaceChildren, requireElement, revealHiddenCharacters } from './dom.js';
import { startSignedInPage } from './page.js';
import { createTimeElement } from './time.js';

/**
 * @typedef {{ pause_id: string, channel: string, kind: string, recipient: string, status: string, error_code: string | null, error_message: string | null, at: string }} NotificationRow
 * @typedef {{ msg_id: string, endpoint_id: string, url: string | null, event_type: string, pause_id: string | null, status: string, attempts: number, last_status: number | null, last_error: string | null, next_attempt_at: string | null, updated_at: string }} WebhookRow
 */

/**
 * @param {string} pauseId
 * @returns {HTMLElement}
 */
function requestLink(pauseId) {
  return createElement('a', { href: `/approvals/${encodeURIComponent(pauseId)}` }, [pauseId]);
}

/** @param {WebhookRow} row */
function describeWebhookState(row) {
  if (row.status === 'pending' && row.next_attempt_at)
    return `retrying (attempt ${row.attempts} failed)`;
  if (row.status === 'endpoint_gone') return 'endpoint gone (410): disabled';
  if (row.status === 'failed') return `gave up after ${row.attempts} attempts`;
  return row.status;
}

/**
 * @param {NotificationRow[]} notifications
 * @param {WebhookRow[]} webhooks
 */
function render(notifications, webhooks) {
  replaceChildren(
    requireElement('notifications-body', HTMLElement),
    notifications.map((row) =>
      createElement('tr', {}, [
        createElement('td', {}, [createTimeElement(row.at)]),
        createElement('td', {}, [requestLink(row.pause_id)]),
        createElement('td', {}, [`${row.channel} (${row.kind})`]),
        createElement('td', { dir: 'auto' }, revealHiddenCharacters(row.recipient)),
        createElement('td', { dir: 'auto' }, [
          createElement('code', { class: 'mono' }, [row.error_code ?? '']),
          ' ',
          ...revealHiddenCharacters(row.error_message ?? ''),
        ]),
      ]),
    ),
  );
  requireElement('notifications', HTMLElement).hidden = notifications.length === 0;
  requireElement('notifications-empty', HTMLElement).hidden = notifications.length > 0;
  replaceChildren(
    requireElement('webhooks-body', HTMLElement),
    webhooks.map((row) =>
      createElement('tr', {}, [
        createElement('td', {}, [createTimeElement(row.updated_at)]),
        createElement('td', {}, [
          row.event_type,
          row.pause_id ? ' · ' : '',
          row.pause_id ? requestLink(row.pause_id) : '',
        ]),
        createElement('td', { dir: 'auto' }, [row.url ?? row.endpoint_id]),
        createElement('td', {}, [
          describeWebhookState(row),
          row.next_attempt_at ? ', next ' : '',
          row.next_attempt_at ? createTimeElement(row.next_attempt_at) : '',
        ]),
        createElement('td', { dir: 'auto' }, revealHiddenCharacters(row.last_error ?? '')),
      ]),
    ),
  );
  requireElement('webhooks', HTMLElement).hidden = webhooks.length === 0;
  requireElement('webhooks-empty', HTMLElement).hidden = webhooks.length > 0;
}

async function main() {
  const state = requireElement('load-state', HTMLElement);
  try {
    await startSignedInPage();
    const answer = await apiGet('/v1/deliveries?status=failed&limit=200');
    render(
      Array.isArray(answer?.notifications) ? answer.notifications : [],
      Array.isArray(answer?.webhooks) ? answer.webhooks : [],
    );
    state.hidden = true;
  } catch (err) {
    state.classList.add('notice-error');
    state.setAttribute('role', 'alert');
    state.textContent =
      err instanceof ApiError ? err.message : 'Delivery problems could not be loaded.';
  }
}

void main();
