/**
 * SQLite schema migrations, applied in order; `PRAGMA user_version` records how many ran.
 * Append new migrations; never edit one that has shipped.
 */
export const sqliteMigrations: readonly string[] = [
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
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    response TEXT,
    receipt TEXT
  );
  CREATE INDEX approvals_status_expires ON approvals (status, expires_at);
  CREATE INDEX approvals_created ON approvals (created_at);
  CREATE INDEX approvals_agent ON approvals (agent_id, created_at);

  CREATE TABLE agent_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER
  );

  CREATE TABLE operators (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'approver')),
    created_at INTEGER NOT NULL
  );

  CREATE TABLE login_tokens (
    token_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  );

  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );

  CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    type TEXT NOT NULL,
    request_id TEXT,
    actor TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  `,
  `
  ALTER TABLE approvals ADD COLUMN gate TEXT NOT NULL DEFAULT '{"type":"approve"}';
  ALTER TABLE approvals ADD COLUMN tool_name TEXT;
  ALTER TABLE approvals ADD COLUMN consumed_at INTEGER;
  ALTER TABLE approvals ADD COLUMN votes TEXT NOT NULL DEFAULT '[]';
  CREATE INDEX approvals_action ON approvals (agent_id, action_hash, status);

  CREATE TABLE operator_totp (
    operator_id TEXT PRIMARY KEY REFERENCES operators (id),
    secret_encrypted TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failures_on_request INTEGER NOT NULL DEFAULT 0,
    locked_at INTEGER,
    last_used_step INTEGER
  );

  CREATE TABLE webauthn_credentials (
    id TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    public_key BLOB NOT NULL,
    counter INTEGER NOT NULL,
    transports TEXT NOT NULL DEFAULT '[]',
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    flagged_at INTEGER
  );
  CREATE INDEX webauthn_credentials_operator ON webauthn_credentials (operator_id);

  CREATE TABLE webauthn_challenges (
    challenge TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('registration', 'authentication')),
    request_id TEXT,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  );
  `,
  `
  CREATE TABLE operator_contacts (
    kind TEXT NOT NULL CHECK (kind IN ('slack', 'email')),
    value TEXT NOT NULL,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
  );
  CREATE UNIQUE INDEX operator_contacts_operator ON operator_contacts (operator_id, kind);

  CREATE TABLE slack_payloads (
    payload_id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
  );

  CREATE TABLE email_confirm_tokens (
    token_hash TEXT PRIMARY KEY,
    pause_id TEXT NOT NULL REFERENCES approvals (id),
    recipient TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  );
  CREATE INDEX email_confirm_tokens_pause ON email_confirm_tokens (pause_id);

  CREATE TABLE notification_deliveries (
    id TEXT PRIMARY KEY,
    pause_id TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('slack', 'email', 'webhook')),
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sent', 'held', 'failed')),
    ref TEXT,
    error_code TEXT,
    error_message TEXT,
    at INTEGER NOT NULL
  );
  CREATE INDEX notification_deliveries_pause ON notification_deliveries (pause_id, at);
  CREATE INDEX notification_deliveries_status ON notification_deliveries (status, at);

  CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
  );

  CREATE TABLE webhook_messages (
    msg_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'endpoint_gone')),
    attempts INTEGER NOT NULL,
    first_attempt_at INTEGER NOT NULL,
    next_attempt_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (msg_id, endpoint_id)
  );
  CREATE INDEX webhook_messages_due ON webhook_messages (status, next_attempt_at);
  `,
  `
  CREATE TABLE agent_notifications (
    agent_id TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX agent_notifications_agent ON agent_notifications (agent_id, at);
  `,
  `
  ALTER TABLE login_tokens ADD COLUMN source TEXT NOT NULL DEFAULT 'login'
    CHECK (source IN ('login', 'invite', 'enroll'));
  ALTER TABLE sessions ADD COLUMN source TEXT NOT NULL DEFAULT 'login'
    CHECK (source IN ('login', 'invite', 'enroll'));
  `,
  `
  ALTER TABLE agent_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'agent' CHECK (scope IN ('agent', 'gateway'));

  CREATE TABLE otp_argument_throttle (
    subject TEXT PRIMARY KEY,
    consecutive_failures INTEGER NOT NULL,
    blocked_until INTEGER
  );
  `,
  `
  CREATE TABLE task_claims (
    key TEXT PRIMARY KEY,
    claimed_at INTEGER NOT NULL
  );
  `,
  `
  CREATE TABLE servers (
    id TEXT PRIMARY KEY,
    internal_url TEXT NOT NULL,
    heartbeat_at INTEGER NOT NULL
  );

  CREATE TABLE handoff_owners (
    session_id TEXT PRIMARY KEY,
    server_id TEXT NOT NULL,
    keep_until INTEGER NOT NULL
  );
  CREATE INDEX handoff_owners_keep_until ON handoff_owners (keep_until);
  `,
  `
  CREATE TABLE grant_offers (
    pause_id TEXT PRIMARY KEY,
    offer TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );

  CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    pause_id TEXT NOT NULL UNIQUE,
    agent_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    reach TEXT NOT NULL CHECK (reach IN ('exact', 'tool', 'session')),
    action_hash TEXT,
    constraints TEXT,
    session_id TEXT,
    gate TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked_at INTEGER,
    revoked_by TEXT,
    receipt TEXT NOT NULL
  );
  CREATE INDEX grants_agent_tool ON grants (agent_id, tool, not_after);
  CREATE INDEX grants_created ON grants (created_at);
  `,
  `
  ALTER TABLE task_claims ADD COLUMN keep_until INTEGER NOT NULL DEFAULT 0;
  -- Claims made before keep_until: kept 7 days, the longest a request lives (168 h).
  UPDATE task_claims SET keep_until = claimed_at + 604800000;
  CREATE INDEX task_claims_keep_until ON task_claims (keep_until);

  CREATE TABLE notification_sends (
    recipient TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX notification_sends_recipient ON notification_sends (recipient, at);

  CREATE TABLE notification_held (
    recipient TEXT NOT NULL,
    pause_id TEXT NOT NULL,
    held_at INTEGER NOT NULL,
    PRIMARY KEY (recipient, pause_id)
  );
  CREATE INDEX notification_held_pause ON notification_held (pause_id);
  `,
  `
  ALTER TABLE approvals ADD COLUMN edit_constraints TEXT;
  ALTER TABLE approvals ADD COLUMN edit TEXT;
  `,
];
