import { z } from 'zod';

/**
 * Where a handoff stands: `pending` (no viewer yet) → `active` (a viewer connected) →
 * `resolved` (the human pressed Done) | `cancelled` (Cancel, or the agent cancelled) |
 * `timeout` (the session URL's lifetime ran out) | `error` (the browser or page went away).
 */
export type HandoffStatus = 'pending' | 'active' | 'resolved' | 'cancelled' | 'timeout' | 'error';

/** The statuses a handoff never leaves. */
export const finalHandoffStatuses: ReadonlySet<HandoffStatus> = new Set([
  'resolved',
  'cancelled',
  'timeout',
  'error',
]);

/** True when `status` is one a handoff never leaves. */
export function isFinalHandoffStatus(status: HandoffStatus): boolean {
  return finalHandoffStatuses.has(status);
}

/** What kind of obstacle the agent hit (AuthLoop's `blocker_type`). */
export const blockerTypes = [
  'otp',
  'password',
  'captcha',
  'security_question',
  'document_upload',
  'other',
] as const;

/** Longest and default lifetime of a session URL and its tokens. */
export const handoffTtlSeconds = { default: 600, min: 5, max: 3_600 } as const;

/**
 * What the agent side tells the relay when it opens a session (`POST /v1/handoff`). Only the
 * service name and blocker type reach the server; the page URL and hint stay on the agent side.
 */
export const handoffCreateSchema = z.strictObject({
  service: z.string().min(1).max(200).describe('What the human is helping with, e.g. "Acme Bank".'),
  blocker_type: z.enum(blockerTypes).optional(),
  ttl_seconds: z
    .number()
    .int()
    .min(handoffTtlSeconds.min)
    .max(handoffTtlSeconds.max)
    .optional()
    .describe(`Lifetime of the session URL in seconds (default ${handoffTtlSeconds.default}).`),
});

/** A validated `POST /v1/handoff` body. */
export type HandoffCreateInput = z.infer<typeof handoffCreateSchema>;

/** How the agent side reports the end it saw (`POST /v1/handoff/:id/end`). */
export const handoffEndSchema = z.strictObject({
  status: z.enum(['resolved', 'cancelled', 'error']),
  detail: z.string().max(500).optional(),
});

/**
 * The one shape every handoff endpoint and tool returns. Times are ISO 8601 UTC strings.
 * `viewer_connected` is true while a viewer's WebSocket is open.
 */
export interface HandoffView {
  session_id: string;
  agent_id: string;
  service: string;
  status: HandoffStatus;
  viewer_connected: boolean;
  detail?: string;
  created_at: string;
  expires_at: string;
  ended_at?: string;
}

/** What `POST /v1/handoff` answers: the view, the viewer URL without its `#k=` fragment, and the agent's socket token. */
export interface CreatedHandoff extends HandoffView {
  /** `<public url>/handoff/<session_id>?t=<viewer token>`; the agent side appends `#k=<secret>`. */
  viewer_url: string;
  /** Bearer token for the agent side's WebSocket (`/v1/handoff/<id>/agent`); valid as long as the session. */
  agent_token: string;
}
