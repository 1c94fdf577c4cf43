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
  return view;
}
