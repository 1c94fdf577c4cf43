// @ts-check
/**
 * A notice, on the inbox and on Settings, of every second factor (authenticator app or
 * passkey) added or replaced in the last 14 days (`factor_changes` of `GET /v1/settings`), so
 * an operator notices a factor they did not add.
 */

import { apiGet } from './api.js';
import { createElement, replaceChildren } from './dom.js';
import { createTimeElement } from './time.js';

/** @typedef {import('./api.js').FactorChange} FactorChange */

/**
 * Shows `changes` in `#factor-notice` (hidden when there are none).
 * @param {FactorChange[]} changes
 */
export function showFactorNotices(changes) {
  const notice = document.getElementById('factor-notice');
  if (!notice) return;
  const onSettings = location.pathname === '/settings';
  const items = changes.map((change) =>
    createElement('li', {}, [
      change.kind === 'passkey'
        ? createElement('span', { dir: 'auto' }, [`A passkey “${change.name ?? ''}” was added on `])
        : 'An authenticator app was set up on ',
      createTimeElement(change.at),
      '.',
    ]),
  );
  replaceChildren(notice, [
    createElement('p', {}, [createElement('strong', {}, ['New sign-in factors on your account'])]),
    createElement('ul', { class: 'factor-changes' }, items),
    createElement('p', {}, [
      'If you did not add one of these, tell an admin at once: they can remove it and unlock your account. ',
      onSettings ? null : createElement('a', { href: '/settings' }, ['See Settings']),
    ]),
  ]);
  notice.hidden = changes.length === 0;
}

async function main() {
  if (!document.getElementById('factor-notice') || location.pathname === '/settings') return;
  /** @type {any} */
  let settings;
  try {
    settings = await apiGet('/v1/settings');
  } catch {
    return; // the page has its own sign-in and error handling
  }
  showFactorNotices(Array.isArray(settings?.factor_changes) ? settings.factor_changes : []);
}

void main();
