// @ts-check
/**
 * Passkey ceremonies in the browser (WebAuthn Level 3), through @simplewebauthn/browser. The
 * library is a UMD script the page loads before its module (`/assets/vendor/index.umd.min.js`,
 * global `SimpleWebAuthnBrowser`), because the strict CSP allows only same-origin scripts and
 * no bundler runs here. Errors from the browser become one sentence a human can act on.
 */

/**
 * @typedef {{
 *   startRegistration(options: { optionsJSON: unknown }): Promise<unknown>,
 *   startAuthentication(options: { optionsJSON: unknown }): Promise<unknown>,
 *   browserSupportsWebAuthn(): boolean,
 * }} WebAuthnBrowser
 */

/** A passkey ceremony that did not finish; `message` says what to do. */
export class PasskeyError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'PasskeyError';
  }
}

/**
 * The library, or a PasskeyError when it did not load or the browser has no WebAuthn.
 * @returns {WebAuthnBrowser}
 */
function loadLibrary() {
  const library = /** @type {{ SimpleWebAuthnBrowser?: WebAuthnBrowser }} */ (
    /** @type {unknown} */ (window)
  ).SimpleWebAuthnBrowser;
  if (!library) {
    throw new PasskeyError('The passkey script did not load. Reload the page and try again.');
  }
  if (!library.browserSupportsWebAuthn()) {
    throw new PasskeyError(
      'This browser cannot use passkeys. Open this page in a current browser on a device with a passkey.',
    );
  }
  return library;
}

/**
 * The relying party id the server's options name (`rp.id` for registration, `rpId` for
 * assertions), or null.
 * @param {unknown} options
 * @returns {string | null}
 */
function readRpId(options) {
  if (!options || typeof options !== 'object') return null;
  const record = /** @type {{ rpId?: unknown, rp?: { id?: unknown } }} */ (options);
  if (typeof record.rpId === 'string') return record.rpId;
  if (record.rp && typeof record.rp.id === 'string') return record.rp.id;
  return null;
}

/**
 * Turns what the browser threw into a sentence. Browsers refuse an IP address as relying party
 * id, and one that is not this page's host name (the server opened under another name), with a
 * SecurityError: say which address to use instead.
 * @param {unknown} err
 * @param {unknown} options
 * @param {'create' | 'use'} ceremony
 * @returns {PasskeyError}
 */
function describeCeremonyError(err, options, ceremony) {
  const name = err && typeof err === 'object' && 'name' in err ? String(err.name) : '';
  const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : '';
  const rpId = readRpId(options);
  const port = location.port ? `:${location.port}` : '';
  if (rpId !== null && (/^[0-9.]+$/.test(rpId) || rpId.includes(':'))) {
    return new PasskeyError(
      `Passkeys need a host name, not the IP address ${rpId}: start loopgate with --public-url ${location.protocol}//localhost${port} (or this machine’s host name) and open the page there.`,
    );
  }
  if (rpId !== null && rpId !== location.hostname) {
    return new PasskeyError(
      `Passkeys here belong to ${rpId}, not ${location.hostname}: open ${location.protocol}//${rpId}${port}${location.pathname} instead.`,
    );
  }
  if (
    name === 'SecurityError' ||
    code === 'ERROR_INVALID_RP_ID' ||
    code === 'ERROR_INVALID_DOMAIN'
  ) {
    return new PasskeyError(
      `The browser refused passkeys for ${rpId ?? location.hostname}: passkeys need HTTPS, or http://localhost.`,
    );
  }
  if (code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED' || name === 'InvalidStateError') {
    return new PasskeyError(
      'This device already has a passkey for you here; it is in the list below.',
    );
  }
  if (code === 'ERROR_AUTHENTICATOR_MISSING_USER_VERIFICATION_SUPPORT') {
    return new PasskeyError(
      'This authenticator cannot verify you (no PIN, fingerprint or face unlock). Use one that can.',
    );
  }
  if (name === 'NotAllowedError' || name === 'AbortError') {
    return new PasskeyError(
      ceremony === 'create'
        ? 'No passkey was created: the prompt was closed or timed out. Try again.'
        : 'The passkey prompt was closed or timed out, so nothing was sent. Approve again to retry.',
    );
  }
  const detail = err instanceof Error && err.message ? ` (${err.message})` : '';
  return new PasskeyError(
    ceremony === 'create'
      ? `The browser could not create a passkey${detail}.`
      : `The browser could not use your passkey${detail}.`,
  );
}

/**
 * Runs `navigator.credentials.create()` with the server's creation options.
 * @param {unknown} optionsJSON  PublicKeyCredentialCreationOptionsJSON
 * @returns {Promise<unknown>}  RegistrationResponseJSON
 */
export async function createPasskey(optionsJSON) {
  const library = loadLibrary();
  try {
    return await library.startRegistration({ optionsJSON });
  } catch (err) {
    throw describeCeremonyError(err, optionsJSON, 'create');
  }
}

/**
 * Runs `navigator.credentials.get()` with the server's request options.
 * @param {unknown} optionsJSON  PublicKeyCredentialRequestOptionsJSON
 * @returns {Promise<unknown>}  AuthenticationResponseJSON
 */
export async function usePasskey(optionsJSON) {
  const library = loadLibrary();
  try {
    return await library.startAuthentication({ optionsJSON });
  } catch (err) {
    throw describeCeremonyError(err, optionsJSON, 'use');
  }
}
