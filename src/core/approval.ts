/**
 * The approval request: domain types and the rules of its state machine (DESIGN.md "Domain").
 * States: `pending → responded (approved | rejected) | timed_out | expired (cancelled)`.
 */

/** Where an approval request is in its life. `expired` means cancelled (LoopPause's word). */
export type ApprovalStatus = 'pending' | 'responded' | 'timed_out' | 'expired';

/** What the human decided. */
export type Decision = 'approved' | 'rejected';

/** Where the human decided. */
export type DecisionChannel = 'web' | 'slack' | 'email';

/** A value the human must fill in when deciding. */
export interface FieldSpec {
  name: string;
  label: string;
  type: 'string' | 'number' | 'boolean';
  required?: boolean;
}

/** The values the human filled in, keyed by {@link FieldSpec.name}. */
export type FieldValues = Record<string, string | number | boolean>;

/** The human's response, as stored. Times are milliseconds since the Unix epoch. */
export interface ApprovalResponse {
  decision: Decision;
  comment: string;
  fields: FieldValues;
  responder: string;
  respondedAt: number;
  channel: DecisionChannel;
  nonce: string;
  /** `sha256=<hex>` HMAC-SHA256 over the LoopPause-shaped response (see crypto/responseHmac). */
  signature: string;
}

/** One approval request as the store keeps it. Times are milliseconds since the Unix epoch. */
export interface ApprovalRecord {
  id: string;
  agentId: string;
  status: ApprovalStatus;
  actionDescription: string;
  actionDetails: Record<string, string>;
  fields: FieldSpec[];
  recipientEmail: string | null;
  recipientSlack: string | null;
  actionHash: string;
  createdAt: number;
  expiresAt: number;
  updatedAt: number;
  response: ApprovalResponse | null;
  /** Compact JWS (EdDSA) over the receipt payload, present once responded. */
  receipt: string | null;
}

/** Limits on request_approval input, shared by the MCP tool, the HTTP API and the docs. */
export const approvalLimits = {
  defaultTimeoutHours: 24,
  maxTimeoutHours: 168,
  maxDescriptionLength: 2_000,
  maxDetails: 50,
  maxDetailKeyLength: 100,
  maxDetailValueLength: 5_000,
  maxFields: 20,
  maxCommentLength: 5_000,
} as const;

/** True when no further transition is possible from `status`. */
export function isFinalStatus(status: ApprovalStatus): boolean {
  return status !== 'pending';
}

/**
 * The status a reader should see at `now`: a pending request past its `expiresAt` reads as
 * `timed_out` even before the sweeper has written that down (e.g. the server was down).
 */
export function effectiveStatus(record: Pick<ApprovalRecord, 'status' | 'expiresAt'>, now: number): ApprovalStatus {
  return record.status === 'pending' && record.expiresAt <= now ? 'timed_out' : record.status;
}
