// @ts-check
/**
 * The shadow-mode page (`/shadow`): calls that policy rules in shadow mode forwarded, newest
 * first, with what their gate would have asked (`GET /v1/shadow-calls`). Tool, agent and rule
 * names come from the proxy's side, so hidden characters are shown, never obeyed.
 */

import { ApiError, apiGet } from './api.js';
import { createElement, replaceChildren, requireElement, revealHiddenCharacters } from './dom.js';
import { startSignedInPage } from './page.js';
import { createTimeElement } from './time.js';

/**
 * @typedef {{ seq: number, at: string, tool: string, agent: string, gate: string, rule: string, action_hash: string, reason: string | null }} ShadowRow
 */

/** What each gate would have done, in words. */
const wouldHave = /** @type {Record<string, string>} */ ({
  approve: 'asked for approval',
  totp: 'asked for approval with an authenticator code',
  webauthn: 'asked for approval with a passkey',
  quorum: 'asked a quorum of approvers',
  otp_argument: 'asked for an authenticator code argument',
  deny: 'refused',
});

/** @param {ShadowRow} row */
function describeWouldHave(row) {
  const text = wouldHave[row.gate] ?? `met gate ${row.gate}`;
  return row.reason ? `${text}: ${row.reason}` : text;
}

/** @param {ShadowRow[]} rows */
function render(rows) {
  replaceChildren(
    requireElement('shadow-body', HTMLElement),
    rows.map((row) =>
      createElement('tr', {}, [
        createElement('td', {}, [createTimeElement(row.at)]),
        createElement('td', { dir: 'auto' }, [
          createElement('code', { class: 'mono' }, revealHiddenCharacters(row.tool)),
        ]),
        createElement('td', { dir: 'auto' }, revealHiddenCharacters(row.agent)),
        createElement('td', { dir: 'auto' }, revealHiddenCharacters(describeWouldHave(row))),
        createElement('td', { dir: 'auto' }, revealHiddenCharacters(row.rule)),
        createElement('td', {}, [
          createElement('code', { class: 'mono', title: row.action_hash }, [
            `${row.action_hash.slice(0, 12)}…`,
          ]),
        ]),
      ]),
    ),
  );
  requireElement('shadow', HTMLElement).hidden = rows.length === 0;
  requireElement('shadow-empty', HTMLElement).hidden = rows.length > 0;
}

async function main() {
  const state = requireElement('load-state', HTMLElement);
  try {
    await startSignedInPage();
    const answer = await apiGet('/v1/shadow-calls?limit=200');
    render(Array.isArray(answer?.items) ? answer.items : []);
    state.hidden = true;
  } catch (err) {
    state.classList.add('notice-error');
    state.setAttribute('role', 'alert');
    state.textContent =
      err instanceof ApiError ? err.message : 'The shadow-mode calls could not be loaded.';
  }
}

void main();
