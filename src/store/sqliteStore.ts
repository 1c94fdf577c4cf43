import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { isSameGate, type ApprovalRecord, type QuorumVoteRecord } from '../core/approval.js';
import { auditGenesisHash, computeAuditEntryHash, type AuditEntry } from '../core/auditChain.js';
import { LoopgateError } from '../core/errors.js';
import { grantColumns, grantValues, toGrant, toGrantOffer, type GrantRow } from './grantRows.js';
import { sqliteMigrations } from './sqliteMigrations.js';
import type {
  ApprovalQuery,
  DueDigest,
  GrantQuery,
  NotificationAdmission,
  NotificationLimit,
  ServerDirectoryEntry,
  Store,
} from './store.js';
import {
  lastUsedResolutionMs,
  slackPayloadRetentionMs,
  toAgentKey,
  toApproval,
  toAudit,
  toCredential,
  toDelivery,
  toSession,
  toTotp,
  toWebhookEndpoint,
  toWebhookMessage,
  type AgentKeyRow,
  type ApprovalRow,
  type AuditRow,
  type CredentialRow,
  type DeliveryRow,
  type SessionRow,
  type TotpRow,
  type WebhookEndpointRow,
  type WebhookMessageRow,
} from './storeRows.js';
import type {
  AuditInput,
  LoginTokenRefusal,
  OperatorRecord,
  OtpArgumentThrottleRecord,
  SessionRecord,
  SessionSource,
  EmailConfirmTokenRecord,
  OperatorContactRecord,
  WebhookMessageRecord,
  TotpEnrollmentRecord,
  TotpStateRecord,
  WebAuthnChallengeRecord,
} from '../core/records.js';

/**
 * The SQLite store (better-sqlite3): WAL journal, `synchronous=FULL` so an acknowledged
 * decision survives a power cut, a 5 s busy timeout so the CLI (`login-url`, `keys`) can write
 * while a server runs on the same file. Each transition is one `BEGIN IMMEDIATE` transaction.
 *
 * @param path the database file (created with its folder, mode 0600), or `:memory:`.
 * @throws LoopgateError E_STORE_MIGRATION when the schema cannot be brought up to date.
 */
export function openSqliteStore(path: string): Store {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new Database(path);
  if (path !== ':memory:') chmodSync(path, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db);

  const stmt = {
    insertApproval: db.prepare(`INSERT INTO approvals (id, agent_id, status, action_description,
      action_details, fields, recipient_email, recipient_slack, action_hash, created_at, expires_at,
      updated_at, response, receipt, gate, tool_name, consumed_at, votes, edit_constraints, edit)
      VALUES (@id, @agent_id,
      @status, @action_description, @action_details, @fields, @recipient_email, @recipient_slack,
      @action_hash, @created_at, @expires_at, @updated_at, @response, @receipt, @gate, @tool_name,
      @consumed_at, @votes, @edit_constraints, @edit)`),
    setVotes: db.prepare(`UPDATE approvals SET votes = ?, updated_at = ?
      WHERE id = ? AND status = 'pending' AND expires_at > ?`),
    consumable: db.prepare(`SELECT * FROM approvals WHERE agent_id = ? AND action_hash = ?
      AND status = 'responded' AND consumed_at IS NULL AND expires_at > ?
      AND json_extract(response, '$.decision') = 'approved' ORDER BY created_at DESC`),
    pendingByHash: db.prepare(`SELECT * FROM approvals WHERE agent_id = ? AND action_hash = ?
      AND status = 'pending' AND expires_at > ? ORDER BY created_at DESC`),
    consume: db.prepare(`UPDATE approvals SET consumed_at = ?, updated_at = ? WHERE id = ?
      AND status = 'responded' AND consumed_at IS NULL AND json_extract(response, '$.decision') = 'approved'`),
    operatorByNameOnly: db.prepare('SELECT * FROM operators WHERE name = ?'),
    totp: db.prepare('SELECT * FROM operator_totp WHERE operator_id = ?'),
    upsertTotp: db.prepare(`INSERT INTO operator_totp (operator_id, secret_encrypted, enrolled_at)
      VALUES (?, ?, ?) ON CONFLICT (operator_id) DO UPDATE SET secret_encrypted = excluded.secret_encrypted,
      enrolled_at = excluded.enrolled_at, consecutive_failures = 0, failures_on_request = 0`),
    setTotpState:
      db.prepare(`UPDATE operator_totp SET consecutive_failures = ?, failures_on_request = ?,
      locked_at = ?, last_used_step = ? WHERE operator_id = ?`),
    insertCredential:
      db.prepare(`INSERT INTO webauthn_credentials (id, operator_id, public_key, counter,
      transports, name, created_at, last_used_at, flagged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    credentialsOf: db.prepare(
      'SELECT * FROM webauthn_credentials WHERE operator_id = ? ORDER BY created_at',
    ),
    credential: db.prepare('SELECT * FROM webauthn_credentials WHERE id = ?'),
    bumpCounter: db.prepare(`UPDATE webauthn_credentials SET counter = ?, last_used_at = ?
      WHERE id = ? AND flagged_at IS NULL AND (counter < ? OR (counter = 0 AND ? = 0))`),
    flagCredential: db.prepare(
      'UPDATE webauthn_credentials SET flagged_at = ? WHERE id = ? AND flagged_at IS NULL',
    ),
    insertChallenge:
      db.prepare(`INSERT INTO webauthn_challenges (challenge, operator_id, purpose, request_id,
      expires_at, used_at) VALUES (?, ?, ?, ?, ?, NULL)`),
    challenge: db.prepare('SELECT * FROM webauthn_challenges WHERE challenge = ?'),
    useChallenge: db.prepare(
      'UPDATE webauthn_challenges SET used_at = ? WHERE challenge = ? AND used_at IS NULL',
    ),
    purgeChallenges: db.prepare('DELETE FROM webauthn_challenges WHERE expires_at < ?'),
    getApproval: db.prepare('SELECT * FROM approvals WHERE id = ?'),
    decide: db.prepare(`UPDATE approvals SET status = 'responded', response = ?, receipt = ?,
      updated_at = ? WHERE id = ? AND status = 'pending' AND expires_at > ?`),
    decideEdited: db.prepare(`UPDATE approvals SET status = 'responded', response = ?, receipt = ?,
      updated_at = ?, action_hash = ?, action_details = ?, edit = ?
      WHERE id = ? AND status = 'pending' AND expires_at > ?`),
    cancel: db.prepare(`UPDATE approvals SET status = 'expired', updated_at = ?
      WHERE id = ? AND status = 'pending'`),
    expireDue: db.prepare(`UPDATE approvals SET status = 'timed_out', updated_at = ?
      WHERE status = 'pending' AND expires_at <= ? RETURNING id, expires_at`),
    nextExpiry: db.prepare(`SELECT MIN(expires_at) AS t FROM approvals WHERE status = 'pending'`),
    lastAudit: db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1'),
    insertAudit: db.prepare(`INSERT INTO audit_log (seq, at, type, request_id, actor, data,
      prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    listAudit: db.prepare('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?'),
    insertKey: db.prepare(`INSERT INTO agent_keys (id, name, scope, key_hash, prefix, created_at,
      revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    otpThrottle: db.prepare('SELECT * FROM otp_argument_throttle WHERE subject = ?'),
    setOtpThrottle:
      db.prepare(`INSERT INTO otp_argument_throttle (subject, consecutive_failures, blocked_until)
      VALUES (?, ?, ?) ON CONFLICT (subject) DO UPDATE SET consecutive_failures = excluded.consecutive_failures,
      blocked_until = excluded.blocked_until`),
    keyByHash: db.prepare('SELECT * FROM agent_keys WHERE key_hash = ? AND revoked_at IS NULL'),
    touchKey: db.prepare('UPDATE agent_keys SET last_used_at = ? WHERE id = ?'),
    listKeys: db.prepare('SELECT * FROM agent_keys ORDER BY created_at'),
    revokeKey: db.prepare(
      'UPDATE agent_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
    ),
    operatorByName: db.prepare('SELECT * FROM operators WHERE name = ?'),
    operatorById: db.prepare('SELECT * FROM operators WHERE id = ?'),
    insertOperator: db.prepare(
      'INSERT INTO operators (id, name, role, created_at) VALUES (?, ?, ?, ?)',
    ),
    listOperators: db.prepare('SELECT * FROM operators ORDER BY created_at'),
    insertLoginToken: db.prepare(`INSERT INTO login_tokens (token_hash, operator_id, created_at,
      expires_at, used_at, source) VALUES (?, ?, ?, ?, NULL, ?)`),
    loginToken: db.prepare('SELECT * FROM login_tokens WHERE token_hash = ?'),
    useLoginToken: db.prepare(
      'UPDATE login_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?',
    ),
    purgeLoginTokens: db.prepare('DELETE FROM login_tokens WHERE expires_at < ?'),
    insertSession: db.prepare(`INSERT INTO sessions (id_hash, operator_id, csrf_token, created_at,
      expires_at, source) VALUES (?, ?, ?, ?, ?, ?)`),
    session: db.prepare('SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?'),
    deleteSession: db.prepare('DELETE FROM sessions WHERE id_hash = ?'),
    purgeSessions: db.prepare('DELETE FROM sessions WHERE expires_at < ?'),
    deleteContactOfOperator: db.prepare(
      'DELETE FROM operator_contacts WHERE operator_id = ? AND kind = ?',
    ),
    upsertContact:
      db.prepare(`INSERT INTO operator_contacts (kind, value, operator_id, linked_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (kind, value) DO UPDATE SET operator_id = excluded.operator_id, linked_at = excluded.linked_at`),
    operatorByContact:
      db.prepare(`SELECT o.* FROM operators o JOIN operator_contacts c ON c.operator_id = o.id
      WHERE c.kind = ? AND c.value = ?`),
    contactOfOperator: db.prepare(
      'SELECT value FROM operator_contacts WHERE operator_id = ? AND kind = ?',
    ),
    insertSlackPayload: db.prepare(
      'INSERT OR IGNORE INTO slack_payloads (payload_id, received_at) VALUES (?, ?)',
    ),
    purgeSlackPayloads: db.prepare('DELETE FROM slack_payloads WHERE received_at < ?'),
    upsertServer: db.prepare(`INSERT INTO servers (id, internal_url, heartbeat_at) VALUES (?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET internal_url = excluded.internal_url,
      heartbeat_at = excluded.heartbeat_at`),
    forgetServers: db.prepare('DELETE FROM servers WHERE heartbeat_at < ?'),
    deleteServer: db.prepare('DELETE FROM servers WHERE id = ?'),
    upsertHandoffOwner: db.prepare(`INSERT INTO handoff_owners (session_id, server_id, keep_until)
      VALUES (?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET server_id = excluded.server_id,
      keep_until = excluded.keep_until`),
    purgeHandoffOwners: db.prepare('DELETE FROM handoff_owners WHERE keep_until <= ?'),
    handoffOwner: db.prepare(`SELECT o.session_id, o.server_id, o.keep_until,
      s.internal_url, s.heartbeat_at FROM handoff_owners o LEFT JOIN servers s ON s.id = o.server_id
      WHERE o.session_id = ? AND o.keep_until > ?`),
    purgeAgentNotifications: db.prepare(
      'DELETE FROM agent_notifications WHERE agent_id = ? AND at <= ?',
    ),
    countAgentNotifications: db.prepare(
      'SELECT COUNT(*) AS n FROM agent_notifications WHERE agent_id = ?',
    ),
    insertAgentNotification: db.prepare(
      'INSERT INTO agent_notifications (agent_id, at) VALUES (?, ?)',
    ),
    insertConfirmToken:
      db.prepare(`INSERT INTO email_confirm_tokens (token_hash, pause_id, recipient, created_at,
      expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?)`),
    confirmToken: db.prepare('SELECT * FROM email_confirm_tokens WHERE token_hash = ?'),
    useConfirmToken: db.prepare(
      'UPDATE email_confirm_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?',
    ),
    insertDelivery:
      db.prepare(`INSERT INTO notification_deliveries (id, pause_id, channel, kind, recipient, status,
      ref, error_code, error_message, at) VALUES (@id, @pause_id, @channel, @kind, @recipient, @status, @ref,
      @error_code, @error_message, @at)`),
    insertEndpoint:
      db.prepare(`INSERT INTO webhook_endpoints (id, url, secret, events, created_at, disabled_at)
      VALUES (?, ?, ?, ?, ?, ?)`),
    listEndpoints: db.prepare('SELECT * FROM webhook_endpoints ORDER BY created_at, id'),
    endpoint: db.prepare('SELECT * FROM webhook_endpoints WHERE id = ?'),
    deleteEndpoint: db.prepare('DELETE FROM webhook_endpoints WHERE id = ?'),
    deleteEndpointMessages: db.prepare('DELETE FROM webhook_messages WHERE endpoint_id = ?'),
    disableEndpoint: db.prepare(
      'UPDATE webhook_endpoints SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL',
    ),
    upsertWebhookMessage:
      db.prepare(`INSERT INTO webhook_messages (msg_id, endpoint_id, event_type, event, status,
      attempts, first_attempt_at, next_attempt_at, last_status, last_error, updated_at) VALUES (@msg_id, @endpoint_id,
      @event_type, @event, @status, @attempts, @first_attempt_at, @next_attempt_at, @last_status, @last_error,
      @updated_at) ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = excluded.status,
      attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, last_status = excluded.last_status,
      last_error = excluded.last_error, updated_at = excluded.updated_at`),
    dueWebhookMessages:
      db.prepare(`SELECT * FROM webhook_messages WHERE status = 'pending' AND next_attempt_at <= ?
      ORDER BY next_attempt_at LIMIT ?`),
    nextWebhookAttempt: db.prepare(
      `SELECT MIN(next_attempt_at) AS t FROM webhook_messages WHERE status = 'pending'`,
    ),
  };

  function appendAuditSync(audit: AuditInput, now: number): AuditEntry {
    const last = stmt.lastAudit.get() as { seq: number; hash: string } | undefined;
    const base = {
      seq: (last?.seq ?? 0) + 1,
      at: now,
      type: audit.type,
      requestId: audit.requestId,
      actor: audit.actor,
      data: audit.data,
      prevHash: last?.hash ?? auditGenesisHash,
    };
    const entry: AuditEntry = { ...base, hash: computeAuditEntryHash(base) };
    stmt.insertAudit.run(
      entry.seq,
      entry.at,
      entry.type,
      entry.requestId,
      entry.actor,
      JSON.stringify(entry.data),
      entry.prevHash,
      entry.hash,
    );
    return entry;
  }

  const takeNotificationTx = db.transaction(
    (agentId: string, now: number, windowMs: number, limit: number) => {
      stmt.purgeAgentNotifications.run(agentId, now - windowMs);
      const { n } = stmt.countAgentNotifications.get(agentId) as { n: number };
      if (n >= limit) return false;
      stmt.insertAgentNotification.run(agentId, now);
      return true;
    },
  );
  const createApprovalTx = db.transaction((record: ApprovalRecord, audit: AuditInput) => {
    stmt.insertApproval.run({
      id: record.id,
      agent_id: record.agentId,
      status: record.status,
      action_description: record.actionDescription,
      action_details: JSON.stringify(record.actionDetails),
      fields: JSON.stringify(record.fields),
      recipient_email: record.recipientEmail,
      recipient_slack: record.recipientSlack,
      action_hash: record.actionHash,
      created_at: record.createdAt,
      expires_at: record.expiresAt,
      updated_at: record.updatedAt,
      response: record.response === null ? null : JSON.stringify(record.response),
      receipt: record.receipt,
      gate: JSON.stringify(record.gate),
      tool_name: record.toolName,
      consumed_at: record.consumedAt,
      votes: JSON.stringify(record.votes),
      edit_constraints: record.editConstraints ? JSON.stringify(record.editConstraints) : null,
      edit: record.edit ? JSON.stringify(record.edit) : null,
    });
    appendAuditSync(audit, record.createdAt);
  });

  const addVoteTx = db.transaction(
    (id: string, vote: QuorumVoteRecord, now: number, audit: AuditInput) => {
      const row = stmt.getApproval.get(id) as ApprovalRow | undefined;
      if (!row || row.status !== 'pending' || row.expires_at <= now) return null;
      const votes = [...(JSON.parse(row.votes) as QuorumVoteRecord[]), vote];
      if (stmt.setVotes.run(JSON.stringify(votes), now, id, now).changes !== 1) return null;
      appendAuditSync(audit, now);
      return toApproval({ ...row, votes: JSON.stringify(votes), updated_at: now });
    },
  );

  const consumeTx = db.transaction((id: string, now: number, audit: AuditInput) => {
    if (stmt.consume.run(now, now, id).changes !== 1) return false;
    appendAuditSync(audit, now);
    return true;
  });

  const updateTotpTx = db.transaction(
    (
      operatorId: string,
      update: (row: TotpEnrollmentRecord) => { state: TotpStateRecord; result: unknown },
    ) => {
      const row = stmt.totp.get(operatorId) as TotpRow | undefined;
      if (!row) return { found: false as const };
      const { state, result } = update(toTotp(row));
      stmt.setTotpState.run(
        state.consecutiveFailures,
        state.failuresOnRequest,
        state.lockedAt,
        state.lastUsedStep,
        operatorId,
      );
      return { found: true as const, result };
    },
  );

  const updateOtpThrottleTx = db.transaction(
    (
      subject: string,
      update: (state: OtpArgumentThrottleRecord) => {
        state: OtpArgumentThrottleRecord;
        result: unknown;
      },
    ) => {
      const row = stmt.otpThrottle.get(subject) as
        { consecutive_failures: number; blocked_until: number | null } | undefined;
      const { state, result } = update({
        consecutiveFailures: row?.consecutive_failures ?? 0,
        blockedUntil: row?.blocked_until ?? null,
      });
      stmt.setOtpThrottle.run(subject, state.consecutiveFailures, state.blockedUntil);
      return result;
    },
  );

  const consumeChallengeTx = db.transaction(
    (
      challenge: string,
      operatorId: string,
      purpose: WebAuthnChallengeRecord['purpose'],
      now: number,
    ) => {
      const row = stmt.challenge.get(challenge) as
        | {
            challenge: string;
            operator_id: string;
            purpose: WebAuthnChallengeRecord['purpose'];
            request_id: string | null;
            expires_at: number;
            used_at: number | null;
          }
        | undefined;
      if (!row) return null;
      const used = stmt.useChallenge.run(now, challenge).changes === 1;
      if (
        !used ||
        row.expires_at <= now ||
        row.operator_id !== operatorId ||
        row.purpose !== purpose
      )
        return null;
      return {
        challenge: row.challenge,
        operatorId: row.operator_id,
        purpose: row.purpose,
        requestId: row.request_id,
        expiresAt: row.expires_at,
      };
    },
  );

  const decideTx = db.transaction(
    (id: string, change: Parameters<Store['recordDecision']>[1], audit: AuditInput) => {
      const result = change.edited
        ? stmt.decideEdited.run(
            JSON.stringify(change.response),
            change.receipt,
            change.now,
            change.edited.actionHash,
            JSON.stringify(change.edited.actionDetails),
            JSON.stringify(change.edited.edit),
            id,
            change.now,
          )
        : stmt.decide.run(
            JSON.stringify(change.response),
            change.receipt,
            change.now,
            id,
            change.now,
          );
      if (result.changes !== 1) return false;
      appendAuditSync(audit, change.now);
      return true;
    },
  );

  const cancelTx = db.transaction((id: string, now: number, audit: AuditInput) => {
    if (stmt.cancel.run(now, id).changes !== 1) return false;
    appendAuditSync(audit, now);
    return true;
  });

  const expireTx = db.transaction((now: number) => {
    const rows = stmt.expireDue.all(now, now) as { id: string; expires_at: number }[];
    for (const row of rows) {
      appendAuditSync(
        {
          type: 'approval.timed_out',
          requestId: row.id,
          actor: 'system',
          data: { expires_at: row.expires_at },
        },
        now,
      );
    }
    return rows.map((row) => row.id);
  });

  const appendAuditTx = db.transaction(appendAuditSync);

  const ensureOperatorTx = db.transaction(
    (input: {
      id: string;
      name: string;
      role: OperatorRecord['role'];
      now: number;
    }): OperatorRecord => {
      const existing = stmt.operatorByName.get(input.name) as
        { id: string; name: string; role: OperatorRecord['role']; created_at: number } | undefined;
      if (existing)
        return {
          id: existing.id,
          name: existing.name,
          role: existing.role,
          createdAt: existing.created_at,
        };
      stmt.insertOperator.run(input.id, input.name, input.role, input.now);
      return { id: input.id, name: input.name, role: input.role, createdAt: input.now };
    },
  );

  const consumeLoginTokenTx = db.transaction(
    (
      tokenHash: string,
      now: number,
    ):
      | { ok: true; operatorId: string; source: SessionSource }
      | { ok: false; reason: LoginTokenRefusal } => {
      const row = stmt.loginToken.get(tokenHash) as
        | { operator_id: string; expires_at: number; used_at: number | null; source: SessionSource }
        | undefined;
      if (!row) return { ok: false, reason: 'unknown' };
      if (row.used_at !== null) return { ok: false, reason: 'used' };
      if (row.expires_at <= now) return { ok: false, reason: 'expired' };
      stmt.useLoginToken.run(now, tokenHash, now);
      return { ok: true, operatorId: row.operator_id, source: row.source };
    },
  );

  const linkContactTx = db.transaction(
    (operatorId: string, kind: OperatorContactRecord['kind'], value: string, now: number) => {
      stmt.deleteContactOfOperator.run(operatorId, kind);
      stmt.upsertContact.run(kind, value, operatorId, now);
    },
  );

  const removeEndpointTx = db.transaction((id: string) => {
    stmt.deleteEndpointMessages.run(id);
    return stmt.deleteEndpoint.run(id).changes === 1;
  });

  // Claims of time-based work, so that it runs once per deployment.
  const claimStmt = {
    task: db.prepare(
      'INSERT INTO task_claims (key, claimed_at, keep_until) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    purgeTasks: db.prepare('DELETE FROM task_claims WHERE keep_until < ?'),
    hasTask: db.prepare('SELECT 1 FROM task_claims WHERE key = ?'),
    webhookMessage: db.prepare(`UPDATE webhook_messages SET next_attempt_at = ?
      WHERE msg_id = ? AND endpoint_id = ? AND status = 'pending' AND next_attempt_at = ?
      AND next_attempt_at <= ?`),
  };
  // The per-recipient notification limit and held digest items (see Store.admitNotification).
  const limitStmt = {
    pruneSends: db.prepare('DELETE FROM notification_sends WHERE recipient = ? AND at <= ?'),
    countSends: db.prepare('SELECT COUNT(*) AS n FROM notification_sends WHERE recipient = ?'),
    /** The send that keeps the window full: the `limit`-th newest (OFFSET limit - 1). */
    limitingSend: db.prepare(`SELECT at FROM notification_sends WHERE recipient = ? AND at > ?
      ORDER BY at DESC LIMIT 1 OFFSET ?`),
    insertSend: db.prepare('INSERT INTO notification_sends (recipient, at) VALUES (?, ?)'),
    anyHeld: db.prepare('SELECT 1 FROM notification_held WHERE recipient = ? LIMIT 1'),
    insertHeld: db.prepare(`INSERT INTO notification_held (recipient, pause_id, held_at)
      VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
    heldOf: db.prepare('SELECT pause_id FROM notification_held WHERE recipient = ? ORDER BY rowid'),
    deleteHeldOf: db.prepare('DELETE FROM notification_held WHERE recipient = ?'),
    discardHeld: db.prepare('DELETE FROM notification_held WHERE pause_id = ?'),
    heldRecipients: db.prepare(
      'SELECT recipient FROM notification_held GROUP BY recipient ORDER BY MIN(rowid)',
    ),
  };
  /** When the recipient next has a free slot: now, or when the send filling the window leaves it. */
  function freeSlotAt(recipient: string, now: number, limit: NotificationLimit): number {
    const row = limitStmt.limitingSend.get(recipient, now - limit.windowMs, limit.limit - 1) as
      { at: number } | undefined;
    return row === undefined ? now : row.at + limit.windowMs;
  }
  const admitNotificationTx = db.transaction(
    (
      recipient: string,
      pauseId: string,
      now: number,
      limit: NotificationLimit,
    ): NotificationAdmission => {
      limitStmt.pruneSends.run(recipient, now - limit.windowMs);
      const dueAt = freeSlotAt(recipient, now, limit);
      if (dueAt <= now && limitStmt.anyHeld.get(recipient) === undefined) {
        limitStmt.insertSend.run(recipient, now);
        return { kind: 'send' };
      }
      limitStmt.insertHeld.run(recipient, pauseId, now);
      return { kind: 'held', dueAt };
    },
  );
  const takeDueDigestsTx = db.transaction((now: number, limit: NotificationLimit): DueDigest[] => {
    const due: DueDigest[] = [];
    for (const { recipient } of limitStmt.heldRecipients.all() as { recipient: string }[]) {
      limitStmt.pruneSends.run(recipient, now - limit.windowMs);
      if (freeSlotAt(recipient, now, limit) > now) continue;
      const pauseIds = (limitStmt.heldOf.all(recipient) as { pause_id: string }[]).map(
        (r) => r.pause_id,
      );
      limitStmt.deleteHeldOf.run(recipient);
      limitStmt.insertSend.run(recipient, now);
      due.push({ recipient, pauseIds });
    }
    return due;
  });
  const nextDigestDueAtTx = db.transaction((now: number, limit: NotificationLimit) => {
    let next: number | null = null;
    for (const { recipient } of limitStmt.heldRecipients.all() as { recipient: string }[]) {
      const at = freeSlotAt(recipient, now, limit);
      if (next === null || at < next) next = at;
    }
    return next;
  });

  const saveServerTx = db.transaction((entry: ServerDirectoryEntry, forgetBefore: number) => {
    stmt.forgetServers.run(forgetBefore);
    stmt.upsertServer.run(entry.id, entry.internalUrl, entry.heartbeatAt);
  });
  const recordOwnerTx = db.transaction(
    (owner: { sessionId: string; serverId: string; keepUntil: number }, now: number) => {
      stmt.purgeHandoffOwners.run(now);
      stmt.upsertHandoffOwner.run(owner.sessionId, owner.serverId, owner.keepUntil);
    },
  );

  // Standing grants (core/grant.ts).
  const grantStmt = {
    insertOffer: db.prepare(
      'INSERT INTO grant_offers (pause_id, offer, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    offer: db.prepare('SELECT offer FROM grant_offers WHERE pause_id = ?'),
    insert: db.prepare(
      `INSERT INTO grants (${grantColumns.join(', ')}) VALUES (${grantColumns.map(() => '?').join(', ')})`,
    ),
    get: db.prepare('SELECT * FROM grants WHERE id = ?'),
    use: db.prepare(`UPDATE grants SET uses = uses + 1 WHERE id = ? AND revoked_at IS NULL
      AND not_after > ? AND (max_uses IS NULL OR uses < max_uses)`),
    revoke: db.prepare(
      'UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL',
    ),
  };
  const createGrantTx = db.transaction((values: unknown[], audit: AuditInput, now: number) => {
    grantStmt.insert.run(...values);
    appendAuditSync(audit, now);
  });
  const useGrantTx = db.transaction((id: string, now: number, audit: AuditInput) => {
    if (grantStmt.use.run(id, now).changes !== 1) return false;
    appendAuditSync(audit, now);
    return true;
  });
  const revokeGrantTx = db.transaction(
    (id: string, revokedBy: string, now: number, audit: AuditInput) => {
      if (grantStmt.revoke.run(now, revokedBy, id).changes !== 1) return false;
      appendAuditSync(audit, now);
      return true;
    },
  );

  const store: Store = {
    async saveGrantOffer(pauseId, offer, now) {
      grantStmt.insertOffer.run(pauseId, JSON.stringify(offer), now);
    },
    async getGrantOffer(pauseId) {
      const row = grantStmt.offer.get(pauseId) as { offer: string } | undefined;
      return row ? toGrantOffer(row.offer) : null;
    },
    async createGrant(record, audit) {
      createGrantTx.immediate(grantValues(record), audit, record.createdAt);
    },
    async getGrant(id) {
      const row = grantStmt.get.get(id) as GrantRow | undefined;
      return row ? toGrant(row) : null;
    },
    async listGrants(query: GrantQuery) {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (query.agentId !== undefined) {
        where.push('agent_id = ?');
        params.push(query.agentId);
      }
      if (query.tool !== undefined) {
        where.push('tool = ?');
        params.push(query.tool);
      }
      if (query.liveAt !== undefined) {
        where.push(
          'revoked_at IS NULL AND not_after > ? AND (max_uses IS NULL OR uses < max_uses)',
        );
        params.push(query.liveAt);
      }
      const sql = `SELECT * FROM grants ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_at DESC, id DESC LIMIT ?`;
      return (db.prepare(sql).all(...params, query.limit) as GrantRow[]).map(toGrant);
    },
    async useGrant(id, now, audit) {
      return useGrantTx.immediate(id, now, audit);
    },
    async revokeGrant(id, revokedBy, now, audit) {
      return revokeGrantTx.immediate(id, revokedBy, now, audit);
    },
    async createApproval(record, audit) {
      createApprovalTx.immediate(record, audit);
    },
    async getApproval(id) {
      const row = stmt.getApproval.get(id) as ApprovalRow | undefined;
      return row ? toApproval(row) : null;
    },
    async listApprovals(query: ApprovalQuery) {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (query.status === 'pending') where.push(`status = 'pending'`);
      if (query.status === 'decided') where.push(`status != 'pending'`);
      if (query.agentId !== undefined) {
        where.push('agent_id = ?');
        params.push(query.agentId);
      }
      const sql = `SELECT * FROM approvals ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_at DESC, id DESC LIMIT ?`;
      const rows = db.prepare(sql).all(...params, query.limit) as ApprovalRow[];
      return rows.map(toApproval);
    },
    async recordDecision(id, change, audit) {
      return decideTx.immediate(id, change, audit);
    },
    async cancelApproval(id, now, audit) {
      return cancelTx.immediate(id, now, audit);
    },
    async addQuorumVote(id, vote, now, audit) {
      return addVoteTx.immediate(id, vote, now, audit);
    },
    async findConsumableApproval(agentId, actionHash, gate, now) {
      const rows = stmt.consumable.all(agentId, actionHash, now) as ApprovalRow[];
      return rows.map(toApproval).find((record) => isSameGate(record.gate, gate)) ?? null;
    },
    async findPendingApproval(agentId, actionHash, gate, now) {
      const rows = stmt.pendingByHash.all(agentId, actionHash, now) as ApprovalRow[];
      return rows.map(toApproval).find((record) => isSameGate(record.gate, gate)) ?? null;
    },
    async consumeApproval(id, now, audit) {
      return consumeTx.immediate(id, now, audit);
    },
    async expireDueApprovals(now) {
      return expireTx.immediate(now);
    },
    async nextApprovalExpiry() {
      const row = stmt.nextExpiry.get() as { t: number | null };
      return row.t;
    },
    async createAgentKey(record) {
      stmt.insertKey.run(
        record.id,
        record.name,
        record.scope,
        record.keyHash,
        record.prefix,
        record.createdAt,
        record.revokedAt,
        record.lastUsedAt,
      );
    },
    async findAgentKeyByHash(keyHash, now) {
      const row = stmt.keyByHash.get(keyHash) as AgentKeyRow | undefined;
      if (!row) return null;
      if (row.last_used_at === null || now - row.last_used_at > lastUsedResolutionMs) {
        stmt.touchKey.run(now, row.id);
        row.last_used_at = now;
      }
      return toAgentKey(row);
    },
    async listAgentKeys() {
      return (stmt.listKeys.all() as AgentKeyRow[]).map(toAgentKey);
    },
    async revokeAgentKey(id, now) {
      return stmt.revokeKey.run(now, id).changes === 1;
    },
    async ensureOperator(input) {
      return ensureOperatorTx.immediate(input);
    },
    async getOperator(id) {
      const row = stmt.operatorById.get(id) as
        { id: string; name: string; role: OperatorRecord['role']; created_at: number } | undefined;
      return row ? { id: row.id, name: row.name, role: row.role, createdAt: row.created_at } : null;
    },
    async listOperators() {
      const rows = stmt.listOperators.all() as {
        id: string;
        name: string;
        role: OperatorRecord['role'];
        created_at: number;
      }[];
      return rows.map((row) => ({
        id: row.id,
        name: row.name,
        role: row.role,
        createdAt: row.created_at,
      }));
    },
    async getOperatorByName(name) {
      const row = stmt.operatorByNameOnly.get(name) as
        { id: string; name: string; role: OperatorRecord['role']; created_at: number } | undefined;
      return row ? { id: row.id, name: row.name, role: row.role, createdAt: row.created_at } : null;
    },
    async getTotpEnrollment(operatorId) {
      const row = stmt.totp.get(operatorId) as TotpRow | undefined;
      return row ? toTotp(row) : null;
    },
    async saveTotpEnrollment(input) {
      stmt.upsertTotp.run(input.operatorId, input.secretEncrypted, input.enrolledAt);
    },
    async updateTotpState<T>(
      operatorId: string,
      update: (row: TotpEnrollmentRecord) => { state: TotpStateRecord; result: T },
    ): Promise<T | null> {
      const outcome = updateTotpTx.immediate(operatorId, update);
      return outcome.found ? (outcome.result as T) : null;
    },
    async updateOtpArgumentThrottle<T>(
      subject: string,
      update: (state: OtpArgumentThrottleRecord) => { state: OtpArgumentThrottleRecord; result: T },
    ): Promise<T> {
      return updateOtpThrottleTx.immediate(subject, update) as T;
    },
    async saveWebAuthnCredential(record) {
      stmt.insertCredential.run(
        record.id,
        record.operatorId,
        Buffer.from(record.publicKey),
        record.counter,
        JSON.stringify(record.transports),
        record.name,
        record.createdAt,
        record.lastUsedAt,
        record.flaggedAt,
      );
    },
    async listWebAuthnCredentials(operatorId) {
      return (stmt.credentialsOf.all(operatorId) as CredentialRow[]).map(toCredential);
    },
    async getWebAuthnCredential(id) {
      const row = stmt.credential.get(id) as CredentialRow | undefined;
      return row ? toCredential(row) : null;
    },
    async updateWebAuthnCounter(id, counter, now) {
      return stmt.bumpCounter.run(counter, now, id, counter, counter).changes === 1;
    },
    async flagWebAuthnCredential(id, now) {
      stmt.flagCredential.run(now, id);
    },
    async createWebAuthnChallenge(record) {
      stmt.purgeChallenges.run(record.expiresAt - 24 * 3_600_000);
      stmt.insertChallenge.run(
        record.challenge,
        record.operatorId,
        record.purpose,
        record.requestId,
        record.expiresAt,
      );
    },
    async consumeWebAuthnChallenge(challenge, operatorId, purpose, now) {
      return consumeChallengeTx.immediate(challenge, operatorId, purpose, now);
    },
    async createLoginToken(input) {
      stmt.purgeLoginTokens.run(input.now - 24 * 3_600_000);
      stmt.insertLoginToken.run(
        input.tokenHash,
        input.operatorId,
        input.now,
        input.expiresAt,
        input.source ?? 'login',
      );
    },
    async consumeLoginToken(tokenHash, now) {
      return consumeLoginTokenTx.immediate(tokenHash, now);
    },
    async createSession(record: SessionRecord) {
      stmt.purgeSessions.run(record.createdAt);
      stmt.insertSession.run(
        record.idHash,
        record.operatorId,
        record.csrfToken,
        record.createdAt,
        record.expiresAt,
        record.source,
      );
    },
    async getSession(idHash, now) {
      const row = stmt.session.get(idHash, now) as SessionRow | undefined;
      return row ? toSession(row) : null;
    },
    async getSessionWithOperator(idHash, now) {
      const session = await store.getSession(idHash, now);
      const operator = session ? await store.getOperator(session.operatorId) : null;
      return session && operator ? { session, operator } : null;
    },
    async deleteSession(idHash) {
      stmt.deleteSession.run(idHash);
    },
    async appendAudit(audit, now) {
      return appendAuditTx.immediate(audit, now);
    },
    async listAuditEntries(afterSeq = 0, limit = 10_000) {
      return (stmt.listAudit.all(afterSeq, limit) as AuditRow[]).map(toAudit);
    },
    async linkOperatorContact(input) {
      linkContactTx.immediate(input.operatorId, input.kind, input.value, input.now);
    },
    async findOperatorByContact(kind, value) {
      const row = stmt.operatorByContact.get(kind, value) as
        { id: string; name: string; role: OperatorRecord['role']; created_at: number } | undefined;
      return row ? { id: row.id, name: row.name, role: row.role, createdAt: row.created_at } : null;
    },
    async getOperatorContact(operatorId, kind) {
      const row = stmt.contactOfOperator.get(operatorId, kind) as { value: string } | undefined;
      return row?.value ?? null;
    },
    async takeAgentNotification(agentId, now, windowMs, limit) {
      return takeNotificationTx.immediate(agentId, now, windowMs, limit);
    },
    async admitNotification(recipient, pauseId, now, limit) {
      return admitNotificationTx.immediate(recipient, pauseId, now, limit);
    },
    async discardHeldNotification(pauseId) {
      limitStmt.discardHeld.run(pauseId);
    },
    async takeDueDigests(now, limit) {
      return takeDueDigestsTx.immediate(now, limit);
    },
    async nextDigestDueAt(now, limit) {
      return nextDigestDueAtTx(now, limit);
    },
    async claimTask(key, now, keepUntil) {
      return claimStmt.task.run(key, now, keepUntil).changes === 1;
    },
    async purgeTaskClaims(before) {
      return claimStmt.purgeTasks.run(before).changes;
    },
    async hasTaskClaim(key) {
      return claimStmt.hasTask.get(key) !== undefined;
    },
    async claimWebhookMessage(msgId, endpointId, expectedNextAttemptAt, now, leaseUntil) {
      return (
        claimStmt.webhookMessage.run(leaseUntil, msgId, endpointId, expectedNextAttemptAt, now)
          .changes === 1
      );
    },
    async recordSlackPayload(payloadId, now) {
      stmt.purgeSlackPayloads.run(now - slackPayloadRetentionMs);
      return stmt.insertSlackPayload.run(payloadId, now).changes === 1;
    },
    async saveServerHeartbeat(entry, forgetBefore) {
      saveServerTx.immediate(entry, forgetBefore);
    },
    async removeServer(id) {
      stmt.deleteServer.run(id);
    },
    async recordHandoffOwner(owner, now) {
      recordOwnerTx.immediate(owner, now);
    },
    async findHandoffOwner(sessionId, now) {
      const row = stmt.handoffOwner.get(sessionId, now) as
        | {
            session_id: string;
            server_id: string;
            keep_until: number;
            internal_url: string | null;
            heartbeat_at: number | null;
          }
        | undefined;
      if (!row) return null;
      return {
        sessionId: row.session_id,
        serverId: row.server_id,
        keepUntil: row.keep_until,
        server:
          row.internal_url === null || row.heartbeat_at === null
            ? null
            : { id: row.server_id, internalUrl: row.internal_url, heartbeatAt: row.heartbeat_at },
      };
    },
    async createEmailConfirmToken(record: EmailConfirmTokenRecord) {
      stmt.insertConfirmToken.run(
        record.tokenHash,
        record.pauseId,
        record.recipient,
        record.createdAt,
        record.expiresAt,
        record.usedAt,
      );
    },
    async findEmailConfirmToken(tokenHash) {
      const row = stmt.confirmToken.get(tokenHash) as
        | {
            token_hash: string;
            pause_id: string;
            recipient: string;
            created_at: number;
            expires_at: number;
            used_at: number | null;
          }
        | undefined;
      return row
        ? {
            tokenHash: row.token_hash,
            pauseId: row.pause_id,
            recipient: row.recipient,
            createdAt: row.created_at,
            expiresAt: row.expires_at,
            usedAt: row.used_at,
          }
        : null;
    },
    async consumeEmailConfirmToken(tokenHash, now) {
      return stmt.useConfirmToken.run(now, tokenHash, now).changes === 1;
    },
    async recordNotificationDelivery(record) {
      stmt.insertDelivery.run({
        id: record.id,
        pause_id: record.pauseId,
        channel: record.channel,
        kind: record.kind,
        recipient: record.recipient,
        status: record.status,
        ref: record.ref,
        error_code: record.errorCode,
        error_message: record.errorMessage,
        at: record.at,
      });
    },
    async listNotificationDeliveries(query) {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (query.pauseId !== undefined) {
        where.push('pause_id = ?');
        params.push(query.pauseId);
      }
      if (query.status !== undefined) {
        where.push('status = ?');
        params.push(query.status);
      }
      const sql = `SELECT * FROM notification_deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY at DESC, rowid DESC LIMIT ?`;
      return (db.prepare(sql).all(...params, query.limit) as DeliveryRow[]).map(toDelivery);
    },
    async createWebhookEndpoint(record) {
      stmt.insertEndpoint.run(
        record.id,
        record.url,
        record.secret,
        JSON.stringify(record.events),
        record.createdAt,
        record.disabledAt,
      );
    },
    async listWebhookEndpoints() {
      return (stmt.listEndpoints.all() as WebhookEndpointRow[]).map(toWebhookEndpoint);
    },
    async getWebhookEndpoint(id) {
      const row = stmt.endpoint.get(id) as WebhookEndpointRow | undefined;
      return row ? toWebhookEndpoint(row) : null;
    },
    async removeWebhookEndpoint(id) {
      return removeEndpointTx.immediate(id);
    },
    async disableWebhookEndpoint(id, now) {
      stmt.disableEndpoint.run(now, id);
    },
    async saveWebhookMessage(record: WebhookMessageRecord) {
      stmt.upsertWebhookMessage.run({
        msg_id: record.msgId,
        endpoint_id: record.endpointId,
        event_type: record.eventType,
        event: JSON.stringify(record.event),
        status: record.status,
        attempts: record.attempts,
        first_attempt_at: record.firstAttemptAt,
        next_attempt_at: record.nextAttemptAt,
        last_status: record.lastStatus,
        last_error: record.lastError,
        updated_at: record.updatedAt,
      });
    },
    async listWebhookMessages(query) {
      const sql = `SELECT * FROM webhook_messages ${query.status ? 'WHERE status = ?' : ''}
        ORDER BY updated_at DESC, rowid DESC LIMIT ?`;
      const rows = (
        query.status
          ? db.prepare(sql).all(query.status, query.limit)
          : db.prepare(sql).all(query.limit)
      ) as WebhookMessageRow[];
      return rows.map(toWebhookMessage);
    },
    async listDueWebhookMessages(now, limit) {
      return (stmt.dueWebhookMessages.all(now, limit) as WebhookMessageRow[]).map(toWebhookMessage);
    },
    async nextWebhookAttemptAt() {
      return (stmt.nextWebhookAttempt.get() as { t: number | null }).t;
    },
    async checkReadiness() {
      try {
        const version = db.pragma('user_version', { simple: true }) as number;
        if (version < sqliteMigrations.length) {
          return {
            ok: false,
            code: 'E_STORE_SCHEMA_OUTDATED',
            message: `The database schema is version ${version}; this loopgate needs ${sqliteMigrations.length}. Run \`loopgate db migrate\`.`,
          };
        }
        return { ok: true, schemaVersion: version };
      } catch (cause) {
        return {
          ok: false,
          code: 'E_STORE_UNREACHABLE',
          message: `The SQLite database cannot be read: ${(cause as Error).message}`,
        };
      }
    },
    async close() {
      db.close();
    },
  };
  return store;
}

/**
 * Brings the SQLite database at `path` up to date (creating it when missing) and says what
 * changed, for `loopgate db migrate`.
 * @returns the schema version before and after
 * @throws LoopgateError E_STORE_MIGRATION as {@link openSqliteStore}
 */
export function migrateSqliteDatabase(path: string): { from: number; to: number } {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new Database(path);
  try {
    chmodSync(path, 0o600);
    db.pragma('busy_timeout = 5000');
    return migrate(db);
  } finally {
    db.close();
  }
}

function migrate(db: Database.Database): { from: number; to: number } {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > sqliteMigrations.length) {
    throw new LoopgateError(
      'E_STORE_MIGRATION',
      `The database schema is version ${current}, newer than this loopgate knows (${sqliteMigrations.length}). Upgrade loopgate.`,
    );
  }
  for (let version = current; version < sqliteMigrations.length; version += 1) {
    try {
      db.transaction(() => {
        db.exec(sqliteMigrations[version]!);
        db.pragma(`user_version = ${version + 1}`);
      }).immediate();
    } catch (cause) {
      throw new LoopgateError(
        'E_STORE_MIGRATION',
        `Migration ${version + 1} failed: ${String(cause)}`,
        { cause },
      );
    }
  }
  return { from: current, to: sqliteMigrations.length };
}
