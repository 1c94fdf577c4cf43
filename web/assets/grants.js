// @ts-check
/**
 * The standing grants page (`/grants`): every grant, newest first (`GET /v1/grants`), with its
 * reach, uses and end, and a Revoke button for live ones (`POST /v1/grants/:id/revoke`). Tool,
 * agent and argument names come from the agent's side, so hidden characters are shown, never
 * obeyed.
 */

import { ApiError, apiGet, apiPost } from './api.js';
import { createElement, replaceChildren, requireElement, revealHiddenCharacters } from './dom.js';
import { announce, startSignedInPage } from './page.js';
import { createTimeElement } from './time.js';

/**
 * @typedef {{ grant_id: string, tool: string, agent: string, reach: 'exact' | 'tool' | 'session',
 *   constraints: Record<string, unknown> | null, granted_by: string, granted_at: string,
 *   not_after: string, max_uses: number | null, uses: number,
 *   status: 'live' | 'expired' | 'used_up' | 'revoked' }} GrantRow
 */

const statusText = { live: 'Live', expired: 'Expired', used_up: 'Used up', revoked: 'Revoked' };

/** @param {string} name @param {unknown} c */
function describeConstraint(name, c) {
  if (c === '*') return `${name}: any`;
  const bounds = /** @type {{ eq?: unknown, lte?: number, gte?: number }} */ (c);
  if ('eq' in bounds) return `${name} = ${JSON.stringify(bounds.eq)}`;
  return [
    bounds.gte !== undefined ? `${name} ≥ ${bounds.gte}` : '',
    bounds.lte !== undefined ? `${name} ≤ ${bounds.lte}` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

/** @param {GrantRow} row */
function describeReach(row) {
  if (row.reach === 'exact') return 'this exact call';
  if (row.reach === 'session') return 'any call in one session';
  const limits = Object.entries(row.constraints ?? {}).map(([n, c]) => describeConstraint(n, c));
  return `within ${limits.join('; ') || 'no arguments'}`;
}

/** @param {GrantRow[]} rows */
function render(rows) {
  replaceChildren(
    requireElement('grants-body', HTMLElement),
    rows.map((row) => {
      const revoke =
        row.status === 'live'
          ? createElement('button', { type: 'button', class: 'button button-reject' }, ['Revoke'])
          : null;
      revoke?.setAttribute('aria-label', `Revoke the grant for ${row.tool}`);
      revoke?.addEventListener('click', () => void revokeGrant(row, revoke));
      return createElement('tr', { 'data-grant-id': row.grant_id }, [
        createElement('td', {}, [createTimeElement(row.granted_at)]),
        createElement('td', { dir: 'auto' }, [
          createElement('code', { class: 'mono' }, revealHiddenCharacters(row.tool)),
        ]),
        createElement('td', { dir: 'auto' }, revealHiddenCharacters(row.agent)),
        createElement('td', { dir: 'auto' }, revealHiddenCharacters(describeReach(row))),
        createElement('td', {}, [
          `${row.uses}${row.max_uses !== null ? ` of ${row.max_uses}` : ''}`,
        ]),
        createElement('td', {}, [createTimeElement(row.not_after)]),
        createElement('td', {}, [statusText[row.status] ?? row.status]),
        createElement('td', {}, revoke ? [revoke] : []),
      ]);
    }),
  );
  requireElement('grants', HTMLElement).hidden = rows.length === 0;
  requireElement('grants-empty', HTMLElement).hidden = rows.length > 0;
}

/** @param {GrantRow} row @param {HTMLButtonElement} button */
async function revokeGrant(row, button) {
  button.disabled = true;
  try {
    await apiPost(`/v1/grants/${encodeURIComponent(row.grant_id)}/revoke`, {});
    announce(`Revoked the grant for ${row.tool}.`);
    await load();
  } catch (err) {
    button.disabled = false;
    announce(err instanceof ApiError ? err.message : 'The grant could not be revoked.');
  }
}

async function load() {
  const answer = await apiGet('/v1/grants?limit=200');
  render(Array.isArray(answer?.items) ? answer.items : []);
}

async function main() {
  const state = requireElement('load-state', HTMLElement);
  try {
    await startSignedInPage();
    await load();
    state.hidden = true;
  } catch (err) {
    state.classList.add('notice-error');
    state.setAttribute('role', 'alert');
    state.textContent =
      err instanceof ApiError ? err.message : 'The standing grants could not be loaded.';
  }
}

void main();
