// @ts-check
/**
 * What every signed-in page shares: the header with its navigation, the operator's name and
 * the Sign out button, the connection banner, and the polite announcer for screen readers.
 */

import { ApiError, fetchSession, redirectToSignIn, signOut } from './api.js';
import { requireElement } from './dom.js';

/** @typedef {import('./api.js').Session} Session */

/**
 * Marks the header's link to this page (navigation, Settings) as the current page.
 * @param {HTMLElement} account
 */
function markCurrentPage(account) {
  for (const link of account.querySelectorAll('a[href]')) {
    if (link.getAttribute('href') === location.pathname) link.setAttribute('aria-current', 'page');
  }
}

/**
 * Fetches the session (a 401 goes to `/signin?next=…` and this never settles), shows who is
 * signed in with the header's navigation (the shared header of web/partials/header.html) and
 * wires the Sign out button.
 * @returns {Promise<Session>}
 */
export async function startSignedInPage() {
  const session = await fetchSession();
  // Only an operator's session may decide; anything else (an agent key) signs in first.
  if (!session?.operator) return redirectToSignIn();
  const account = requireElement('account', HTMLElement);
  requireElement('operator-name', HTMLElement).textContent = session.operator.name;
  account.hidden = false;
  const button = requireElement('sign-out', HTMLButtonElement);
  markCurrentPage(account);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await signOut();
    } catch (err) {
      button.disabled = false;
      announce(
        err instanceof ApiError ? `Could not sign out: ${err.message}` : 'Could not sign out.',
      );
    }
  });
  return session;
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let clearConnectionTimer;

/**
 * Shows the state of the live feed in the connection banner (a polite live region):
 * lost → a warning that stays until the feed is back; back → a short note that clears itself.
 * @param {boolean} connected
 * @param {boolean} wasLost  the feed had been lost before this change
 */
export function showConnectionState(connected, wasLost) {
  const banner = requireElement('connection', HTMLElement);
  clearTimeout(clearConnectionTimer);
  if (!connected) {
    banner.dataset['state'] = 'lost';
    banner.textContent =
      'Connection lost. Reconnecting… Live updates are paused until the connection is back.';
    return;
  }
  if (!wasLost) {
    banner.dataset['state'] = 'live';
    banner.textContent = '';
    return;
  }
  banner.dataset['state'] = 'restored';
  banner.textContent = 'Connection restored. Live updates are back on.';
  clearConnectionTimer = setTimeout(() => {
    banner.dataset['state'] = 'live';
    banner.textContent = '';
  }, 4000);
}

/**
 * Says something to screen-reader users through the page's polite live region.
 * @param {string} message
 */
export function announce(message) {
  const region = requireElement('announcer', HTMLElement);
  // Clearing first makes a repeated message be read again.
  region.textContent = '';
  setTimeout(() => {
    region.textContent = message;
  }, 50);
}
