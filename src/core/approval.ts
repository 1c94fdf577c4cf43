import type { ApprovalEdit, EditConstraints } from './approvalEdit.js';
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

/**
 * What a human must show before a decision counts (DESIGN.md "Gate"): `approve` (a signed-in
 * operator clicks), `totp` (plus a fresh authenticator code), `webauthn` (plus a passkey
 * assertion with user verification), `quorum` (n distinct approvers from a list, each with the
 * step-up, if any).
 */
export type DecisionGate = 'approve' | 'totp' | 'webauthn' | 'quorum';

/** The second factor each quorum approver adds. */
export type StepUp = 'none' | 'totp' | 'webauthn';

/** The gate of one request. */
export interface GateSpec {
  type: DecisionGate;
  quorum?: { n: number; approvers: string[]; stepUp: StepUp };
}

/** The gate a plain `request_approval` gets. */
export const approveGate: GateSpec = { type: 'approve' };

/**
 * Whether two gates ask the same of a human: the same type and, for a quorum, the same `n`,
 * step-up and set of approvers (order and repeats aside). A decision made under one gate never
 * counts for a call whose policy names another.
 */
export function isSameGate(a: GateSpec, b: GateSpec): boolean {
  if (a.type !== b.type) return false;
  if (a.type !== 'quorum') return true;
  const qa = a.quorum;
  const qb = b.quorum;
  if (!qa || !qb) return false;
  const setA = [...new Set(qa.approvers)].sort();
  const setB = [...new Set(qb.approvers)].sort();
  return (
    qa.n === qb.n &&
    qa.stepUp === qb.stepUp &&
    setA.length === setB.length &&
    setA.every((name, i) => name === setB[i])
  );
}

/** The step-up a decision under `gate` needs from each approver. */
export function requiredStepUp(gate: GateSpec): StepUp {
  if (gate.type === 'totp') return 'totp';
  if (gate.type === 'webauthn') return 'webauthn';
  if (gate.type === 'quorum') return gate.quorum?.stepUp ?? 'none';
  return 'none';
}

/** One approver's vote on a quorum request. `at` in ms since the epoch. */
export interface QuorumVoteRecord {
  operator: string;
  decision: Decision;
  comment: string;
  at: number;
}

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
  /** The request this response is for; signed with it, so it cannot be moved to another request. */
  pauseId: string;
  /** The action hash the human decided on; signed with the response. */
  actionHash: string;
  decision: Decision;
  comment: string;
  fields: FieldValues;
  responder: string;
  respondedAt: number;
  channel: DecisionChannel;
  nonce: string;
  /** `sha256=<hex>` HMAC-SHA256 over the LoopPause-shaped response (see crypto/responseHmac). */
  signature: string;
  /** Every operator whose approval counted, for quorum requests. */
  approvers?: string[];
}

/** A JSON value, as a gated tool call's arguments hold them. */
export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * What a request's `action_details` hold: strings, numbers and booleans from `request_approval`
 * (LoopPause callers send `amount: 12450`), or a gated call's arguments exactly as the agent
 * sent them (any JSON). Always shown in full.
 */
export type ActionDetails = Record<string, JsonValue>;

/** One approval request as the store keeps it. Times are milliseconds since the Unix epoch. */
export interface ApprovalRecord {
  id: string;
  agentId: string;
  status: ApprovalStatus;
  actionDescription: string;
  actionDetails: ActionDetails;
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
  /** What a human must show to decide. */
  gate: GateSpec;
  /** The gated tool, for requests the gateway made; null for free-form requests. */
  toolName: string | null;
  /** When the gateway used the approval to forward the call (single use), or null. */
  consumedAt: number | null;
  /** Votes so far, for quorum requests. */
  votes: QuorumVoteRecord[];
  /** What the server checks edited arguments against (gated calls only); absent: not editable. */
  editConstraints?: EditConstraints | null;
  /** Set when the human approved edited arguments: what the agent asked for and what changed. */
  edit?: ApprovalEdit | null;
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
export function effectiveStatus(
  record: Pick<ApprovalRecord, 'status' | 'expiresAt'>,
  now: number,
): ApprovalStatus {
  return record.status === 'pending' && record.expiresAt <= now ? 'timed_out' : record.status;
}
