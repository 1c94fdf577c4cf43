import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { hashConfirmToken, parseConfirmToken } from '../channels/email/confirmToken.js';
import { describeEmailDisplayGap } from '../channels/email/renderApprovalEmail.js';
import type { ApprovalRecord } from '../core/approval.js';
import type { ApprovalView } from '../core/approvalView.js';
import { LoopgateError } from '../core/errors.js';
import type { ApprovalService } from '../service/approvalService.js';
import type { Store } from '../store/store.js';
import type { EmailConfirmTokenRecord, OperatorRecord } from '../core/records.js';
import type { AppEnv } from './appEnv.js';
import { readJsonBody } from './readJsonBody.js';

/** What the email confirm endpoints need. */
export interface EmailConfirmRoutesDeps {
  store: Store;
  service: ApprovalService;
  /** Clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

/**
 * What the confirm page may show and do, from `POST /v1/email/confirm/lookup`:
 * - `approve`: Approve and Reject here.
 * - `totp`: Approve needs the Authenticator code here as well.
 * - `page`: decide on the approval page (a passkey, a quorum, fields to fill in, or a request
 *   too long for an email to show in full).
 */
export type ConfirmMode = 'approve' | 'totp' | 'page';

/** The answer of the confirm endpoints. */
export interface ConfirmView {
  approval: Pick<
    ApprovalView,
    | 'pause_id'
    | 'status'
    | 'action_description'
    | 'action_details'
    | 'fields'
    | 'created_at'
    | 'expires_at'
    | 'approval_url'
    | 'gate'
  > & {
    response?: Pick<
      NonNullable<ApprovalView['response']>,
      'decision' | 'responder' | 'responded_at' | 'channel' | 'comment'
    >;
  };
  mode: ConfirmMode;
  /** The operator this link decides as. */
  operator: string;
}

const lookupSchema = z.object({ token: z.string().max(100) }).strict();
const decideSchema = z
  .object({
    token: z.string().max(100),
    decision: z.enum(['approved', 'rejected']),
    comment: z.string().max(5_000).optional(),
    totp_code: z.string().max(20).optional(),
  })
  .strict();

const tokenRefusal =
  'This confirm link is not valid: it was used already, the request expired, or the link is incomplete. Open the request from the inbox instead.';

/**
 * The email confirm flow's API (the page is `/email/confirm?token=…`, served with the other
 * pages). Opening the link decides nothing: GET and HEAD only serve the page, and looking the
 * request up is read-only. Only `POST /v1/email/confirm` with the token decides.
 *
 * - `POST /v1/email/confirm/lookup` `{token}` → {@link ConfirmView}.
 * - `POST /v1/email/confirm` `{token, decision, comment?, totp_code?}` → {@link ConfirmView}
 *   with the outcome; decides with `channel: "email"` as the operator the recipient address is
 *   linked to (`loopgate operators link-email`), then spends the token (single use).
 *
 * An unknown, used or expired token is refused with one code, `E_EMAIL_CONFIRM_TOKEN_INVALID`,
 * so an answer reveals nothing about which it was. An email link alone never satisfies a
 * second factor: `totp` requests need the Authenticator code with the approval, and `webauthn`
 * and `quorum` requests (or requests with fields) are approved on the approval page only
 * (`E_STEP_UP_REQUIRED`), and so is a request too long for an email to show in full
 * (`E_CHANNEL_CANNOT_SHOW`); the token is not spent by a refused attempt.
 */
export function createEmailConfirmRoutes(deps: EmailConfirmRoutesDeps): Hono<AppEnv> {
  const now = deps.now ?? Date.now;
  const app = new Hono<AppEnv>();

  /** The live token and its request, or the one refusal for every way a token can be bad. */
  async function openToken(
    raw: string,
  ): Promise<{ token: EmailConfirmTokenRecord; record: ApprovalRecord; operator: OperatorRecord }> {
    const parsed = parseConfirmToken(raw);
    if (!parsed.ok) throw new LoopgateError(parsed.code, parsed.message);
    const token = await deps.store.findEmailConfirmToken(hashConfirmToken(parsed.value));
    if (!token || token.usedAt !== null || token.expiresAt <= now()) {
      throw new LoopgateError('E_EMAIL_CONFIRM_TOKEN_INVALID', tokenRefusal);
    }
    const record = await deps.service.getApproval(token.pauseId);
    const operator = await deps.store.findOperatorByContact('email', token.recipient.toLowerCase());
    if (!operator) {
      throw new LoopgateError(
        'E_EMAIL_RECIPIENT_NOT_LINKED',
        `${token.recipient} is not linked to a loopgate operator, so this link cannot decide. Sign in and decide on ${deps.service.view(record).approval_url}, or ask an admin to run \`loopgate operators link-email NAME ${token.recipient}\`.`,
      );
    }
    return { token, record, operator };
  }

  function toConfirmView(record: ApprovalRecord, operator: OperatorRecord): ConfirmView {
    const view = deps.service.view(record);
    const gate = record.gate;
    const mode: ConfirmMode =
      gate.type === 'webauthn' ||
      gate.type === 'quorum' ||
      record.fields.length > 0 ||
      describeEmailDisplayGap(view) !== null
        ? 'page'
        : gate.type === 'totp'
          ? 'totp'
          : 'approve';
    return {
      approval: {
        pause_id: view.pause_id,
        status: view.status,
        action_description: view.action_description,
        action_details: view.action_details,
        fields: view.fields,
        created_at: view.created_at,
        expires_at: view.expires_at,
        approval_url: view.approval_url,
        gate: view.gate,
        ...(view.response
          ? {
              response: {
                decision: view.response.decision,
                responder: view.response.responder,
                responded_at: view.response.responded_at,
                channel: view.response.channel,
                comment: view.response.comment,
              },
            }
          : {}),
      },
      mode,
      operator: operator.name,
    };
  }

  app.post('/email/confirm/lookup', async (c) => {
    requireJson(c);
    const body = await readJsonBody(c, lookupSchema, 'E_EMAIL_CONFIRM_TOKEN_INVALID');
    const { record, operator } = await openToken(body.token);
    noStore(c);
    return c.json(toConfirmView(record, operator));
  });

  app.post('/email/confirm', async (c) => {
    requireJson(c);
    const body = await readJsonBody(c, decideSchema, 'E_DECISION_INVALID');
    const { token, record, operator } = await openToken(body.token);
    const mode = toConfirmView(record, operator).mode;
    const gap = describeEmailDisplayGap(deps.service.view(record));
    if (body.decision === 'approved' && gap !== null) {
      // The mail could not show all of it, so its link must not approve it, however it is sent.
      throw new LoopgateError(
        'E_CHANNEL_CANNOT_SHOW',
        `An email link cannot approve this request: ${gap}. Sign in and review all of it on ${deps.service.view(record).approval_url}.`,
      );
    }
    if (body.decision === 'approved' && mode === 'page') {
      throw new LoopgateError(
        'E_STEP_UP_REQUIRED',
        `An email link cannot approve this request (it needs a passkey, more approvers or fields): approve it on ${deps.service.view(record).approval_url}.`,
      );
    }
    const decided = await deps.service.decide(record.id, {
      decision: body.decision,
      ...(body.comment !== undefined ? { comment: body.comment } : {}),
      responder: operator.name,
      operatorId: operator.id,
      channel: 'email',
      stepUp: body.totp_code !== undefined ? { totpCode: body.totp_code } : {},
    });
    // Spent only once a decision is stored, so a wrong authenticator code can be retried; a
    // second decision cannot happen anyway (one decision wins in the store).
    await deps.store.consumeEmailConfirmToken(token.tokenHash, now());
    c.get('log').info(
      { pause_id: record.id, decision: body.decision, responder: operator.name, channel: 'email' },
      'approval decided',
    );
    noStore(c);
    return c.json(toConfirmView(decided, operator));
  });

  return app;
}

/** JSON only: a cross-site HTML form cannot send it without a CORS preflight. */
function requireJson(c: Context<AppEnv>): void {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new LoopgateError(
      'E_HTTP_BODY_INVALID',
      `The body must be JSON with Content-Type: application/json; got "${type}".`,
    );
  }
}

function noStore(c: Context<AppEnv>): void {
  c.header('Cache-Control', 'no-store');
}
