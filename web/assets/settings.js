// @ts-check
/**
 * The settings page (`/settings`) of the signed-in operator: the authenticator app (TOTP,
 * RFC 6238) — set up with a QR code or `otpauth://` link and confirmed with a first code — and
 * passkeys (WebAuthn) — listed, and added with the browser's passkey prompt. Once the operator
 * has a factor, adding or replacing one first asks for a current one (a code or a passkey);
 * factors added lately are shown in a notice.
 */

import {
  ApiError,
  beginTotpEnrollment,
  confirmTotpEnrollment,
  fetchPasskeyProofOptions,
  fetchPasskeyRegistrationOptions,
  fetchSettings,
  listPasskeys,
  registerPasskey,
} from './api.js';
import { createElement, replaceChildren, requireElement } from './dom.js';
import { startSignedInPage } from './page.js';
import { showFactorNotices } from './factorNotice.js';
import { createPasskey, PasskeyError, usePasskey } from './passkey.js';
import { createTimeElement } from './time.js';

/** @typedef {import('./api.js').Passkey} Passkey */
/** @typedef {import('./api.js').FactorProof} FactorProof */

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

const proofPanel = requireElement('factor-proof', HTMLElement);
const proofForm = requireElement('factor-proof-form', HTMLFormElement);
const proofHint = requireElement('factor-proof-hint', HTMLElement);
const proofCodeField = requireElement('factor-proof-code-field', HTMLElement);
const proofCode = requireElement('factor-proof-code', HTMLInputElement);
const proofPasskey = requireElement('factor-proof-passkey', HTMLButtonElement);
const proofError = requireElement('factor-proof-error', HTMLElement);

/** The enrolment in progress: the encrypted new secret the server handed out. */
let enrollmentToken = '';
let totpState = { enrolled: false, locked: false };
/** How many usable (unflagged) passkeys the operator has. */
let usablePasskeys = 0;
/** @type {((proof: FactorProof | null) => void) | null} */
let settleProof = null;

/**
 * Shows "Confirm it's you" and resolves with the current factor the operator proves: a code
 * (when the authenticator is set up and not locked) or a passkey; null when cancelled.
 * @param {string} action  what the proof is for, e.g. "add a passkey"
 * @param {string} error  why the last proof was refused, or empty
 * @returns {Promise<FactorProof | null>}
 */
function askForProof(action, error) {
  const canCode = totpState.enrolled && !totpState.locked;
  proofHint.textContent = `To ${action}, first confirm it’s you with ${
    canCode && usablePasskeys > 0
      ? 'a code from your current authenticator app or one of your passkeys'
      : canCode
        ? 'a code from your current authenticator app'
        : 'one of your passkeys'
  }. Someone who only has this browser session cannot add a factor of their own.`;
  proofCodeField.hidden = !canCode;
  requireElement('factor-proof-continue', HTMLButtonElement).hidden = !canCode;
  proofPasskey.hidden = usablePasskeys === 0;
  proofPasskey.textContent = canCode ? 'Use a passkey instead' : 'Use a passkey';
  proofCode.value = '';
  proofError.textContent = error;
  proofError.hidden = error === '';
  proofPanel.hidden = false;
  proofPanel.scrollIntoView({ block: 'start' });
  if (canCode) proofCode.focus({ preventScroll: true });
  else proofPasskey.focus({ preventScroll: true });
  return new Promise((resolve) => {
    settleProof = resolve;
  });
}

/** @param {FactorProof | null} proof */
function finishProof(proof) {
  const settle = settleProof;
  settleProof = null;
  settle?.(proof);
}

function hideProof() {
  proofPanel.hidden = true;
  proofCode.value = '';
}

/**
 * Runs `run` with a current factor when the operator has one (asking again after a refused
 * proof), or with none for a first factor (the server allows that only from an invite link).
 * Resolves with `run`'s result, or undefined when the operator cancelled.
 * @template T
 * @param {string} action
 * @param {(proof: FactorProof) => Promise<T>} run
 * @returns {Promise<T | undefined>}
 */
async function withCurrentFactor(action, run) {
  if (!totpState.enrolled && usablePasskeys === 0) return run({});
  let error = '';
  for (;;) {
    const proof = await askForProof(action, error);
    if (!proof) {
      hideProof();
      return undefined;
    }
    try {
      const result = await run(proof);
      hideProof();
      return result;
    } catch (err) {
      if (err instanceof ApiError && /^E_(TOTP|WEBAUTHN|FACTOR_PROOF)_/.test(err.code ?? '')) {
        error = err.message;
        continue;
      }
      hideProof();
      throw err;
    }
  }
}

/** Reloads the notice of factors added lately. */
async function refreshFactorNotices() {
  try {
    const settings = await fetchSettings();
    showFactorNotices(Array.isArray(settings.factor_changes) ? settings.factor_changes : []);
  } catch {
    // The notice is a courtesy; the change itself went through.
  }
}

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
  if (totpState.locked && usablePasskeys === 0) {
    totpStatus.textContent =
      'Authenticator is locked: an admin must unlock it before you can set it up again.';
    return;
  }
  totpBegin.disabled = true;
  try {
    const started = await withCurrentFactor(
      totpState.enrolled ? 'replace your authenticator app' : 'set up an authenticator app',
      (proof) => beginTotpEnrollment(proof),
    );
    if (!started) return;
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
    // A lock survives a new secret: only an admin's unlock clears it.
    totpState = { enrolled: true, locked: totpState.locked };
    enrolment.hidden = true;
    requireElement('totp-uri', HTMLTextAreaElement).value = '';
    requireElement('totp-qr', HTMLImageElement).removeAttribute('src');
    // #totp-status is a live region: it announces the new state itself.
    renderTotpState();
    totpBegin.focus();
    await refreshFactorNotices();
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
  usablePasskeys = passkeys.filter((passkey) => !passkey.flagged).length;
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
  try {
    const options = await withCurrentFactor('add a passkey', (proof) =>
      fetchPasskeyRegistrationOptions(proof),
    );
    if (options === undefined) {
      passkeyStatus.textContent = '';
      return;
    }
    passkeyStatus.textContent = 'Follow your browser’s prompt to create the passkey…';
    const response = await createPasskey(options);
    passkeyStatus.textContent = 'Saving the passkey…';
    const added = await registerPasskey(response, name);
    renderPasskeys(await listPasskeys());
    passkeyStatus.textContent = `Passkey “${added.name}” added.`;
    await refreshFactorNotices();
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
  proofForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const code = proofCode.value.replace(/\s+/g, '');
    if (!/^[0-9]{6}$/.test(code)) {
      proofError.textContent = 'Enter the 6 digits your current authenticator app shows.';
      proofError.hidden = false;
      proofCode.focus();
      return;
    }
    finishProof({ current_totp_code: code });
  });
  proofPasskey.addEventListener('click', () => {
    void (async () => {
      proofPasskey.disabled = true;
      try {
        const assertion = await usePasskey(await fetchPasskeyProofOptions());
        finishProof({ current_webauthn: assertion });
      } catch (err) {
        proofError.textContent = messageOf(err, 'Your passkey could not be used. Try again.');
        proofError.hidden = false;
      } finally {
        proofPasskey.disabled = false;
      }
    })();
  });
  requireElement('factor-proof-cancel', HTMLButtonElement).addEventListener('click', () =>
    finishProof(null),
  );

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
    showFactorNotices(Array.isArray(settings.factor_changes) ? settings.factor_changes : []);
  } catch (err) {
    showLoadError(messageOf(err, 'Your settings could not be loaded.'));
    return;
  }
  renderTotpState();
  requireElement('load-state', HTMLElement).hidden = true;
  requireElement('settings', HTMLElement).hidden = false;
}

void main();
