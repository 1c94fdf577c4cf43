import { revealDetailValueAsString, revealTextAsString } from '../core/revealText.js';

/**
 * The part of an approval request the notification channels read. It is a structural subset of
 * the approval view in docs/api.md ("Approval view"), so a view can be passed as is.
 */
export interface NotifiableApproval {
  /** `pa_…`, the request's id; the value of every Slack button and webhook event. */
  pause_id: string;
  /** One line from the agent, e.g. `Send $420 to ACME Corp`. Untrusted text: always escaped. */
  action_description: string;
  /** Free-form details from the agent. Untrusted: always escaped when rendered. */
  action_details: Readonly<Record<string, unknown>>;
  /** Fields the human is asked to fill in on approval. */
  fields: readonly ApprovalFieldSpec[];
  /** ISO 8601 UTC time after which nothing can be decided. */
  expires_at: string;
  /** Absolute URL of the approval page (`/approvals/:id`). */
  approval_url: string;
  /** Request state; anything but `pending` means the request is over. */
  status: 'pending' | 'responded' | 'timed_out' | 'expired';
  /** Present when `status` is `responded`. */
  response?: NotifiableResponse | null;
}

/** A field the human is asked for (docs/api.md, `fields[]`). */
export interface ApprovalFieldSpec {
  name: string;
  label?: string;
  type?: string;
  required?: boolean;
}

/** The decision part of the approval view's `response` that notifications show. */
export interface NotifiableResponse {
  decision: 'approved' | 'rejected';
  comment?: string | null;
  /** Operator name. */
  responder: string;
  /** ISO 8601 UTC. */
  responded_at: string;
  /** Where the decision was made. */
  channel: 'web' | 'slack' | 'email';
}

/**
 * Renders one `action_details` value as a single display string, in full and with every hidden
 * character shown as a marker (core/revealText): strings revealed, numbers and booleans as sent
 * (`12450`, `true`), objects and arrays as indented JSON. The result is still untrusted text;
 * callers escape it for their medium.
 */
export function formatDetailValue(value: unknown): string {
  return revealDetailValueAsString(value);
}

/** Agent text (a description, a key, a label) with every hidden character shown as a marker. */
export function revealAgentText(text: string): string {
  return revealTextAsString(text);
}

/** Cuts `text` to at most `max` characters (code points), ending in `…` when cut. */
export function truncateText(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(0, max - 1)).join('') + '…';
}

/** The label a field is shown with: its `label`, else its `name`, hidden characters revealed. */
export function labelOfField(field: ApprovalFieldSpec): string {
  return revealAgentText(field.label && field.label.trim() !== '' ? field.label : field.name);
}
