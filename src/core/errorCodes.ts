/**
 * The registry of every loopgate error code: `E_<AREA>_<WHAT>` → HTTP status and a one-line
 * meaning. Codes are never reused or renamed; each is documented in `docs/errors.md` (a test
 * fails on a missing or stale entry). Areas append their own section; keep sections sorted.
 */
export const errorCodes = {
  // --- approvals (requests, decisions) ---
  E_APPROVAL_NOT_FOUND: { status: 404, meaning: 'No approval request has that pause_id.' },
  E_APPROVAL_ALREADY_DECIDED: {
    status: 409,
    meaning: 'The request was already decided, cancelled or expired; one decision wins.',
  },
  E_APPROVAL_EXPIRED: {
    status: 409,
    meaning: 'The request passed its expires_at before a decision.',
  },
  E_APPROVAL_INPUT_INVALID: {
    status: 400,
    meaning: 'The request_approval input does not match the schema (field, type or limit).',
  },
  E_STEP_UP_REQUIRED: {
    status: 400,
    meaning: 'This request’s gate needs an authenticator code or a passkey with the approval.',
  },
  E_STEP_UP_UNAVAILABLE: {
    status: 500,
    meaning: 'The request needs a step-up this server has not been set up to check.',
  },
  E_DECISION_INVALID: {
    status: 400,
    meaning:
      'A decision body is malformed: decision must be approved or rejected, fields must match.',
  },
  E_APPROVAL_RECIPIENT_NOT_ALLOWED: {
    status: 403,
    meaning:
      'recipient_email or recipient_slack is neither a linked operator nor allowed by an admin (allowed-email-recipients, allowed-slack-recipients).',
  },

  // --- authentication and authorisation ---
  E_AUTH_REQUIRED: {
    status: 401,
    meaning: 'No valid X-Loopgate-Session header or agent key was presented.',
  },
  E_AUTH_KEY_INVALID: { status: 401, meaning: 'The bearer agent key is unknown or revoked.' },
  E_AUTH_FORBIDDEN: {
    status: 403,
    meaning: 'The caller is authenticated but may not do this (an agent key cannot decide).',
  },
  E_AUTH_LOGIN_TOKEN_INVALID: {
    status: 401,
    meaning: 'The one-time sign-in link is unknown, used already, or expired (15 minutes).',
  },
  E_AUTH_NEXT_INVALID: {
    status: 400,
    meaning:
      'The sign-in `next` is not a path on this server (or has control characters or spaces).',
  },
  E_AUTH_TICKET_INVALID: {
    status: 401,
    meaning: 'The event-stream ticket is unknown, used already, or expired (60 seconds).',
  },
  E_CSRF_TOKEN_INVALID: {
    status: 403,
    meaning: 'A state-changing request lacked the X-CSRF-Token header of the session.',
  },
  E_HTTP_HOST_FORBIDDEN: {
    status: 403,
    meaning: 'The Host header names a host this server does not serve (DNS rebinding guard).',
  },
  E_HTTP_ORIGIN_FORBIDDEN: {
    status: 403,
    meaning: 'The Origin header is not this server’s origin (cross-site request refused).',
  },
  E_HTTP_FETCH_SITE_FORBIDDEN: {
    status: 403,
    meaning:
      'A state-changing browser request came from another origin (Sec-Fetch-Site is not same-origin).',
  },
  E_HTTP_NOT_FOUND: { status: 404, meaning: 'No route matches that method and path.' },
  E_HTTP_BODY_INVALID: {
    status: 400,
    meaning: 'The request body is not valid JSON of the expected shape.',
  },
  E_HTTP_BODY_TOO_LARGE: {
    status: 413,
    meaning:
      'The request body is larger than the server reads (max-body-bytes, 1 MiB by default; Slack interactions 64 KiB).',
  },
  E_JSON_UNSUPPORTED: {
    status: 400,
    meaning:
      'JSON (a request body or tool arguments) nests deeper than 64 levels or holds a number outside the double range (such as 1e400).',
  },
  E_HTTP_PATH_INVALID: {
    status: 400,
    meaning: 'The URL path has a malformed percent-escape (such as %E0%A4%A).',
  },
  E_HTTP_INTERNAL: {
    status: 500,
    meaning: 'An unexpected error; details are in the server log only.',
  },

  // --- operators ---
  E_OPERATOR_NOT_FOUND: { status: 404, meaning: 'No operator has that name.' },
  E_OPERATOR_EXISTS: { status: 409, meaning: 'An operator with that name exists already.' },

  // --- agent keys ---
  E_KEY_NOT_FOUND: { status: 404, meaning: 'No agent key has that id.' },

  // --- receipts and signing ---
  E_RECEIPT_MALFORMED: {
    status: 400,
    meaning: 'The receipt is not a compact JWS with a JSON payload.',
  },
  E_RECEIPT_SIGNATURE_INVALID: {
    status: 400,
    meaning: 'The receipt’s Ed25519 signature does not verify against the JWKS.',
  },
  E_RECEIPT_KEY_UNKNOWN: { status: 400, meaning: 'The receipt’s kid is not in the JWKS.' },
  E_RECEIPT_HMAC_INVALID: {
    status: 400,
    meaning: 'The response.signature HMAC does not match the response under the signing secret.',
  },
  E_RECEIPT_MISMATCH: {
    status: 400,
    meaning: 'The receipt payload and the response it came with disagree (tampered result).',
  },

  // --- gates ---
  E_TOTP_CODE_MALFORMED: { status: 400, meaning: 'The authenticator code is not 6 digits.' },
  E_TOTP_CODE_INVALID: {
    status: 403,
    meaning: 'The authenticator code is wrong for the current time step (±1 step of 30 s).',
  },
  E_TOTP_REPLAYED: {
    status: 403,
    meaning:
      'The authenticator code was used already, or is older than one used; each code works once.',
  },
  E_TOTP_REQUEST_VOIDED: {
    status: 403,
    meaning: 'Five wrong authenticator codes voided the request at hand; the agent must ask again.',
  },
  E_TOTP_LOCKED: {
    status: 423,
    meaning:
      'Ten wrong authenticator codes in a row locked the operator’s TOTP until an admin unlocks it.',
  },
  E_TOTP_NOT_ENROLLED: {
    status: 409,
    meaning: 'The operator has no authenticator enrolled (settings page or loopgate totp enroll).',
  },
  E_TOTP_SECRET_UNREADABLE: {
    status: 500,
    meaning: 'A stored TOTP secret could not be decrypted: wrong key in the data dir, or tampered.',
  },
  E_TOTP_KEY_INVALID: { status: 500, meaning: 'The TOTP encryption key is not 32 bytes.' },
  E_TOTP_ALREADY_ENROLLED: {
    status: 409,
    meaning:
      'The operator has an authenticator already; loopgate totp enroll --replace replaces it after a first code.',
  },
  E_TOTP_ENROLLMENT_EXPIRED: {
    status: 400,
    meaning: 'A TOTP enrolment begun in Settings was not confirmed within 10 minutes; begin again.',
  },
  E_FACTOR_PROOF_REQUIRED: {
    status: 403,
    meaning:
      'Adding or replacing a second factor needs a current TOTP code or passkey assertion of the operator.',
  },
  E_FACTOR_FIRST_NEEDS_INVITE: {
    status: 403,
    meaning:
      'A first second factor is added only from an invite or login-url --enroll link, or with loopgate totp enroll.',
  },
  E_POLICY_INVALID: {
    status: 500,
    meaning:
      'The policy file is not valid YAML or JSON of the policy schema; the message names the line.',
  },
  E_POLICY_DENIED: {
    status: 403,
    meaning: 'The policy denies this tool call (gate deny); it is never forwarded.',
  },
  E_QUORUM_NOT_APPROVER: {
    status: 403,
    meaning: 'The operator is not one of the quorum’s approvers for this request.',
  },
  E_QUORUM_ALREADY_VOTED: {
    status: 409,
    meaning: 'The operator already voted on this request; each approver counts once.',
  },

  // --- webauthn ---
  E_WEBAUTHN_NOT_REGISTERED: {
    status: 409,
    meaning: 'The operator has no usable passkey; add one on the settings page.',
  },
  E_WEBAUTHN_CREDENTIAL_UNKNOWN: {
    status: 403,
    meaning: 'The assertion names a passkey that is not registered to the signed-in operator.',
  },
  E_WEBAUTHN_CREDENTIAL_FLAGGED: {
    status: 403,
    meaning:
      'The passkey was flagged after its sign counter went backwards (a possible clone); register a new one.',
  },
  E_WEBAUTHN_CHALLENGE_INVALID: {
    status: 403,
    meaning:
      'The passkey challenge is unknown, used already, expired (5 minutes), another operator’s, or for another request.',
  },
  E_WEBAUTHN_ASSERTION_INVALID: {
    status: 403,
    meaning:
      'The passkey assertion is malformed or does not verify (signature, origin, relying party id or user verification).',
  },
  E_WEBAUTHN_COUNTER_REGRESSED: {
    status: 403,
    meaning:
      'The passkey’s sign counter did not increase (a possible cloned authenticator); the passkey is now flagged.',
  },
  E_WEBAUTHN_REGISTRATION_INVALID: {
    status: 400,
    meaning:
      'The passkey registration is malformed, already registered, or does not verify (challenge, origin, relying party id or user verification).',
  },

  // --- handoff ---
  E_HANDOFF_INPUT_INVALID: {
    status: 400,
    meaning: 'A viewer input event does not match the input schema (unknown type, field or limit).',
  },
  E_HANDOFF_INPUT_OUT_OF_VIEWPORT: {
    status: 400,
    meaning: 'A viewer input event has coordinates outside the streamed page’s viewport.',
  },
  E_HANDOFF_NO_VIEWPORT: {
    status: 409,
    meaning: 'Input arrived before the first screencast frame gave the viewport size.',
  },
  E_HANDOFF_COMMAND_FORBIDDEN: {
    status: 403,
    meaning: 'A CDP command outside the input allowlist (Input.*, history, reload) was refused.',
  },
  E_HANDOFF_NOT_FOUND: {
    status: 404,
    meaning: 'No handoff session of this agent has that session_id.',
  },
  E_HANDOFF_ENDED: {
    status: 409,
    meaning:
      'The handoff session already ended (resolved, cancelled, timeout or error); start a new one.',
  },
  E_HANDOFF_REQUEST_INVALID: {
    status: 400,
    meaning:
      'A handoff request does not match the schema (service, context, ttl_seconds, status, max_wait_seconds).',
  },
  E_HANDOFF_CDP_URL_MISSING: {
    status: 400,
    meaning: 'browser_handoff got no cdp_url and LOOPGATE_CDP_URL is not set.',
  },
  E_HANDOFF_TOO_MANY: {
    status: 429,
    meaning: 'The agent has too many live handoff sessions (32); cancel or finish some first.',
  },
  E_HANDOFF_OWNER_UNREACHABLE: {
    status: 502,
    meaning:
      'The handoff session lives on another server of this deployment, which could not be reached at its --internal-url.',
  },
  E_CDP_URL_INVALID: {
    status: 400,
    meaning:
      'cdp_url is not http://host:port, ws://…/devtools/browser/… or ws://…/devtools/page/….',
  },
  E_CDP_UNREACHABLE: {
    status: 502,
    meaning: 'The browser’s DevTools endpoint could not be reached or answered badly.',
  },
  E_CDP_NO_PAGE: { status: 404, meaning: 'The browser has no open page to stream.' },
  E_CDP_COMMAND_FAILED: {
    status: 502,
    meaning: 'Chromium answered a DevTools command with an error, or not within 30 s.',
  },
  E_CDP_DISCONNECTED: {
    status: 502,
    meaning: 'The DevTools connection closed: the browser exited or the page was closed.',
  },
  E_E2EE_UNAVAILABLE: {
    status: 500,
    meaning: 'WebCrypto (crypto.subtle) is missing; serve the viewer over HTTPS or from localhost.',
  },
  E_E2EE_SECRET_INVALID: {
    status: 400,
    meaning:
      'The session secret (#k=… in the session URL) is missing, not base64url, or under 128 bits.',
  },
  E_E2EE_SESSION_ID_INVALID: {
    status: 400,
    meaning: 'The E2EE session id is empty or longer than 255 bytes.',
  },
  E_E2EE_HELLO_INVALID: {
    status: 400,
    meaning: 'A key-exchange hello is malformed, from the wrong role, off-curve, or fails its tag.',
  },
  E_E2EE_REKEY_REFUSED: {
    status: 409,
    meaning:
      'A hello with a different public key arrived in a keyed session; keys never change mid-session.',
  },
  E_E2EE_CONFIRM_INVALID: {
    status: 400,
    meaning: 'The peer’s key confirmation does not verify: the two sides derived different keys.',
  },
  E_E2EE_NOT_CONFIRMED: {
    status: 409,
    meaning: 'A message was sealed before both sides confirmed the session keys.',
  },

  // --- channels ---
  E_SLACK_SIGNATURE_INVALID: {
    status: 401,
    meaning:
      'The X-Slack-Signature header is missing or is not the v0 HMAC-SHA256 of the raw body under the signing secret.',
  },
  E_SLACK_TIMESTAMP_INVALID: {
    status: 401,
    meaning:
      'The X-Slack-Request-Timestamp header is missing, not a number, or more than 300 s from now.',
  },
  E_SLACK_PAYLOAD_INVALID: {
    status: 400,
    meaning:
      'The Slack interactivity body is not a form-encoded payload= holding a block_actions JSON of the expected shape.',
  },
  E_SLACK_API_ERROR: {
    status: 502,
    meaning:
      'The Slack Web API answered ok:false or an unexpected HTTP status (the Slack error is in the message).',
  },
  E_SLACK_RATE_LIMITED: {
    status: 503,
    meaning:
      'The Slack Web API kept answering 429 beyond the retries and Retry-After wait allowed.',
  },
  E_SLACK_UNREACHABLE: {
    status: 502,
    meaning: 'The Slack Web API (LOOPGATE_SLACK_API_URL) could not be reached or timed out.',
  },
  E_SLACK_RESPONSE_URL_FORBIDDEN: {
    status: 400,
    meaning: 'A Slack response_url is not an https URL on an allowed Slack host.',
  },
  E_EMAIL_SMTP_URL_INVALID: {
    status: 500,
    meaning: 'LOOPGATE_SMTP_URL is not an smtp:// or smtps:// URL with a host.',
  },
  E_EMAIL_ADDRESS_INVALID: {
    status: 400,
    meaning: 'An email address (recipient or LOOPGATE_EMAIL_FROM) is not one plain address.',
  },
  E_EMAIL_LINK_INVALID: {
    status: 500,
    meaning: 'A link for an email is not an absolute http(s) URL (check the server’s public URL).',
  },
  E_EMAIL_SEND_FAILED: {
    status: 502,
    meaning: 'The SMTP server could not be reached or refused the message.',
  },
  E_EMAIL_CONFIRM_TOKEN_INVALID: {
    status: 400,
    meaning:
      'The email confirm token is malformed, unknown, used already, or past the request’s expiry.',
  },
  E_WEBHOOK_SECRET_INVALID: {
    status: 400,
    meaning: 'A webhook secret is not whsec_ followed by the base64 of 24 to 64 random bytes.',
  },
  E_WEBHOOK_URL_INVALID: {
    status: 400,
    meaning: 'A webhook endpoint URL is not an absolute http(s) URL without credentials.',
  },
  E_WEBHOOK_DELIVERY_FAILED: {
    status: 502,
    meaning: 'A webhook endpoint did not answer 2xx in time (status, timeout or connection error).',
  },
  E_SLACK_USER_NOT_LINKED: {
    status: 403,
    meaning:
      'The Slack user who clicked is not linked to an operator (loopgate operators link-slack NAME U…); nothing was decided.',
  },
  E_EMAIL_RECIPIENT_NOT_LINKED: {
    status: 403,
    meaning:
      'The address the confirm link went to is not linked to an operator (loopgate operators link-email NAME ADDRESS); nothing was decided.',
  },
  E_WEBHOOK_NOT_FOUND: { status: 404, meaning: 'No webhook endpoint has that id.' },
  E_WEBHOOK_EVENTS_INVALID: {
    status: 400,
    meaning:
      'The webhook event list names a type other than request.created, request.decided or request.expired.',
  },
  E_NOTIFY_BUDGET_EXCEEDED: {
    status: 429,
    meaning:
      'The agent used its mail and Slack messages for the hour (agent-notifications-per-hour); the request stays in the inbox.',
  },

  // --- gateway ---
  E_GATEWAY_DOWNSTREAM: {
    status: 502,
    meaning: 'The MCP server behind loopgate proxy failed to start or to answer a call.',
  },
  E_GATEWAY_APPROVALS: {
    status: 502,
    meaning: 'A gated call was refused because its approval could not be checked (fails closed).',
  },
  E_GATEWAY_CALL_TOO_LARGE: {
    status: 413,
    meaning:
      'A gated call has more arguments, canonical JSON bytes or nesting than a human can be shown in full; refused before any approval exists.',
  },
  E_CHANNEL_CANNOT_SHOW: {
    status: 400,
    meaning:
      'This request is too long to show in full in a Slack message or an email, so it cannot be approved there; approve it on the approval page.',
  },
  E_GATEWAY_GATE_MISMATCH: {
    status: 403,
    meaning:
      'The approval for a gated call was made under another gate than the policy names (its signed receipt says so); the call was not forwarded.',
  },
  E_GATEWAY_OTP_THROTTLED: {
    status: 429,
    meaning:
      'This gateway sent too many wrong otp arguments in a row; no code is checked until the time the message names.',
  },
  E_MCP_REQUEST_STATE_INVALID: {
    status: 400,
    meaning:
      'The requestState echoed on an input-required retry was not issued by this loopgate server or was altered (its MAC does not match); nothing was done.',
  },
  E_MCP_REQUEST_STATE_FOREIGN: {
    status: 403,
    meaning:
      'The requestState echoed on an input-required retry was issued to another agent; nothing was done.',
  },
  E_MCP_REQUEST_STATE_EXPIRED: {
    status: 400,
    meaning:
      'The requestState echoed on an input-required retry is past its expiry; call the tool again without it.',
  },
  E_MCP_REQUEST_STATE_REPLAYED: {
    status: 409,
    meaning:
      'The requestState echoed on an input-required retry was already used once; call the tool again without it.',
  },
  E_MCP_REQUEST_STATE_MISMATCH: {
    status: 400,
    meaning:
      'The requestState echoed on an input-required retry was issued for another tool or other arguments; nothing was done.',
  },

  // --- standing grants ---
  E_GRANT_NOT_OFFERED: {
    status: 403,
    meaning:
      'The decision asks for a grant reach, duration or use count the policy rule did not offer for this approval; nothing was decided.',
  },
  E_GRANT_INVALID: {
    status: 400,
    meaning:
      'A grant choice is malformed: reach, minutes, max_uses or argument constraints (which must allow the call being approved).',
  },
  E_GRANT_NOT_FOUND: { status: 404, meaning: 'No standing grant has that id.' },

  // --- edit before approve ---
  E_APPROVAL_EDIT_INVALID: {
    status: 400,
    meaning:
      'Edited arguments were refused: the request cannot be edited, or they do not match the wrapped tool’s input schema or limits; nothing was decided.',
  },
  E_APPROVAL_EDIT_DENIED: {
    status: 403,
    meaning:
      'The gateway’s policy denies the edited call, or asks for another gate for it than the request is decided under; nothing was decided.',
  },

  // --- configuration and CLI ---
  E_CONFIG_INVALID: { status: 500, meaning: 'A flag, env var or config file value is invalid.' },
  E_CONFIG_PUBLIC_BIND: {
    status: 500,
    meaning: 'Refusing to bind a non-loopback address without --allow-public-bind or TLS.',
  },
  E_CLI_USAGE: { status: 400, meaning: 'Unknown command or missing argument.' },
  E_REMOTE_UNREACHABLE: {
    status: 502,
    meaning: 'The remote loopgate server (--server-url) could not be reached or answered badly.',
  },
  E_CONFIG_API_KEY_FILE: {
    status: 500,
    meaning: 'The --api-key-file (LOOPGATE_API_KEY_FILE) is missing, unreadable or empty.',
  },
  E_CONFIG_INTERNAL_URL: {
    status: 500,
    meaning:
      'The URL other servers reach this one at cannot be derived from --host (0.0.0.0, ::) on a shared PostgreSQL database; pass --internal-url http://<address>:<port>.',
  },
  E_CLI_DATA_DIR_MISSING: {
    status: 404,
    meaning:
      'The data dir holds no loopgate database; point --data-dir (LOOPGATE_DATA_DIR) at the one loopgate serve uses.',
  },
  E_CLI_FILE_NOT_FOUND: {
    status: 404,
    meaning:
      'A file named on the command line (a receipt to verify, --jwks) does not exist or cannot be read.',
  },
  E_CLI_JWKS_INVALID: {
    status: 400,
    meaning: 'The --jwks file or URL did not give a JSON Web Key Set ({"keys": […]}).',
  },
  E_SERVER_PORT_IN_USE: {
    status: 409,
    meaning:
      'The port is taken, by a loopgate server already running or by another program; use it (loopgate login-url) or pick --port.',
  },
  E_SERVER_LISTEN_FAILED: {
    status: 500,
    meaning:
      'The server could not listen on --host/--port (permission denied or address unavailable).',
  },
  E_REMOTE_WAIT_INTERRUPTED: {
    status: 503,
    meaning:
      'The loopgate server went away during a wait (restarted); the request is kept: call wait_for_approval again.',
  },

  // --- storage ---
  E_STORE_MIGRATION: { status: 500, meaning: 'The database schema could not be migrated.' },
  E_SERVER_KEYS_MISMATCH: {
    status: 500,
    meaning:
      'This server’s receipt key, signing secret or TOTP encryption key differs from the one the shared database was first used with.',
  },
  E_STORE_UNREACHABLE: {
    status: 503,
    meaning:
      'The database (--database-url) could not be reached or refused the connection; the password is never shown.',
  },
  E_STORE_COPY_TARGET_NOT_EMPTY: {
    status: 409,
    meaning: '`loopgate db copy --to` names a database that holds loopgate data already.',
  },
  E_STORE_SCHEMA_OUTDATED: {
    status: 503,
    meaning: 'The database lacks migrations this loopgate needs; run `loopgate db migrate`.',
  },
} as const satisfies Record<string, { status: number; meaning: string }>;

/** Every registered error code. */
export type ErrorCode = keyof typeof errorCodes;
