/*
 * The records loopgate keeps besides requests (operators, sessions, keys, factors, channels):
 * plain data shared by the store, the services and the adapters. Times are ms since epoch.
 */

/**
 * What an agent key may do: `agent` keys create and read their own requests; `gateway` keys
 * may also use `/v1/gateway/*` (the routes a remote `loopgate proxy` needs). Neither decides.
 */
export type AgentKeyScope = 'agent' | 'gateway';

/** An agent API key as stored: only the SHA-256 of the key is kept. Times in ms. */
export interface AgentKeyRecord {
  id: string;
  name: string;
  scope: AgentKeyScope;
  keyHash: string;
  /** The first characters of the key, shown in `keys list` so a human can tell keys apart. */
  prefix: string;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

/** A human who can sign in and decide. */
export interface OperatorRecord {
  id: string;
  name: string;
  role: 'admin' | 'approver';
  createdAt: number;
}

/**
 * Where a sign-in link, and the session made from it, came from: `login` (a plain
 * `loopgate login-url` link), `invite` (`loopgate operators invite`) or `enroll`
 * (`loopgate login-url --enroll`). Only `invite` and `enroll` sessions may add an operator's
 * first second factor.
 */
export type SessionSource = 'login' | 'invite' | 'enroll';

/** A signed-in browser session: only the SHA-256 of the session secret is kept. Times in ms. */
export interface SessionRecord {
  idHash: string;
  operatorId: string;
  csrfToken: string;
  createdAt: number;
  expiresAt: number;
  /** The kind of link the session was made from. */
  source: SessionSource;
}

/** Why a one-time sign-in token was refused. */
export type LoginTokenRefusal = 'unknown' | 'used' | 'expired';

/** What to record in the audit log alongside a state change. */
export interface AuditInput {
  type: string;
  requestId: string | null;
  actor: string;
  data: Record<string, unknown>;
}

/**
 * An operator's TOTP throttle state (the shape of gates' `TotpThrottleState`): refused codes in
 * a row and towards the request at hand, when it was locked (ms) and the last accepted RFC 6238
 * time step.
 */
export interface TotpStateRecord {
  consecutiveFailures: number;
  failuresOnRequest: number;
  lockedAt: number | null;
  lastUsedStep: number | null;
}

/**
 * The throttle on `otp` tool arguments checked for one caller (`key:<id>` for a gateway key,
 * `agent:<name>` for an in-process gateway): refused codes in a row, and until when (ms) no
 * code is checked. It is the caller's own and never touches an operator's TOTP state.
 */
export interface OtpArgumentThrottleRecord {
  consecutiveFailures: number;
  blockedUntil: number | null;
}

/** An operator's TOTP enrolment: the secret encrypted at rest, and its throttle state. */
export interface TotpEnrollmentRecord {
  operatorId: string;
  secretEncrypted: string;
  enrolledAt: number;
  state: TotpStateRecord;
}

/** A registered passkey (WebAuthn credential). `id` is the base64url credential id. */
export interface WebAuthnCredentialRecord {
  id: string;
  operatorId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  /** Set when a sign counter went backwards (a cloned authenticator); such a credential is refused. */
  flaggedAt: number | null;
}

/** A WebAuthn challenge: single use, short-lived, bound to an operator and (for assertions) a request. */
export interface WebAuthnChallengeRecord {
  challenge: string;
  operatorId: string;
  purpose: 'registration' | 'authentication';
  requestId: string | null;
  expiresAt: number;
}

/** A Slack user id (`U…`) or email address linked to an operator, so that channel may decide as them. */
export interface OperatorContactRecord {
  operatorId: string;
  kind: 'slack' | 'email';
  /** The Slack user id, or the lowercased email address. */
  value: string;
  linkedAt: number;
}

/**
 * An emailed confirm link's single-use token: only its SHA-256 is kept. Valid until
 * `expiresAt` (the request's expiry) and until used. Times in ms.
 */
export interface EmailConfirmTokenRecord {
  tokenHash: string;
  pauseId: string;
  /** The address the link was mailed to. */
  recipient: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

/**
 * One notification about a request: sent (with the channel's `ref`, e.g. Slack's
 * `<channel>:<ts>`), held back by the rate limiter for a digest, or failed (with why).
 */
export interface NotificationDeliveryRecord {
  id: string;
  pauseId: string;
  channel: 'slack' | 'email' | 'webhook';
  /** `created`, `fallback`, `reminder`, `escalation`, `digest` or `decided`. */
  kind: string;
  recipient: string;
  status: 'sent' | 'held' | 'failed';
  ref: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  at: number;
}

/** A registered webhook receiver; `secret` is `whsec_…`. Times in ms. */
export interface WebhookEndpointRecord {
  id: string;
  url: string;
  secret: string;
  /** Subscribed event types, e.g. `request.created`. */
  events: string[];
  createdAt: number;
  /** Set when the receiver answered 410 Gone; nothing more is sent to it. */
  disabledAt: number | null;
}

/**
 * One webhook message to one endpoint and its delivery state, kept so retries survive a
 * restart and failures show in the UI. `event` is the Standard Webhooks payload as sent.
 */
export interface WebhookMessageRecord {
  msgId: string;
  endpointId: string;
  eventType: string;
  event: { id: string; type: string; timestamp: string; data: Record<string, unknown> };
  status: 'pending' | 'delivered' | 'failed' | 'endpoint_gone';
  /** Attempts made so far. */
  attempts: number;
  firstAttemptAt: number;
  /** When the next attempt is due (status `pending`), else null. */
  nextAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  updatedAt: number;
}
