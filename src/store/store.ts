import type { ApprovalEdit } from '../core/approvalEdit.js';
import type {
  ActionDetails,
  ApprovalRecord,
  ApprovalResponse,
  GateSpec,
  QuorumVoteRecord,
} from '../core/approval.js';
import type { AuditEntry } from '../core/auditChain.js';
import type { ErrorCode } from '../core/errorCodes.js';
import type { GrantOffer, GrantRecord } from '../core/grant.js';
import type {
  AgentKeyRecord,
  OperatorRecord,
  SessionSource,
  SessionRecord,
  LoginTokenRefusal,
  AuditInput,
  TotpStateRecord,
  OtpArgumentThrottleRecord,
  TotpEnrollmentRecord,
  WebAuthnCredentialRecord,
  WebAuthnChallengeRecord,
  OperatorContactRecord,
  EmailConfirmTokenRecord,
  NotificationDeliveryRecord,
  WebhookEndpointRecord,
  WebhookMessageRecord,
} from '../core/records.js';

/** Filter for {@link Store.listApprovals}. `decided` means any final status. */
export interface ApprovalQuery {
  status?: 'pending' | 'decided';
  agentId?: string;
  limit: number;
}

/** Filter for {@link Store.listGrants}. `liveAt` keeps only grants live then (core's isGrantLive). */
export interface GrantQuery {
  agentId?: string;
  tool?: string;
  liveAt?: number;
  limit: number;
}

/**
 * One running server in the directory of servers of a deployment: where its peers reach it
 * (`internalUrl`, `http://host:port`) and when it last said it was alive (ms since epoch).
 */
export interface ServerDirectoryEntry {
  id: string;
  internalUrl: string;
  heartbeatAt: number;
}

/**
 * Which server holds a browser-handoff session (sessions live in that server's memory), and
 * that server's directory entry, or null when the directory no longer lists it.
 */
export interface HandoffOwnerRecord {
  sessionId: string;
  serverId: string;
  /** Until when (ms since epoch) the row is kept: the session's expiry plus how long it stays readable. */
  keepUntil: number;
  server: ServerDirectoryEntry | null;
}

/**
 * The per-recipient notification limit: at most `limit` notifications (digests included) in any
 * sliding window of `windowMs` milliseconds (issue 5: 5 a minute).
 */
export interface NotificationLimit {
  limit: number;
  windowMs: number;
}

/** What {@link Store.admitNotification} decided. */
export type NotificationAdmission =
  /** Send this notification now; it has been counted. */
  | { kind: 'send' }
  /**
   * Held back for the recipient's next digest, which {@link Store.takeDueDigests} hands out at
   * `dueAt` (ms since epoch) or later.
   */
  | { kind: 'held'; dueAt: number };

/** A digest that is due: one notification standing in for every held request of `recipient`. */
export interface DueDigest {
  /** The recipient key given to {@link Store.admitNotification}. */
  recipient: string;
  /** Held pause_ids, oldest first. Never empty. */
  pauseIds: string[];
}

/**
 * Whether a store can serve requests (`/readyz`): the database answers and its schema is the
 * one this loopgate was built for. `schemaVersion` counts the migrations applied.
 */
export type StoreReadiness =
  | { ok: true; schemaVersion: number }
  | {
      ok: false;
      code: Extract<ErrorCode, 'E_STORE_UNREACHABLE' | 'E_STORE_SCHEMA_OUTDATED'>;
      message: string;
    };

/**
 * Everything loopgate keeps. Implementations: SQLite (`sqliteStore.ts`) and PostgreSQL
 * (`postgresStore.ts`); both must pass `testing/storeContract.ts`. Every transition is compare-and-set:
 * a method that changes a request's status returns false when another change won first.
 * Every state change appends its audit entry in the same transaction. Times are ms since epoch.
 */
export interface Store {
  createApproval(record: ApprovalRecord, audit: AuditInput): Promise<void>;
  getApproval(id: string): Promise<ApprovalRecord | null>;
  /** Newest first. */
  listApprovals(query: ApprovalQuery): Promise<ApprovalRecord[]>;
  /**
   * pending → responded, only while `expiresAt > now`. Returns true for the one caller that won.
   */
  recordDecision(
    id: string,
    change: {
      response: ApprovalResponse;
      receipt: string;
      now: number;
      /**
       * Edited arguments approved: the request's action hash and details become the edited
       * call's, and the edit (original hash and arguments, changes) is recorded with them.
       */
      edited?: { actionHash: string; actionDetails: ActionDetails; edit: ApprovalEdit };
    },
    audit: AuditInput,
  ): Promise<boolean>;
  /** pending → expired (cancelled). Returns true when this call made the change. */
  cancelApproval(id: string, now: number, audit: AuditInput): Promise<boolean>;
  /**
   * Records one quorum vote while the request is pending and `expiresAt > now`. Returns the
   * updated record, or null when it is no longer pending (or expired).
   */
  addQuorumVote(
    id: string,
    vote: QuorumVoteRecord,
    now: number,
    audit: AuditInput,
  ): Promise<ApprovalRecord | null>;
  /**
   * The newest approved, unconsumed request of `agentId` for exactly `actionHash` under exactly
   * `gate` (core's `isSameGate`) whose `expiresAt > now`, or null. A request made under another
   * gate is never found.
   */
  findConsumableApproval(
    agentId: string,
    actionHash: string,
    gate: GateSpec,
    now: number,
  ): Promise<ApprovalRecord | null>;
  /**
   * The newest pending request of `agentId` for exactly `actionHash` under exactly `gate` with
   * `expiresAt > now`, or null.
   */
  findPendingApproval(
    agentId: string,
    actionHash: string,
    gate: GateSpec,
    now: number,
  ): Promise<ApprovalRecord | null>;
  /** Marks an approved, unconsumed request consumed (single use). True for the one caller that won. */
  consumeApproval(id: string, now: number, audit: AuditInput): Promise<boolean>;
  /** Marks every pending request with `expiresAt <= now` as timed_out; returns their ids. */
  expireDueApprovals(now: number): Promise<string[]>;
  /** The earliest `expiresAt` among pending requests, or null. */
  nextApprovalExpiry(): Promise<number | null>;

  createAgentKey(record: AgentKeyRecord): Promise<void>;
  /** The unrevoked key with this hash, or null; also stamps `lastUsedAt`. */
  findAgentKeyByHash(keyHash: string, now: number): Promise<AgentKeyRecord | null>;
  listAgentKeys(): Promise<AgentKeyRecord[]>;
  /** Returns false when no unrevoked key has that id. */
  revokeAgentKey(id: string, now: number): Promise<boolean>;

  /** Creates the operator unless one with that name exists; returns the stored one. */
  ensureOperator(input: {
    id: string;
    name: string;
    role: OperatorRecord['role'];
    now: number;
  }): Promise<OperatorRecord>;
  getOperator(id: string): Promise<OperatorRecord | null>;
  listOperators(): Promise<OperatorRecord[]>;

  getOperatorByName(name: string): Promise<OperatorRecord | null>;

  getTotpEnrollment(operatorId: string): Promise<TotpEnrollmentRecord | null>;
  /**
   * Stores a (new) secret; the failure counters reset, while a lock and the last used step are
   * kept (a lock survives re-enrolment: only an unlock clears it; replays stay refused).
   */
  saveTotpEnrollment(input: {
    operatorId: string;
    secretEncrypted: string;
    enrolledAt: number;
  }): Promise<void>;
  /**
   * Reads the operator's TOTP row, runs `update` on it and writes back the state it returns,
   * all in one transaction, so parallel submissions of one code see each other. Returns
   * `update`'s result, or null when the operator has no TOTP. `update` must not do I/O.
   */
  updateTotpState<T>(
    operatorId: string,
    update: (row: TotpEnrollmentRecord) => { state: TotpStateRecord; result: T },
  ): Promise<T | null>;

  /**
   * Reads the `otp` argument throttle of `subject` (all zero when it has none yet), runs
   * `update` on it and writes back the state it returns, in one transaction. `update` must not
   * do I/O.
   */
  updateOtpArgumentThrottle<T>(
    subject: string,
    update: (state: OtpArgumentThrottleRecord) => { state: OtpArgumentThrottleRecord; result: T },
  ): Promise<T>;

  saveWebAuthnCredential(record: WebAuthnCredentialRecord): Promise<void>;
  listWebAuthnCredentials(operatorId: string): Promise<WebAuthnCredentialRecord[]>;
  getWebAuthnCredential(id: string): Promise<WebAuthnCredentialRecord | null>;
  /** Stores a newer sign counter; false when `counter` is not greater than the stored one (unless both are 0). */
  updateWebAuthnCounter(id: string, counter: number, now: number): Promise<boolean>;
  flagWebAuthnCredential(id: string, now: number): Promise<void>;
  createWebAuthnChallenge(record: WebAuthnChallengeRecord): Promise<void>;
  /**
   * Uses a challenge once: returns it when it exists, is unused, unexpired and belongs to
   * `operatorId` with `purpose`; null otherwise. Either way it cannot be used again.
   */
  consumeWebAuthnChallenge(
    challenge: string,
    operatorId: string,
    purpose: WebAuthnChallengeRecord['purpose'],
    now: number,
  ): Promise<WebAuthnChallengeRecord | null>;

  /** Stores a sign-in link's token hash; `source` defaults to `login`. */
  createLoginToken(input: {
    tokenHash: string;
    operatorId: string;
    expiresAt: number;
    now: number;
    source?: SessionSource;
  }): Promise<void>;
  /** Marks the token used (once) and returns its operator and source, or why it was refused. */
  consumeLoginToken(
    tokenHash: string,
    now: number,
  ): Promise<
    | { ok: true; operatorId: string; source: SessionSource }
    | { ok: false; reason: LoginTokenRefusal }
  >;

  createSession(record: SessionRecord): Promise<void>;
  /** The unexpired session with this hash, or null. */
  getSession(idHash: string, now: number): Promise<SessionRecord | null>;
  /**
   * The unexpired session with this hash and its operator, read together (one query on
   * PostgreSQL: every signed-in request makes it); null when either is gone.
   */
  getSessionWithOperator(
    idHash: string,
    now: number,
  ): Promise<{ session: SessionRecord; operator: OperatorRecord } | null>;
  deleteSession(idHash: string): Promise<void>;

  /** Appends an audit entry on its own (for events that change no request). */
  appendAudit(audit: AuditInput, now: number): Promise<AuditEntry>;
  /** Entries in `seq` order, starting after `afterSeq`. */
  listAuditEntries(afterSeq?: number, limit?: number): Promise<AuditEntry[]>;

  /**
   * Links a Slack user id or email address to an operator, replacing the operator's earlier
   * link of that kind and any other operator's link of that value.
   */
  linkOperatorContact(input: {
    operatorId: string;
    kind: OperatorContactRecord['kind'];
    value: string;
    now: number;
  }): Promise<void>;
  /** The operator a Slack user id or email address is linked to, or null. */
  findOperatorByContact(
    kind: OperatorContactRecord['kind'],
    value: string,
  ): Promise<OperatorRecord | null>;
  /** The operator's linked Slack user id or email address, or null. */
  getOperatorContact(
    operatorId: string,
    kind: OperatorContactRecord['kind'],
  ): Promise<string | null>;

  /**
   * Records a Slack interactivity payload id; true the first time, false for a replay. Ids
   * older than an hour are forgotten (Slack's signature check refuses them after 300 s).
   */
  recordSlackPayload(payloadId: string, now: number): Promise<boolean>;

  /**
   * Counts one notification (a mail or Slack message) against `agentId`'s budget: true and
   * recorded when fewer than `limit` were counted in the sliding window `(now - windowMs, now]`,
   * false (nothing recorded) otherwise. Atomic, so parallel callers never overspend.
   */
  takeAgentNotification(
    agentId: string,
    now: number,
    windowMs: number,
    limit: number,
  ): Promise<boolean>;

  /**
   * Asks whether a notification about `pauseId` may go to `recipient` now, under `limit`, and
   * records the answer, atomically across every server of the deployment: `send` counts it;
   * `held` stores it for the recipient's next digest. While a recipient has held requests, new
   * ones are held too, so the digest goes out before anything newer. Holding a pause_id that is
   * held for that recipient already changes nothing.
   */
  admitNotification(
    recipient: string,
    pauseId: string,
    now: number,
    limit: NotificationLimit,
  ): Promise<NotificationAdmission>;
  /** Forgets a held request, for every recipient (it was decided or expired meanwhile). */
  discardHeldNotification(pauseId: string): Promise<void>;
  /**
   * Hands out, and counts as sent, one digest per recipient who has held requests and a free
   * slot under `limit` at `now`; the held items are removed as they are handed out, so with
   * several servers each item goes to exactly one caller.
   */
  takeDueDigests(now: number, limit: NotificationLimit): Promise<DueDigest[]>;
  /** The earliest time (ms) a held digest can go out under `limit`, or null when none is held. */
  nextDigestDueAt(now: number, limit: NotificationLimit): Promise<number | null>;

  /**
   * Takes the one-off task named `key` (e.g. `notify:reminder:pa_…`): true for the first caller
   * ever, on any server of the deployment; false for every later one. Time-based work that must
   * happen once per deployment (a fallback mail, a reminder) is claimed here before it is done,
   * so it is done at most once even when several servers sweep at the same moment. The claim is
   * kept at least until `keepUntil` (ms), when the task can no longer come due (the request
   * expired, the ticket or state ran out); then {@link purgeTaskClaims} may forget it.
   */
  claimTask(key: string, now: number, keepUntil: number): Promise<boolean>;
  /** True when the task named `key` was claimed ({@link claimTask}) and not yet purged. */
  hasTaskClaim(key: string): Promise<boolean>;
  /** Forgets every task claim whose `keepUntil` is before `before` (ms); returns how many. */
  purgeTaskClaims(before: number): Promise<number>;

  /**
   * Takes a pending webhook message for one delivery attempt: compare-and-set on its
   * `nextAttemptAt`, which must still be `expectedNextAttemptAt` (so no one else took or
   * attempted it since it was listed) and `<= now`; it becomes `leaseUntil`, when another server
   * may take it again should this one die mid-attempt. True for the one caller that won.
   */
  claimWebhookMessage(
    msgId: string,
    endpointId: string,
    expectedNextAttemptAt: number,
    now: number,
    leaseUntil: number,
  ): Promise<boolean>;

  createEmailConfirmToken(record: EmailConfirmTokenRecord): Promise<void>;
  /** The token with this hash, used or not, or null. */
  findEmailConfirmToken(tokenHash: string): Promise<EmailConfirmTokenRecord | null>;
  /** Marks the token used, once, while `expiresAt > now`. True for the one caller that won. */
  consumeEmailConfirmToken(tokenHash: string, now: number): Promise<boolean>;

  recordNotificationDelivery(record: NotificationDeliveryRecord): Promise<void>;
  /** Deliveries, newest first: of one request, or only failures, or all. */
  listNotificationDeliveries(query: {
    pauseId?: string;
    status?: NotificationDeliveryRecord['status'];
    limit: number;
  }): Promise<NotificationDeliveryRecord[]>;

  createWebhookEndpoint(record: WebhookEndpointRecord): Promise<void>;
  /** Oldest first, disabled ones included. */
  listWebhookEndpoints(): Promise<WebhookEndpointRecord[]>;
  getWebhookEndpoint(id: string): Promise<WebhookEndpointRecord | null>;
  /** Removes the endpoint and its messages; false when no endpoint has that id. */
  removeWebhookEndpoint(id: string): Promise<boolean>;
  /** Marks an endpoint disabled (it answered 410 Gone). */
  disableWebhookEndpoint(id: string, now: number): Promise<void>;
  /** Inserts or replaces the state of one message to one endpoint. */
  saveWebhookMessage(record: WebhookMessageRecord): Promise<void>;
  /** Messages newest first (by `updatedAt`), optionally only those in one status. */
  listWebhookMessages(query: {
    status?: WebhookMessageRecord['status'];
    limit: number;
  }): Promise<WebhookMessageRecord[]>;
  /** Pending messages whose `nextAttemptAt <= now`, soonest first. */
  listDueWebhookMessages(now: number, limit: number): Promise<WebhookMessageRecord[]>;
  /** The earliest `nextAttemptAt` of a pending message, or null. */
  nextWebhookAttemptAt(): Promise<number | null>;

  /** Asks the database whether it answers and holds every migration; never throws. */
  checkReadiness(): Promise<StoreReadiness>;
  /**
   * Inserts or refreshes a server's directory entry (at start, then on every heartbeat), and
   * forgets entries whose heartbeat is older than `forgetBefore` (servers that died unannounced).
   */
  saveServerHeartbeat(entry: ServerDirectoryEntry, forgetBefore: number): Promise<void>;
  /** Removes a server's directory entry (it is shutting down); nothing when there is none. */
  removeServer(id: string): Promise<void>;
  /**
   * Records that `serverId` holds handoff session `sessionId` until `keepUntil`, and forgets
   * every owner row whose `keepUntil <= now`.
   */
  recordHandoffOwner(
    owner: { sessionId: string; serverId: string; keepUntil: number },
    now: number,
  ): Promise<void>;
  /** The owner of a handoff session whose row is kept past `now`, or null. */
  findHandoffOwner(sessionId: string, now: number): Promise<HandoffOwnerRecord | null>;
  /**
   * Records what a gated approval may become (its policy rule's grant offer). The first offer
   * of an approval stays; a later one is ignored.
   */
  saveGrantOffer(pauseId: string, offer: GrantOffer, now: number): Promise<void>;
  /** The offer recorded for an approval, or null (then only "once" may be chosen). */
  getGrantOffer(pauseId: string): Promise<GrantOffer | null>;
  /** Stores a new grant (one per approval: a second for the same `pauseId` throws) and its audit entry. */
  createGrant(record: GrantRecord, audit: AuditInput): Promise<void>;
  getGrant(id: string): Promise<GrantRecord | null>;
  /** Grants newest first. */
  listGrants(query: GrantQuery): Promise<GrantRecord[]>;
  /**
   * Counts one use of a grant and appends `audit`, atomically: true only while the grant is
   * unrevoked, `notAfter > now` and `uses < maxUses`; so parallel callers never overspend it.
   */
  useGrant(id: string, now: number, audit: AuditInput): Promise<boolean>;
  /** Revokes an unrevoked grant and appends `audit`; true when this call revoked it. */
  revokeGrant(id: string, revokedBy: string, now: number, audit: AuditInput): Promise<boolean>;

  close(): Promise<void>;
}
