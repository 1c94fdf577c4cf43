import type {
  ActionDetails,
  ApprovalRecord,
  ApprovalStatus,
  FieldSpec,
  FieldValues,
  GateSpec,
} from './approval.js';
import { effectiveStatus } from './approval.js';

/**
 * The public shape of an approval request (docs/api.md "Approval view"): what the HTTP API,
 * the `check_approval` tool and the inbox all return. LoopPause-compatible field names; times
 * are ISO 8601 strings.
 */
export interface ApprovalView {
  pause_id: string;
  agent_id: string;
  status: ApprovalStatus;
  action_description: string;
  /** As sent: strings, numbers, booleans; for gated calls, the arguments (any JSON). */
  action_details: ActionDetails;
  fields: FieldSpec[];
  recipient_email: string | null;
  recipient_slack: string | null;
  created_at: string;
  expires_at: string;
  action_hash: string;
  approval_url: string;
  /** What a human must show to decide: approve, totp, webauthn or quorum (with its n, approvers and step-up). */
  gate: { type: GateSpec['type']; quorum?: { n: number; approvers: string[]; step_up: string } };
  /** The gated tool, when the gateway made this request. */
  tool: string | null;
  /** When the gateway forwarded the approved call (each approval is used once), or null. */
  consumed_at: string | null;
  /** Quorum progress: who has voted so far. */
  votes: { operator: string; decision: 'approved' | 'rejected'; at: string }[];
  response?: {
    /** Repeats the request's `pause_id` inside the HMAC'd response. */
    pause_id: string;
    /** Repeats the request's `action_hash` inside the HMAC'd response. */
    action_hash: string;
    decision: 'approved' | 'rejected';
    comment: string;
    fields: FieldValues;
    responder: string;
    responded_at: string;
    channel: 'web' | 'slack' | 'email';
    nonce: string;
    signature: string;
    approvers?: string[];
  };
  receipt?: string;
  /**
   * True when a human may edit the arguments before approving (a gated call whose gateway sent
   * the tool's input schema and its policy; not a quorum); the schema is `input_schema`.
   */
  editable?: boolean;
  /** The wrapped tool's input schema, on editable requests, for the approval page. */
  input_schema?: Record<string, unknown>;
  /**
   * Present when the human approved edited arguments: `action_hash` and `action_details` are
   * then the edited call's (what the receipt binds and the gateway forwards); this keeps what
   * the agent asked for and each change (`path`, `from`, `to`; a missing side is absent).
   */
  edit?: {
    original_action_hash: string;
    original_arguments: Record<string, unknown>;
    changes: { path: string; from?: unknown; to?: unknown }[];
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The view of `record` as seen at `now` (a request past its expiry reads `timed_out`). */
export function toApprovalView(
  record: ApprovalRecord,
  publicUrl: string,
  now: number,
): ApprovalView {
  const view: ApprovalView = {
    pause_id: record.id,
    agent_id: record.agentId,
    status: effectiveStatus(record, now),
    action_description: record.actionDescription,
    action_details: record.actionDetails,
    fields: record.fields,
    recipient_email: record.recipientEmail,
    recipient_slack: record.recipientSlack,
    created_at: iso(record.createdAt),
    expires_at: iso(record.expiresAt),
    action_hash: record.actionHash,
    approval_url: `${publicUrl.replace(/\/$/, '')}/approvals/${encodeURIComponent(record.id)}`,
    gate: record.gate.quorum
      ? {
          type: record.gate.type,
          quorum: {
            n: record.gate.quorum.n,
            approvers: record.gate.quorum.approvers,
            step_up: record.gate.quorum.stepUp,
          },
        }
      : { type: record.gate.type },
    tool: record.toolName,
    consumed_at: record.consumedAt === null ? null : iso(record.consumedAt),
    votes: record.votes.map((v) => ({ operator: v.operator, decision: v.decision, at: iso(v.at) })),
  };
  if (record.response) {
    const r = record.response;
    view.response = {
      pause_id: r.pauseId,
      action_hash: r.actionHash,
      decision: r.decision,
      comment: r.comment,
      fields: r.fields,
      responder: r.responder,
      responded_at: iso(r.respondedAt),
      channel: r.channel,
      nonce: r.nonce,
      signature: r.signature,
      ...(r.approvers ? { approvers: r.approvers } : {}),
    };
  }
  if (record.receipt) view.receipt = record.receipt;
  if (record.editConstraints && record.toolName && record.gate.type !== 'quorum') {
    view.editable = view.status === 'pending';
    view.input_schema = record.editConstraints.inputSchema;
  }
  if (record.edit) {
    view.edit = {
      original_action_hash: record.edit.originalActionHash,
      original_arguments: record.edit.originalArguments,
      changes: record.edit.changes.map((c) => ({
        path: c.path,
        ...(c.from !== undefined ? { from: c.from } : {}),
        ...(c.to !== undefined ? { to: c.to } : {}),
      })),
    };
  }
  return view;
}
