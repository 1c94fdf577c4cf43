// @ts-check
/**
 * The page a sign-in link opens (`/login?token=…&next=…`). Opening it spends nothing (so a link
 * preview or mail scanner cannot use the link up); pressing **Sign in** posts the token to
 * `POST /v1/login`, keeps the session secret it answers with in this origin's localStorage and
 * goes to `next` (a path on this server only; anything else goes to the inbox).
 */

import { storeSessionSecret } from './api.js';
import { requireElement } from './dom.js';

/**
 * `next` when it is a path on this server with no control characters or spaces, else `/`, so
 * the link cannot send someone to another site (browsers drop tabs and newlines from URLs, so
 * `/\t/host` would become `//host`).
 * @param {string | null} next
 * @returns {string}
 */
export function readSafeNext(next) {
  // eslint-disable-next-line no-control-regex
  if (!next || !next.startsWith('/') || /[\s\u0000-\u001f\u007f]/.test(next)) return '/';
  try {
    const url = new URL(next, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : '/';
  } catch {
    return '/';
  }
}

const params = new URLSearchParams(location.search);
const token = params.get('token') ?? '';
const next = readSafeNext(params.get('next'));
const form = requireElement('login-form', HTMLFormElement);
const button = requireElement('sign-in', HTMLButtonElement);
const errorBox = requireElement('login-error', HTMLElement);

/** @param {string} message */
function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

async function signIn() {
  button.disabled = true;
  errorBox.hidden = true;
  /** @type {Response} */
  let res;
  try {
    res = await fetch('/v1/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      credentials: 'omit',
      cache: 'no-store',
      body: JSON.stringify({ token, next }),
    });
  } catch {
    button.disabled = false;
    showError('Could not reach the loopgate server. Check your connection and try again.');
    return;
  }
  /** @type {any} */
  let answer = null;
  try {
    answer = await res.json();
  } catch {
    // handled below
  }
  if (!res.ok || typeof answer?.session !== 'string') {
    const message =
      typeof answer?.error?.message === 'string'
        ? answer.error.message
        : `The server answered ${res.status}. Try again in a moment.`;
    showError(message);
    // A spent or unknown link stays spent: only a network failure is worth another press.
    button.disabled = res.status !== 401;
    return;
  }
  storeSessionSecret(answer.session);
  location.replace(readSafeNext(typeof answer.next === 'string' ? answer.next : next));
}

if (token === '') {
  button.disabled = true;
  showError(
    'That sign-in link has no token. Copy the whole link, or get a new one with loopgate login-url.',
  );
} else {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void signIn();
  });
}
