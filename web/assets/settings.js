// @ts-check
/**
 * The settings page (`/settings`) of the signed-in operator: the authenticator app (TOTP,
 * RFC 6238) — set up with a QR code or `otpauth://` link and confirmed with a first code — and
 * passkeys (WebAuthn) — listed, and added with the browser's passkey prompt.
 */

import {
  ApiError,
  beginTotpEnrollment,
  confirmTotpEnrollment,
  fetchPasskeyRegistrationOptions,
  fetchSettings,
  listPasskeys,
  registerPasskey,
} from './api.js';
import { createElement, replaceChildren, requireElement } from './dom.js';
import { startSignedInPage } from './page.js';
import { createPasskey, PasskeyError } from './passkey.js';
import { createTimeElement } from './time.js';

/** @typedef {import('./api.js').Passkey} Passkey */

const totpStatus = requireElement('totp-status', HTMLElement);
const totpLocked = requireElement('totp-locked', HTMLElement);
const totpBegin = requireElement('totp-begin', HTMLButtonElement);
const enrolment = requireElement('totp-enrolment', HTMLFormElement);
const totpCode = requireElement('totp-code', HTMLInputElement);
const totpCodeError = requireElement('totp-code-error', HTMLElement);
const totpConfirm = requireElement('totp-confirm', HTMLButtonElement);
const passkeyForm = requireElement('passkey-form', HTMLFormElement);
const passkeyName = requireElement('passkey-name', HTMLInputElement);
const passkeyAdd = requireElement('passkey-add', HTMLButtonElement);
const passkeyError = requireElement('passkey-error', HTMLElement);
const passkeyStatus = requireElement('passkey-status', HTMLElement);

/** The enrolment in progress: the encrypted new secret the server handed out. */
let enrollmentToken = '';
let totpState = { enrolled: false, locked: false };

/**
 * @param {unknown} err
 * @param {string} fallback
 * @returns {string}
 */
function messageOf(err, fallback) {
  return err instanceof ApiError || err instanceof PasskeyError ? err.message : fallback;
}

/** Shows whether the authenticator is set up or locked, and what the button does. */
function renderTotpState() {
  totpStatus.textContent = totpState.enrolled
    ? 'Authenticator is set up'
    : 'No authenticator is set up yet.';
  totpStatus.dataset['state'] = totpState.locked ? 'locked' : totpState.enrolled ? 'on' : 'off';
  totpLocked.hidden = !totpState.locked;
  if (totpState.locked) totpStatus.textContent = 'Authenticator is locked';
  totpBegin.textContent = totpState.enrolled
    ? 'Set up again on a new device'
    : 'Set up authenticator';
  totpBegin.hidden = !enrolment.hidden;
}

/**
 * @param {string} message  empty clears the error
 */
function setCodeError(message) {
  totpCodeError.textContent = message;
  totpCodeError.hidden = message === '';
  if (message) totpCode.setAttribute('aria-invalid', 'true');
  else totpCode.removeAttribute('aria-invalid');
}

/** Asks the server for a new secret and shows it as a QR code and a link. */
async function beginEnrolment() {
  totpBegin.disabled = true;
  try {
    const started = await beginTotpEnrollment();
    enrollmentToken = started.enrollment_token;
    requireElement('totp-qr', HTMLImageElement).src = started.qr_data_url;
    requireElement('totp-uri', HTMLTextAreaElement).value = started.uri;
    totpCode.value = '';
    setCodeError('');
    enrolment.hidden = false;
    renderTotpState();
    requireElement('totp-scan-heading', HTMLElement).scrollIntoView({ block: 'start' });
    totpCode.focus({ preventScroll: true });
  } catch (err) {
    totpStatus.textContent = messageOf(
      err,
      'Could not start setting up the authenticator. Try again.',
    );
  } finally {
    totpBegin.disabled = false;
  }
}

/** Confirms the new secret with the code the app shows. */
async function confirmEnrolment() {
  const code = totpCode.value.replace(/\s+/g, '');
  if (!/^[0-9]{6}$/.test(code)) {
    setCodeError('Enter the 6 digits your authenticator app shows for loopgate.');
    totpCode.focus();
    return;
  }
  totpConfirm.disabled = true;
  try {
    await confirmTotpEnrollment(enrollmentToken, code);
    enrollmentToken = '';
    totpState = { enrolled: true, locked: false };
    enrolment.hidden = true;
    requireElement('totp-uri', HTMLTextAreaElement).value = '';
    requireElement('totp-qr', HTMLImageElement).removeAttribute('src');
    // #totp-status is a live region: it announces the new state itself.
    renderTotpState();
    totpBegin.focus();
  } catch (err) {
    totpCode.value = '';
    setCodeError(messageOf(err, 'The code could not be checked. Try again.'));
    totpCode.focus();
  } finally {
    totpConfirm.disabled = false;
  }
}

function cancelEnrolment() {
  enrollmentToken = '';
  enrolment.hidden = true;
  requireElement('totp-uri', HTMLTextAreaElement).value = '';
  renderTotpState();
  totpBegin.focus();
}

/**
 * The passkey list: name, when added, last used, and a warning on flagged ones.
 * @param {Passkey[]} passkeys
 */
function renderPasskeys(passkeys) {
  const items = passkeys.map((passkey) =>
    createElement('li', { class: 'passkey', 'data-flagged': passkey.flagged ? 'true' : null }, [
      createElement('p', { class: 'passkey-name', dir: 'auto' }, [
        passkey.name,
        passkey.flagged
          ? createElement('span', { class: 'badge badge-rejected' }, ['Flagged'])
          : null,
      ]),
      createElement('p', { class: 'passkey-meta' }, [
        'Added ',
        createTimeElement(passkey.created_at),
        ' · ',
        ...(passkey.last_used_at
          ? ['last used ', createTimeElement(passkey.last_used_at)]
          : ['never used']),
      ]),
      passkey.flagged
        ? createElement('p', { class: 'field-error' }, [
            'Its sign counter went backwards, which a copied passkey would do, so it is no longer accepted. Add a new passkey.',
          ])
        : null,
    ]),
  );
  replaceChildren(requireElement('passkey-list', HTMLElement), items);
  requireElement('passkeys-empty', HTMLElement).hidden = passkeys.length > 0;
}

/**
 * @param {string} message  empty hides the error
 */
function showPasskeyError(message) {
  passkeyError.textContent = message;
  passkeyError.hidden = message === '';
}

/** Creates a passkey with the browser's prompt and registers it under the typed name. */
async function addPasskey() {
  showPasskeyError('');
  const name = passkeyName.value.trim();
  if (name === '') {
    showPasskeyError('Give the passkey a name, e.g. “Work laptop”.');
    passkeyName.focus();
    return;
  }
  passkeyAdd.disabled = true;
  passkeyStatus.textContent = 'Follow your browser’s prompt to create the passkey…';
  try {
    const options = await fetchPasskeyRegistrationOptions();
    const response = await createPasskey(options);
    passkeyStatus.textContent = 'Saving the passkey…';
    const added = await registerPasskey(response, name);
    renderPasskeys(await listPasskeys());
    passkeyStatus.textContent = `Passkey “${added.name}” added.`;
  } catch (err) {
    passkeyStatus.textContent = '';
    showPasskeyError(messageOf(err, 'The passkey could not be added. Try again.'));
  } finally {
    passkeyAdd.disabled = false;
  }
}

/**
 * Shows why the page cannot show the settings.
 * @param {string} message
 */
function showLoadError(message) {
  const state = requireElement('load-state', HTMLElement);
  state.classList.add('notice-error');
  state.setAttribute('role', 'alert');
  state.textContent = message;
  state.hidden = false;
}

async function main() {
  totpBegin.addEventListener('click', () => void beginEnrolment());
  enrolment.addEventListener('submit', (event) => {
    event.preventDefault();
    void confirmEnrolment();
  });
  requireElement('totp-cancel', HTMLButtonElement).addEventListener('click', cancelEnrolment);
  const uri = requireElement('totp-uri', HTMLTextAreaElement);
  uri.addEventListener('focus', () => uri.select());
  passkeyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void addPasskey();
  });

  try {
    await startSignedInPage();
  } catch (err) {
    showLoadError(messageOf(err, 'This page could not be loaded.'));
    return;
  }
  try {
    const settings = await fetchSettings();
    totpState = {
      enrolled: settings.totp.enrolled === true,
      locked: settings.totp.locked === true,
    };
    renderPasskeys(Array.isArray(settings.passkeys) ? settings.passkeys : await listPasskeys());
  } catch (err) {
    showLoadError(messageOf(err, 'Your settings could not be loaded.'));
    return;
  }
  renderTotpState();
  requireElement('load-state', HTMLElement).hidden = true;
  requireElement('settings', HTMLElement).hidden = false;
}

void main();
