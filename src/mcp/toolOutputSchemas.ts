import { z } from 'zod';

/*
 * The `outputSchema` of every loopgate tool that returns `structuredContent` (MCP 2025-11-25
 * §Tools, "Output Schema"). Each describes the whole result — success and `isError` alike — with
 * every property described, so a client that validates strictly accepts every answer. Built
 * once: the streamable-HTTP endpoint builds a server per request.
 */

const iso = (what: string) => z.string().describe(`${what} (ISO 8601, UTC).`);
// Unions and nullables spell each branch out (`anyOf` of single-type, described branches)
// rather than a `type` array, which clients that map schemas onto a one-type dialect reject.
const detailValue = z
  .union([
    z.string().describe('A text value.'),
    z.number().describe('A number.'),
    z.boolean().describe('A yes/no value.'),
  ])
  .describe('A detail or field value: text, a number or yes/no.');
/** A string, or null (meaning `nullMeans`). */
const stringOrNull = (description: string, nullMeans: string) =>
  z.union([z.string().describe(description), z.null().describe(nullMeans)]);
/** Any JSON value as sent (e.g. a gated call's arguments), spelled out recursively. */
export const jsonValue = z.json().describe('A value as sent: any JSON.');

const gateType = z
  .enum(['approve', 'totp', 'webauthn', 'quorum'])
  .describe(
    'What a human must show to decide: approve (a click), totp (plus an authenticator code), webauthn (plus a passkey), quorum (several approvers).',
  );

/** The gate of an approval view (`gate`). */
const gateView = z
  .object({
    type: gateType,
    quorum: z
      .object({
        n: z.number().describe('How many approvers must approve.'),
        approvers: z.array(z.string()).describe('Who may approve (operator names).'),
        step_up: z
          .enum(['none', 'totp', 'webauthn'])
          .describe('The second factor each approver must show.'),
      })
      .optional()
      .describe('The quorum, for gate type quorum.'),
  })
  .describe('What a human must show before a decision counts.');

/** The human's response inside an approval view. */
const responseView = z
  .object({
    pause_id: z.string().describe('Repeats the request’s pause_id inside the HMAC’d response.'),
    action_hash: z
      .string()
      .describe('Repeats the request’s action_hash inside the HMAC’d response.'),
    decision: z.enum(['approved', 'rejected']).describe('What the human decided.'),
    comment: z.string().describe('What the human wrote, or "".'),
    fields: z
      .record(z.string(), detailValue)
      .describe('The values the human filled in, keyed by field name.'),
    responder: z.string().describe('The operator who decided.'),
    responded_at: iso('When the human decided'),
    channel: z.enum(['web', 'slack', 'email']).describe('Where the human decided.'),
    nonce: z.string().describe('A random value that makes each response unique.'),
    signature: z
      .string()
      .describe('"sha256=<hex>": HMAC-SHA256 of the response with the shared signing secret.'),
    approvers: z
      .array(z.string())
      .optional()
      .describe('Every operator whose approval counted (quorum only).'),
  })
  .describe('The human’s decision; present once status is "responded".');

/**
 * An approval request as `check_approval`, `wait_for_approval` and `cancel_approval` return it
 * (docs/api.md "Approval view").
 */
export const approvalViewOutputSchema = z.object({
  pause_id: z.string().describe('The request’s id.'),
  agent_id: z.string().describe('The agent that asked.'),
  status: z
    .enum(['pending', 'responded', 'timed_out', 'expired'])
    .describe(
      'pending (no decision yet), responded (see response), timed_out (no decision in time) or expired (cancelled).',
    ),
  action_description: z.string().describe('What the human was asked to approve.'),
  action_details: z
    .record(z.string(), jsonValue)
    .describe('The details as sent (for a gated call: the tool’s arguments).'),
  fields: z
    .array(
      z.object({
        name: z.string().describe('Key the value comes back under in response.fields.'),
        label: z.string().describe('What the human sees next to the input.'),
        type: z.enum(['string', 'number', 'boolean']).describe('Input type.'),
        required: z.boolean().optional().describe('Whether the human must fill it in.'),
      }),
    )
    .describe('Values the human is asked to fill in.'),
  recipient_email: stringOrNull('Who was emailed.', 'Nobody was emailed.').describe(
    'Who was emailed, or null.',
  ),
  recipient_slack: stringOrNull(
    'Which Slack channel or user.',
    'Nobody was asked on Slack.',
  ).describe('Which Slack channel or user, or null.'),
  created_at: iso('When the request was made'),
  expires_at: iso('When it times out if no human decides'),
  action_hash: z
    .string()
    .describe('SHA-256 of the canonical action: the decision is for exactly this action.'),
  approval_url: z.string().describe('The page where a signed-in human decides.'),
  gate: gateView,
  tool: stringOrNull('The gated tool.', 'Not asked by loopgate proxy.').describe(
    'The gated tool, when loopgate proxy asked; else null.',
  ),
  consumed_at: stringOrNull(
    'When loopgate proxy forwarded the approved call (ISO 8601).',
    'Not forwarded (yet).',
  ).describe('When loopgate proxy forwarded the approved call (ISO 8601), or null.'),
  votes: z
    .array(
      z.object({
        operator: z.string().describe('Who voted.'),
        decision: z.enum(['approved', 'rejected']).describe('How they voted.'),
        at: iso('When they voted'),
      }),
    )
    .describe('Quorum progress: who has voted so far.'),
  response: responseView.optional(),
  receipt: z
    .string()
    .optional()
    .describe('The signed decision, a compact JWS (EdDSA); check it with verify_receipt.'),
  editable: z
    .boolean()
    .optional()
    .describe('Whether a human may still edit the gated call’s arguments before approving.'),
  input_schema: z
    .record(z.string(), jsonValue)
    .optional()
    .describe('The wrapped tool’s input schema, for edits (editable requests only).'),
  edit: z
    .object({
      original_action_hash: z.string().describe('The action hash of the call as asked.'),
      original_arguments: z.record(z.string(), jsonValue).describe('The arguments as asked.'),
      changes: z
        .array(
          z.object({
            path: z.string().describe('The changed argument (dots for nested keys).'),
            from: jsonValue.optional().describe('Its value as asked (absent: not given).'),
            to: jsonValue.optional().describe('Its value as approved (absent: removed).'),
          }),
        )
        .describe('What the human changed.'),
    })
    .optional()
    .describe(
      'Present when the human approved edited arguments: action_details and action_hash are then the edited call’s, which is what runs.',
    ),
});

/** What `request_approval` returns. */
export const requestApprovalOutputSchema = z.object({
  pause_id: z.string().describe('The request’s id: pass it to wait_for_approval.'),
  status: z
    .enum(['pending', 'responded', 'timed_out', 'expired'])
    .describe(
      '"pending" when the request is made. On a 2026-07-28 retry (input-required), where it stands now: check_approval or wait_for_approval give the decision and its receipt.',
    ),
  expires_at: iso('When the request times out if no human decides'),
  approval_url: z.string().describe('The page where a signed-in human decides.'),
  action_hash: z
    .string()
    .describe('SHA-256 of the canonical action: the decision is for exactly this action.'),
  next_step: z.string().describe('What to call next.'),
  elicitation: z
    .enum(['accept', 'decline', 'cancel', 'failed'])
    .optional()
    .describe(
      'When the client supports URL elicitation: what the user answered when asked to open approval_url.',
    ),
});

/** What `verify_receipt` returns, valid or not. */
export const verifyReceiptOutputSchema = z.object({
  valid: z.boolean().describe('Whether the receipt was signed by this loopgate server.'),
  code: z.string().optional().describe('Why it is invalid (an E_RECEIPT_* code).'),
  reason: z.string().optional().describe('Why it is invalid, in words.'),
  kid: z.string().optional().describe('The id of the key that signed it.'),
  hmac_checked: z
    .boolean()
    .optional()
    .describe('Whether the sha256= HMAC was checked too (needs the shared signing secret).'),
  pause_id: z.string().optional().describe('The request the receipt decides.'),
  action_hash: z.string().optional().describe('The action the receipt decides.'),
  decision: z.enum(['approved', 'rejected']).optional().describe('What the human decided.'),
  comment: z.string().optional().describe('What the human wrote.'),
  fields: z.record(z.string(), detailValue).optional().describe('The values the human filled in.'),
  responder: z.string().optional().describe('The operator who decided.'),
  responded_at: z.string().optional().describe('When the human decided (ISO 8601, UTC).'),
  channel: z.enum(['web', 'slack', 'email']).optional().describe('Where the human decided.'),
  nonce: z.string().optional().describe('A random value that makes each receipt unique.'),
  expires_at: z.string().optional().describe('When the request would have timed out.'),
  approvers: z
    .array(z.string())
    .optional()
    .describe('Every operator whose approval counted (quorum only).'),
  gate: z
    .object({
      type: gateType,
      quorum: z
        .object({
          n: z.number().describe('How many approvers had to approve.'),
          approvers: z.array(z.string()).describe('Who could approve.'),
          stepUp: z
            .enum(['none', 'totp', 'webauthn'])
            .describe('The second factor each approver had to show.'),
        })
        .optional()
        .describe('The quorum, for gate type quorum.'),
    })
    .optional()
    .describe('The gate the decision was made under.'),
});

const handoffStatus = z
  .enum(['pending', 'active', 'resolved', 'cancelled', 'timeout', 'error'])
  .describe(
    'pending (no viewer yet), active (a human is viewing), resolved (Done pressed), cancelled, timeout or error.',
  );

/** What `browser_handoff` returns. */
export const browserHandoffOutputSchema = z.object({
  session_id: z.string().describe('The session’s id: pass it to wait_for_handoff.'),
  session_url: z
    .string()
    .describe('The live, end-to-end encrypted view: send it to the user, and no one else.'),
  expires_at: iso('When session_url stops working'),
  status: z.literal('pending').describe('Always "pending": no human has opened it yet.'),
  next_step: z.string().describe('What to do next.'),
});

/** What `wait_for_handoff` and `cancel_handoff` return. */
export const handoffStateOutputSchema = z.object({
  session_id: z.string().describe('The session’s id.'),
  status: handoffStatus,
  viewer_connected: z.boolean().describe('Whether a human is viewing the browser right now.'),
  detail: z.string().optional().describe('Why it was cancelled or failed, when known.'),
  expires_at: iso('When session_url stops working'),
});

/** What `authloop_handoff` returns (AuthLoop-compatible). */
export const authloopHandoffOutputSchema = z.object({
  session_url: z.string().describe('The live view the human used.'),
  status: z
    .enum(['resolved', 'cancelled', 'timeout', 'error'])
    .describe('How the handoff ended: resolved (Done pressed), cancelled, timeout or error.'),
  session_id: z.string().describe('The session’s id.'),
});
