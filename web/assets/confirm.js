// @ts-check
/**
 * The email confirm page (`/email/confirm?token=…`). Opening it decides nothing: it only looks
 * the request up (`POST /v1/email/confirm/lookup`) and shows it. A decision is sent only when a
 * human clicks **Approve** or **Reject** (`POST /v1/email/confirm` with the token). A `totp`
 * request asks for the Authenticator code with the approval; passkey and quorum requests (and
 * requests with fields) send the human to the approval page instead.
 */

import {
  createElement,
  replaceChildren,
  requireElement,
  revealDetailValueNodes,
  revealHiddenCharacters,
} from './dom.js';
import { describeOutcome } from './outcome.js';
import { formatAbsoluteTime } from './time.js';

/**
 * @typedef {{
 *   approval: import('./api.js').ApprovalView,
 *   mode: 'approve' | 'totp' | 'page',
 *   operator: string,
 * }} ConfirmView
 */

const token = new URLSearchParams(location.search).get('token') ?? '';
const approveButton = requireElement('approve', HTMLButtonElement);
const rejectButton = requireElement('reject', HTMLButtonElement);
const errorBox = requireElement('decision-error', HTMLElement);
const sending = requireElement('sending', HTMLElement);
let inFlight = false;

/**
 * POSTs JSON to this server and returns the parsed answer, or throws an Error carrying the
 * API's own message.
 * @param {string} path
 * @param {unknown} body
 * @returns {Promise<ConfirmView>}
 */
async function post(path, body) {
  /** @type {Response} */
  let res;
  try {
    res = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
      body: JSON.stringify(body),
    });
  } catch {
    throw new Error('Could not reach the loopgate server. Check your connection and try again.');
  }
  /** @type {any} */
  let answer = null;
  try {
    answer = await res.json();
  } catch {
    // handled below
  }
  if (!res.ok) {
    const message =
      typeof answer?.error?.message === 'string'
        ? answer.error.message
        : `The server answered ${res.status}.`;
    throw new Error(message);
  }
  return answer;
}

/** @param {string} message */
function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = message === '';
}

/** @param {ConfirmView} confirm */
function render(confirm) {
  const view = confirm.approval;
  requireElement('description', HTMLElement).replaceChildren(
    ...revealHiddenCharacters(view.action_description),
  );
  requireElement('operator', HTMLElement).textContent = confirm.operator;
  requireElement('expires', HTMLElement).textContent = formatAbsoluteTime(view.expires_at);
  const entries = Object.entries(view.action_details ?? {});
  replaceChildren(
    requireElement('details-body', HTMLElement),
    entries.map(([name, value]) =>
      createElement('tr', {}, [
        createElement('th', { scope: 'row', dir: 'auto' }, revealHiddenCharacters(name)),
        createElement('td', { dir: 'auto' }, revealDetailValueNodes(value)),
      ]),
    ),
  );
  requireElement('details', HTMLElement).hidden = entries.length === 0;
  requireElement('details-empty', HTMLElement).hidden = entries.length > 0;

  const outcome = describeOutcome(view);
  const badge = requireElement('status-badge', HTMLElement);
  badge.textContent = outcome.label;
  badge.className = `badge badge-${outcome.kind}`;
  const pending = outcome.kind === 'pending';
  const pageOnly = pending && confirm.mode === 'page';
  requireElement('page-only', HTMLElement).hidden = !pageOnly;
  requireElement('approval-link', HTMLAnchorElement).href = view.approval_url ?? '/';
  requireElement('decision-form', HTMLFormElement).hidden = !pending || pageOnly;
  requireElement('totp-field', HTMLElement).hidden = confirm.mode !== 'totp';

  const outcomeSection = requireElement('outcome', HTMLElement);
  outcomeSection.hidden = pending;
  outcomeSection.dataset['outcome'] = outcome.kind;
  requireElement('outcome-heading', HTMLElement).textContent = outcome.label;
  requireElement('outcome-sentence', HTMLElement).textContent =
    outcome.sentence + (view.response ? ` (via ${view.response.channel})` : '');
}

/** @param {'approved' | 'rejected'} decision */
async function decide(decision) {
  if (inFlight) return;
  showError('');
  /** @type {{ token: string, decision: string, comment: string, totp_code?: string }} */
  const body = { token, decision, comment: requireElement('comment', HTMLTextAreaElement).value };
  const totpField = requireElement('totp-field', HTMLElement);
  if (decision === 'approved' && !totpField.hidden) {
    const code = requireElement('totp-code', HTMLInputElement).value.replace(/\s+/g, '');
    if (!/^[0-9]{6}$/.test(code)) {
      showError('Enter the 6-digit code from your authenticator app to approve.');
      requireElement('totp-code', HTMLInputElement).focus();
      return;
    }
    body.totp_code = code;
  }
  inFlight = true;
  approveButton.disabled = true;
  rejectButton.disabled = true;
  sending.textContent =
    decision === 'approved' ? 'Sending your approval…' : 'Sending your rejection…';
  try {
    render(await post('/v1/email/confirm', body));
    requireElement('outcome-heading', HTMLElement).focus();
  } catch (err) {
    showError(err instanceof Error ? err.message : 'The decision could not be sent. Try again.');
  } finally {
    inFlight = false;
    approveButton.disabled = false;
    rejectButton.disabled = false;
    sending.textContent = '';
  }
}

async function main() {
  approveButton.addEventListener('click', () => void decide('approved'));
  rejectButton.addEventListener('click', () => void decide('rejected'));
  // Enter in a field must never decide.
  requireElement('decision-form', HTMLFormElement).addEventListener('submit', (event) =>
    event.preventDefault(),
  );
  const state = requireElement('load-state', HTMLElement);
  try {
    render(await post('/v1/email/confirm/lookup', { token }));
  } catch (err) {
    state.classList.add('notice-error');
    state.setAttribute('role', 'alert');
    state.textContent = err instanceof Error ? err.message : 'This request could not be loaded.';
    return;
  }
  state.hidden = true;
  requireElement('approval', HTMLElement).hidden = false;
}

void main();
