// @ts-check
/**
 * The sign-in help page (`/signin`). Shows why a sign-in link failed (`?error=expired|used|…`,
 * set by the server's `/login` redirect), that the user signed out (`?signed_out=1`), and, when
 * a session exists after all, a link on to `next` (a same-origin path only).
 */

import { ApiError, fetchSession } from './api.js';
import { requireElement } from './dom.js';

/** @type {Record<string, string>} */
const ERROR_MESSAGES = {
  expired:
    'That sign-in link has expired: links work for 15 minutes. Get a new one with loopgate login-url.',
  used: 'That sign-in link was used already: each link works once. Get a new one with loopgate login-url.',
  invalid:
    'That sign-in link is not valid. Copy the whole link, or get a new one with loopgate login-url.',
  missing:
    'That sign-in link has no token. Copy the whole link, or get a new one with loopgate login-url.',
  E_AUTH_LOGIN_TOKEN_INVALID:
    'That sign-in link is unknown, used already, or expired. Get a new one with loopgate login-url.',
};

/**
 * `next` when it is a path on this server (`/…` but not `//host` or `/\host`), else `/`, so the
 * page cannot be used to send someone to another site.
 * @param {string | null} next
 * @returns {string}
 */
function readSafeNext(next) {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  try {
    const url = new URL(next, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : '/';
  } catch {
    return '/';
  }
}

async function main() {
  const params = new URLSearchParams(location.search);
  const errorCode = params.get('error');
  const errorBox = requireElement('signin-error', HTMLElement);
  if (errorCode) {
    // Shown as text: the query string is whatever a link said.
    errorBox.textContent =
      ERROR_MESSAGES[errorCode] ??
      `Signing in failed (${errorCode.slice(0, 80)}). Get a new link with loopgate login-url.`;
    errorBox.hidden = false;
  }
  const state = requireElement('signin-state', HTMLElement);
  if (params.get('signed_out') !== null) {
    state.textContent = 'You are signed out.';
    state.hidden = false;
  }

  const next = readSafeNext(params.get('next'));
  let session = null;
  try {
    session = await fetchSession({ redirectOn401: false });
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
  }
  if (!session?.operator) return;
  state.textContent = `You are signed in as ${session.operator.name}.`;
  state.hidden = false;
  const link = requireElement('continue-link', HTMLAnchorElement);
  link.href = next;
  link.textContent = next === '/' ? 'Go to the inbox' : 'Continue';
  requireElement('continue', HTMLElement).hidden = false;
}

void main();
