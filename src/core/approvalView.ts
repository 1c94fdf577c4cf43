import type { ApprovalRecord, ApprovalStatus, FieldSpec, FieldValues } from './approval.js';
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
  action_details: Record<string, string>;
  fields: FieldSpec[];
  recipient_email: string | null;
  recipient_slack: string | null;
  created_at: string;
  expires_at: string;
  action_hash: string;
  approval_url: string;
  response?: {
    decision: 'approved' | 'rejected';
    comment: string;
    fields: FieldValues;
    responder: string;
    responded_at: string;
    channel: 'web' | 'slack' | 'email';
    nonce: string;
    signature: string;
  };
  receipt?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The view of `record` as seen at `now` (a request past its expiry reads `timed_out`). */
export function toApprovalView(record: ApprovalRecord, publicUrl: string, now: number): ApprovalView {
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
  };
  if (record.response) {
    const r = record.response;
    view.response = {
      decision: r.decision,
      comment: r.comment,
      fields: r.fields,
      responder: r.responder,
      responded_at: iso(r.respondedAt),
      channel: r.channel,
      nonce: r.nonce,
      signature: r.signature,
    };
  }
  if (record.receipt) view.receipt = record.receipt;
  return view;
}
