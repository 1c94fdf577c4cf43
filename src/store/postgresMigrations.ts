import { taskClaimsKeepUntilMigration, taskClaimsMigration } from './postgresClaims.js';
import { postgresHandoffOwnersMigration } from './postgresHandoffOwners.js';
import { grantsMigration } from './postgresGrants.js';
import { notificationLimitsMigration } from './postgresNotificationLimits.js';

/**
 * PostgreSQL schema migrations, applied in order; the table `loopgate_migrations` records each
 * one that ran (`version` = its index + 1). Append new migrations; never edit one that has
 * shipped. The schema mirrors `sqliteMigrations.ts` (applied in full): times are BIGINT ms
 * since epoch, JSON is kept as TEXT exactly as written (so a copy from SQLite is byte-equal),
 * and `ord` columns stand in for SQLite's `rowid` where lists break ties by insertion order.
 */
export const postgresMigrations: readonly string[] = [
  `
  CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'responded', 'timed_out', 'expired')),
    action_description TEXT NOT NULL,
    action_details TEXT NOT NULL,
    fields TEXT NOT NULL,
    recipient_email TEXT,
    recipient_slack TEXT,
    action_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    response TEXT,
    receipt TEXT,
    gate TEXT NOT NULL DEFAULT '{"type":"approve"}',
    tool_name TEXT,
    consumed_at BIGINT,
    votes TEXT NOT NULL DEFAULT '[]'
  );
  CREATE INDEX approvals_status_expires ON approvals (status, expires_at);
  CREATE INDEX approvals_created ON approvals (created_at);
  CREATE INDEX approvals_agent ON approvals (agent_id, created_at);
  CREATE INDEX approvals_action ON approvals (agent_id, action_hash, status);

  CREATE TABLE agent_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT,
    scope TEXT NOT NULL DEFAULT 'agent' CHECK (scope IN ('agent', 'gateway'))
  );

  CREATE TABLE operators (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'approver')),
    created_at BIGINT NOT NULL
  );

  CREATE TABLE login_tokens (
    token_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    source TEXT NOT NULL DEFAULT 'login' CHECK (source IN ('login', 'invite', 'enroll'))
  );

  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    source TEXT NOT NULL DEFAULT 'login' CHECK (source IN ('login', 'invite', 'enroll'))
  );

  CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    type TEXT NOT NULL,
    request_id TEXT,
    actor TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL
  );

  CREATE TABLE operator_totp (
    operator_id TEXT PRIMARY KEY REFERENCES operators (id),
    secret_encrypted TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failures_on_request INTEGER NOT NULL DEFAULT 0,
    locked_at BIGINT,
    last_used_step BIGINT
  );

  CREATE TABLE webauthn_credentials (
    id TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    public_key BYTEA NOT NULL,
    counter BIGINT NOT NULL,
    transports TEXT NOT NULL DEFAULT '[]',
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    flagged_at BIGINT
  );
  CREATE INDEX webauthn_credentials_operator ON webauthn_credentials (operator_id);

  CREATE TABLE webauthn_challenges (
    challenge TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('registration', 'authentication')),
    request_id TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
  );

  CREATE TABLE operator_contacts (
    kind TEXT NOT NULL CHECK (kind IN ('slack', 'email')),
    value TEXT NOT NULL,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
  );
  CREATE UNIQUE INDEX operator_contacts_operator ON operator_contacts (operator_id, kind);

  CREATE TABLE slack_payloads (
    payload_id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
  );

  CREATE TABLE email_confirm_tokens (
    token_hash TEXT PRIMARY KEY,
    pause_id TEXT NOT NULL REFERENCES approvals (id),
    recipient TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
  );
  CREATE INDEX email_confirm_tokens_pause ON email_confirm_tokens (pause_id);

  CREATE TABLE notification_deliveries (
    ord BIGSERIAL,
    id TEXT PRIMARY KEY,
    pause_id TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('slack', 'email', 'webhook')),
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sent', 'held', 'failed')),
    ref TEXT,
    error_code TEXT,
    error_message TEXT,
    at BIGINT NOT NULL
  );
  CREATE INDEX notification_deliveries_pause ON notification_deliveries (pause_id, at);
  CREATE INDEX notification_deliveries_status ON notification_deliveries (status, at);

  CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
  );

  CREATE TABLE webhook_messages (
    ord BIGSERIAL,
    msg_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'endpoint_gone')),
    attempts INTEGER NOT NULL,
    first_attempt_at BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_status INTEGER,
    last_error TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (msg_id, endpoint_id)
  );
  CREATE INDEX webhook_messages_due ON webhook_messages (status, next_attempt_at);

  CREATE TABLE agent_notifications (
    agent_id TEXT NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE INDEX agent_notifications_agent ON agent_notifications (agent_id, at);

  CREATE TABLE otp_argument_throttle (
    subject TEXT PRIMARY KEY,
    consecutive_failures INTEGER NOT NULL,
    blocked_until BIGINT
  );

  CREATE TABLE loopgate_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  taskClaimsMigration,
  postgresHandoffOwnersMigration,
  grantsMigration,
  taskClaimsKeepUntilMigration + notificationLimitsMigration,
  `
  ALTER TABLE approvals ADD COLUMN edit_constraints TEXT;
  ALTER TABLE approvals ADD COLUMN edit TEXT;
  `,
];
