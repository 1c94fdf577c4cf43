/**
 * Row shapes shared by the SQL stores (snake_case columns, times as numbers, JSON as text) and
 * their mapping to core's records. Both engines store the same columns, so one mapping serves.
 */
import type {
  ActionDetails,
  ApprovalRecord,
  ApprovalResponse,
  QuorumVoteRecord,
} from '../core/approval.js';
import type { ApprovalEdit, EditConstraints } from '../core/approvalEdit.js';
import type { AuditEntry } from '../core/auditChain.js';
import type {
  AgentKeyRecord,
  NotificationDeliveryRecord,
  SessionRecord,
  SessionSource,
  TotpEnrollmentRecord,
  WebAuthnCredentialRecord,
  WebhookEndpointRecord,
  WebhookMessageRecord,
} from '../core/records.js';

export interface ApprovalRow {
  id: string;
  agent_id: string;
  status: ApprovalRecord['status'];
  action_description: string;
  action_details: string;
  fields: string;
  recipient_email: string | null;
  recipient_slack: string | null;
  action_hash: string;
  created_at: number;
  expires_at: number;
  updated_at: number;
  response: string | null;
  receipt: string | null;
  gate: string;
  tool_name: string | null;
  consumed_at: number | null;
  votes: string;
  /** Absent in rows read before the edit migration's columns existed (never after). */
  edit_constraints?: string | null;
  edit?: string | null;
}

export interface TotpRow {
  operator_id: string;
  secret_encrypted: string;
  enrolled_at: number;
  consecutive_failures: number;
  failures_on_request: number;
  locked_at: number | null;
  last_used_step: number | null;
}

export function toTotp(row: TotpRow): TotpEnrollmentRecord {
  return {
    operatorId: row.operator_id,
    secretEncrypted: row.secret_encrypted,
    enrolledAt: row.enrolled_at,
    state: {
      consecutiveFailures: row.consecutive_failures,
      failuresOnRequest: row.failures_on_request,
      lockedAt: row.locked_at,
      lastUsedStep: row.last_used_step,
    },
  };
}

export interface CredentialRow {
  id: string;
  operator_id: string;
  public_key: Buffer;
  counter: number;
  transports: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
  flagged_at: number | null;
}

export function toCredential(row: CredentialRow): WebAuthnCredentialRecord {
  return {
    id: row.id,
    operatorId: row.operator_id,
    publicKey: new Uint8Array(row.public_key),
    counter: row.counter,
    transports: JSON.parse(row.transports) as string[],
    name: row.name,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    flaggedAt: row.flagged_at,
  };
}

export interface AuditRow {
  seq: number;
  at: number;
  type: string;
  request_id: string | null;
  actor: string;
  data: string;
  prev_hash: string;
  hash: string;
}

export interface AgentKeyRow {
  id: string;
  name: string;
  scope: AgentKeyRecord['scope'];
  key_hash: string;
  prefix: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export function toApproval(row: ApprovalRow): ApprovalRecord {
  return {
    id: row.id,
    agentId: row.agent_id,
    status: row.status,
    actionDescription: row.action_description,
    actionDetails: JSON.parse(row.action_details) as ActionDetails,
    fields: JSON.parse(row.fields) as ApprovalRecord['fields'],
    recipientEmail: row.recipient_email,
    recipientSlack: row.recipient_slack,
    actionHash: row.action_hash,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    updatedAt: row.updated_at,
    response: row.response === null ? null : (JSON.parse(row.response) as ApprovalResponse),
    receipt: row.receipt,
    gate: JSON.parse(row.gate) as ApprovalRecord['gate'],
    toolName: row.tool_name,
    consumedAt: row.consumed_at,
    votes: JSON.parse(row.votes) as QuorumVoteRecord[],
    ...(row.edit_constraints
      ? { editConstraints: JSON.parse(row.edit_constraints) as EditConstraints }
      : {}),
    ...(row.edit ? { edit: JSON.parse(row.edit) as ApprovalEdit } : {}),
  };
}

export function toAudit(row: AuditRow): AuditEntry {
  return {
    seq: row.seq,
    at: row.at,
    type: row.type,
    requestId: row.request_id,
    actor: row.actor,
    data: JSON.parse(row.data) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export interface SessionRow {
  id_hash: string;
  operator_id: string;
  csrf_token: string;
  created_at: number;
  expires_at: number;
  source: SessionSource;
}

export function toSession(row: SessionRow): SessionRecord {
  return {
    idHash: row.id_hash,
    operatorId: row.operator_id,
    csrfToken: row.csrf_token,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    source: row.source,
  };
}

export function toAgentKey(row: AgentKeyRow): AgentKeyRecord {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    keyHash: row.key_hash,
    prefix: row.prefix,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  };
}

export interface WebhookMessageRow {
  msg_id: string;
  endpoint_id: string;
  event_type: string;
  event: string;
  status: WebhookMessageRecord['status'];
  attempts: number;
  first_attempt_at: number;
  next_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  updated_at: number;
}

export function toWebhookMessage(row: WebhookMessageRow): WebhookMessageRecord {
  return {
    msgId: row.msg_id,
    endpointId: row.endpoint_id,
    eventType: row.event_type,
    event: JSON.parse(row.event) as WebhookMessageRecord['event'],
    status: row.status,
    attempts: row.attempts,
    firstAttemptAt: row.first_attempt_at,
    nextAttemptAt: row.next_attempt_at,
    lastStatus: row.last_status,
    lastError: row.last_error,
    updatedAt: row.updated_at,
  };
}

export interface WebhookEndpointRow {
  id: string;
  url: string;
  secret: string;
  events: string;
  created_at: number;
  disabled_at: number | null;
}

export function toWebhookEndpoint(row: WebhookEndpointRow): WebhookEndpointRecord {
  return {
    id: row.id,
    url: row.url,
    secret: row.secret,
    events: JSON.parse(row.events) as string[],
    createdAt: row.created_at,
    disabledAt: row.disabled_at,
  };
}

export interface DeliveryRow {
  id: string;
  pause_id: string;
  channel: NotificationDeliveryRecord['channel'];
  kind: string;
  recipient: string;
  status: NotificationDeliveryRecord['status'];
  ref: string | null;
  error_code: string | null;
  error_message: string | null;
  at: number;
}

export function toDelivery(row: DeliveryRow): NotificationDeliveryRecord {
  return {
    id: row.id,
    pauseId: row.pause_id,
    channel: row.channel,
    kind: row.kind,
    recipient: row.recipient,
    status: row.status,
    ref: row.ref,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    at: row.at,
  };
}

/** Slack payload ids are kept this long; the signature check refuses older requests anyway. */
export const slackPayloadRetentionMs = 3_600_000;

/** How often `lastUsedAt` is rewritten for a busy key: at most once a minute. */
export const lastUsedResolutionMs = 60_000;
