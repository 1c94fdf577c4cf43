// @ts-check
/**
 * The browser's client for loopgate's JSON API (docs/api.md). Every call is same-origin and
 * carries the session secret (kept in this origin's localStorage by the sign-in page) in
 * `X-Loopgate-Session`; no cookie is sent or needed. Every POST also carries the session's CSRF
 * token in `X-CSRF-Token`. A 401 forgets the secret and sends the user to
 * `/signin?next=<current path>`; any other failure is thrown as an {@link ApiError} whose
 * `message` is the `error.message` of the API's body, never a raw dump.
 */

/**
 * @typedef {{ name: string, label: string, type: 'string' | 'number' | 'boolean', required?: boolean }} FieldSpec
 * @typedef {{
 *   decision: 'approved' | 'rejected',
 *   comment: string,
 *   fields: Record<string, string | number | boolean>,
 *   responder: string,
 *   responded_at: string,
 *   channel: string,
 *   nonce: string,
 *   signature: string,
 *   approvers?: string[],
 * }} ApprovalResponse
 * @typedef {{
 *   pause_id: string,
 *   agent_id: string,
 *   status: 'pending' | 'responded' | 'timed_out' | 'expired',
 *   action_description: string,
 *   action_details: Record<string, unknown>,
 *   fields?: FieldSpec[] | null,
 *   recipient_email?: string | null,
 *   recipient_slack?: string | null,
 *   created_at: string,
 *   expires_at: string,
 *   action_hash: string,
 *   approval_url?: string,
 *   response?: ApprovalResponse | null,
 *   receipt?: string | null,
 *   gate?: Gate | null,
 *   tool?: string | null,
 *   consumed_at?: string | null,
 *   votes?: QuorumVote[] | null,
 *   editable?: boolean,
 *   input_schema?: Record<string, unknown>,
 *   edit?: {
 *     original_action_hash: string,
 *     original_arguments: Record<string, unknown>,
 *     changes: ArgumentChange[],
 *   },
 * }} ApprovalView
 * @typedef {{ path: string, from?: unknown, to?: unknown }} ArgumentChange
 * @typedef {{
 *   type: 'approve' | 'totp' | 'webauthn' | 'quorum',
 *   quorum?: { n: number, approvers: string[], step_up: 'none' | 'totp' | 'webauthn' | string },
 * }} Gate
 * @typedef {{ operator: string, decision: 'approved' | 'rejected', at: string }} QuorumVote
 * @typedef {{ id: string, name: string, created_at: string, last_used_at: string | null, flagged: boolean }} Passkey
 * @typedef {{
 *   operator: { id: string, name: string, role: string },
 *   totp: { enrolled: boolean, locked: boolean, enrolled_at?: string | null },
 *   passkeys: Passkey[],
 *   session?: { source: 'login' | 'invite' | 'enroll' },
 *   factor_changes?: FactorChange[],
 * }} Settings
 * @typedef {{ kind: 'totp' | 'passkey', name: string | null, at: string }} FactorChange
 * @typedef {{ current_totp_code?: string, current_webauthn?: unknown }} FactorProof
 * @typedef {{ operator: { id: string, name: string, role: string }, csrf_token: string }} Session
 */

/**
 * A failed API call. `code` is the API's `E_…` code, or null when the server could not be
 * reached or answered without a loopgate error body; `status` is the HTTP status (0 when the
 * request never got an answer).
 */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string | null} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** @type {Session | null} */
let currentSession = null;

/** The localStorage key of the session secret (per origin: other localhost ports cannot read it). */
const SESSION_STORAGE_KEY = 'loopgate.session';

/**
 * The stored session secret, or null when this browser is not signed in (or storage is off).
 * @returns {string | null}
 */
export function readSessionSecret() {
  try {
    return localStorage.getItem(SESSION_STORAGE_KEY);
  } catch {
    return null;
  }
}

/**
 * Keeps the session secret `POST /v1/login` handed out, for every tab of this origin.
 * @param {string} secret
 */
export function storeSessionSecret(secret) {
  localStorage.setItem(SESSION_STORAGE_KEY, secret);
}

/** Forgets the session secret (sign-out, or the server no longer knows it). */
export function forgetSessionSecret() {
  currentSession = null;
  try {
    localStorage.removeItem(SESSION_STORAGE_KEY);
  } catch {
    // Storage is off: there is nothing to forget.
  }
}

/**
 * The header that proves this page is signed in, for fetches made outside this module.
 * @returns {Record<string, string>}
 */
export function sessionHeaders() {
  const secret = readSessionSecret();
  return secret ? { 'X-Loopgate-Session': secret } : {};
}

/** The path and query of this page, as the `next` a sign-in should return to. */
function currentPath() {
  return location.pathname + location.search;
}

/**
 * Sends the browser to the sign-in help page, remembering where to come back to. Returns a
 * promise that never settles, so callers render nothing while the page unloads.
 * @returns {Promise<never>}
 */
export function redirectToSignIn() {
  location.assign(`/signin?next=${encodeURIComponent(currentPath())}`);
  return new Promise(() => {});
}

/**
 * Reads a non-2xx answer into an ApiError with the API's own message.
 * @param {Response} res
 * @returns {Promise<ApiError>}
 */
async function readApiError(res) {
  /** @type {unknown} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): fall through to the generic message.
  }
  const error =
    body &&
    typeof body === 'object' &&
    'error' in body &&
    body.error &&
    typeof body.error === 'object'
      ? /** @type {{ code?: unknown, message?: unknown }} */ (body.error)
      : null;
  if (error && typeof error.message === 'string' && error.message !== '') {
    return new ApiError(
      res.status,
      typeof error.code === 'string' ? error.code : null,
      error.message,
    );
  }
  const reason = res.statusText ? ` ${res.statusText}` : '';
  return new ApiError(
    res.status,
    null,
    `The server answered ${res.status}${reason}. Try again in a moment.`,
  );
}

/**
 * One request to the API. Parses JSON answers; 204 gives null.
 * @param {string} method
 * @param {string} path  same-origin path, e.g. `/v1/approvals?status=pending`
 * @param {{ body?: unknown, redirectOn401?: boolean }} [options]
 * @returns {Promise<any>}
 */
async function requestJson(method, path, options = {}) {
  const { body, redirectOn401 = true } = options;
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json', ...sessionHeaders() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && currentSession) headers['X-CSRF-Token'] = currentSession.csrf_token;
  /** @type {Response} */
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'omit',
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (cause) {
    const err = new ApiError(
      0,
      null,
      'Could not reach the loopgate server. Check your connection and try again.',
    );
    err.cause = cause;
    throw err;
  }
  if (res.status === 401) {
    forgetSessionSecret();
    if (redirectOn401) return redirectToSignIn();
  }
  if (!res.ok) throw await readApiError(res);
  if (res.status === 204) return null;
  try {
    return await res.json();
  } catch (cause) {
    const err = new ApiError(
      res.status,
      null,
      'The server sent an answer this page could not read. Reload the page.',
    );
    err.cause = cause;
    throw err;
  }
}

/**
 * `GET /v1/session`: the signed-in operator and the CSRF token for POSTs. Redirects to the
 * sign-in page on 401 unless `redirectOn401` is false, in which case it resolves to null.
 * @param {{ redirectOn401?: boolean }} [options]
 * @returns {Promise<Session | null>}
 */
export async function fetchSession(options = {}) {
  const { redirectOn401 = true } = options;
  try {
    currentSession = /** @type {Session} */ (
      await requestJson('GET', '/v1/session', { redirectOn401 })
    );
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
  return currentSession;
}

/**
 * GET a JSON resource of the API.
 * @param {string} path
 * @returns {Promise<any>}
 */
export function apiGet(path) {
  return requestJson('GET', path);
}

/**
 * POST JSON to the API with the session's CSRF token. When the server refuses the token
 * (`E_CSRF_TOKEN_INVALID`, nothing was changed) it fetches the session again and retries once.
 * @param {string} path
 * @param {unknown} [body]
 * @param {{ redirectOn401?: boolean }} [options]
 * @returns {Promise<any>}
 */
export async function apiPost(path, body, options = {}) {
  if (!currentSession) await fetchSession(options);
  try {
    return await requestJson('POST', path, { ...options, body });
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'E_CSRF_TOKEN_INVALID') throw err;
    await fetchSession(options);
    return requestJson('POST', path, { ...options, body });
  }
}

/**
 * `GET /v1/approvals?status=…&limit=…`: views, newest first.
 * @param {'pending' | 'decided'} status
 * @param {number} [limit]
 * @returns {Promise<ApprovalView[]>}
 */
export async function listApprovals(status, limit) {
  const query = new URLSearchParams({ status });
  if (limit !== undefined) query.set('limit', String(limit));
  const answer = await apiGet(`/v1/approvals?${query}`);
  return Array.isArray(answer?.items) ? answer.items : [];
}

/**
 * `GET /v1/approvals/:id`.
 * @param {string} pauseId
 * @returns {Promise<ApprovalView>}
 */
export function fetchApproval(pauseId) {
  return apiGet(`/v1/approvals/${encodeURIComponent(pauseId)}`);
}

/**
 * `POST /v1/approvals/:id/decision`. Resolves to the decided view (with `response` and
 * `receipt`), or, for a quorum that needs more approvers, the still-pending view with this
 * vote in `votes`; throws ApiError 409 when the request was already decided or expired, 400
 * when the fields are invalid, 403 when the step-up (`totp_code`, `webauthn`) is refused;
 * with edited `arguments`, 400 E_APPROVAL_EDIT_INVALID or 403 E_APPROVAL_EDIT_DENIED.
 * @param {string} pauseId
 * @param {{
 *   decision: 'approved' | 'rejected',
 *   comment: string,
 *   fields: Record<string, string | number | boolean>,
 *   totp_code?: string,
 *   webauthn?: unknown,
 *   grant?: import('./grantChoice.js').GrantBody,
 *   arguments?: Record<string, unknown>,
 * }} decision
 * @returns {Promise<ApprovalView>}
 */
export function postDecision(pauseId, decision) {
  return apiPost(`/v1/approvals/${encodeURIComponent(pauseId)}/decision`, decision);
}

/**
 * `POST /v1/approvals/:id/webauthn/options`: passkey request options whose challenge is bound
 * to this request and the signed-in operator (single use, 5 minutes).
 * @param {string} pauseId
 * @returns {Promise<unknown>}  PublicKeyCredentialRequestOptionsJSON
 */
export function fetchPasskeyOptions(pauseId) {
  return apiPost(`/v1/approvals/${encodeURIComponent(pauseId)}/webauthn/options`);
}

/**
 * `GET /v1/settings`: the signed-in operator, their authenticator's state and passkeys.
 * @returns {Promise<Settings>}
 */
export function fetchSettings() {
  return apiGet('/v1/settings');
}

/**
 * `POST /v1/settings/totp/begin`: a new authenticator secret as an `otpauth://` URI and QR
 * image, not active until confirmed with a code. `proof` is a current factor (needed once the
 * operator has one).
 * @param {FactorProof} [proof]
 * @returns {Promise<{ uri: string, qr_data_url: string, enrollment_token: string }>}
 */
export function beginTotpEnrollment(proof = {}) {
  return apiPost('/v1/settings/totp/begin', proof);
}

/**
 * `POST /v1/settings/totp/confirm`: activates the new secret when `code` matches it.
 * @param {string} enrollmentToken
 * @param {string} code
 * @returns {Promise<{ enrolled: true }>}
 */
export function confirmTotpEnrollment(enrollmentToken, code) {
  return apiPost('/v1/settings/totp/confirm', { enrollment_token: enrollmentToken, code });
}

/**
 * `GET /v1/webauthn/credentials`: the signed-in operator's passkeys, oldest first.
 * @returns {Promise<Passkey[]>}
 */
export async function listPasskeys() {
  const answer = await apiGet('/v1/webauthn/credentials');
  return Array.isArray(answer?.items) ? answer.items : [];
}

/**
 * `POST /v1/webauthn/registration/options`: passkey creation options for the signed-in
 * operator; `proof` is a current factor (needed once the operator has one).
 * @param {FactorProof} [proof]
 * @returns {Promise<unknown>}  PublicKeyCredentialCreationOptionsJSON
 */
export function fetchPasskeyRegistrationOptions(proof = {}) {
  return apiPost('/v1/webauthn/registration/options', proof);
}

/**
 * `POST /v1/webauthn/proof/options`: passkey request options to prove a current passkey
 * before a factor change.
 * @returns {Promise<unknown>}  PublicKeyCredentialRequestOptionsJSON
 */
export function fetchPasskeyProofOptions() {
  return apiPost('/v1/webauthn/proof/options');
}

/**
 * `POST /v1/webauthn/registration/verify`: stores the new passkey under `name`.
 * @param {unknown} response  RegistrationResponseJSON from the browser
 * @param {string} name
 * @returns {Promise<Passkey>}
 */
export function registerPasskey(response, name) {
  return apiPost('/v1/webauthn/registration/verify', { response, name });
}

/**
 * `POST /v1/events/tickets`: a single-use ticket (60 s) for `GET /v1/events?ticket=…`, since
 * EventSource cannot send the session header. A 401 goes to the sign-in page.
 * @returns {Promise<{ ticket: string, expires_at: string }>}
 */
export function fetchEventTicket() {
  return apiPost('/v1/events/tickets');
}

/**
 * `POST /v1/logout` (the server deletes the session), forgets the secret, then the sign-in page.
 * @returns {Promise<void>}
 */
export async function signOut() {
  try {
    await apiPost('/v1/logout', undefined, { redirectOn401: false });
  } catch (err) {
    // Already signed out is the outcome the user asked for.
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
  }
  forgetSessionSecret();
  location.assign('/signin?signed_out=1');
}
