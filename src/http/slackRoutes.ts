import { Hono } from 'hono';
import { describeSlackDisplayGap } from '../channels/slack/buildApprovalMessage.js';
import {
  parseInteractionPayload,
  type SlackInteraction,
} from '../channels/slack/parseInteractionPayload.js';
import type { SlackClient } from '../channels/slack/slackClient.js';
import { verifySlackSignature } from '../channels/slack/verifySlackSignature.js';
import { LoopgateError, isLoopgateError } from '../core/errors.js';
import type { ApprovalService } from '../service/approvalService.js';
import type { Store } from '../store/store.js';
import type { AppEnv } from './appEnv.js';
import { limitBody } from './limitBody.js';

/** What the Slack interactivity endpoint needs. */
export interface SlackRoutesDeps {
  store: Store;
  service: ApprovalService;
  /** Posts the ephemeral refusals (chat.postEphemeral). */
  client: SlackClient;
  /** `LOOPGATE_SLACK_SIGNING_SECRET`. */
  signingSecret: string;
  /** Clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * Runs the work done after Slack has its 200 (the decision, the ephemeral refusals). Default:
   * fire and forget. Tests pass a collector to await it.
   */
  background?: (task: Promise<void>) => void;
}

/** Slack sends a few kilobytes per interaction; anything far larger is not from Slack. */
const maxBodyBytes = 64 * 1024;

/**
 * `POST /v1/slack/actions`, Slack's interactivity endpoint (Request URL of the Slack app):
 *
 * 1. reads the raw body (at most 64 KiB, else 413 `E_HTTP_BODY_TOO_LARGE`) before any parsing and verifies Slack's v0 signature over it, with the
 *    timestamp within ±300 s either way (`E_SLACK_TIMESTAMP_INVALID`, `E_SLACK_SIGNATURE_INVALID`,
 *    401);
 * 2. parses the `block_actions` payload (`E_SLACK_PAYLOAD_INVALID`, 400);
 * 3. records the payload id once: a replay is answered 200 and does nothing;
 * 4. answers 200 at once (Slack wants an answer within 3 s) and, in the background, maps the
 *    clicking Slack user to an operator (`loopgate operators link-slack`) and decides as them
 *    with `channel: "slack"`. An unlinked user, or a decision the gate refuses (a second factor
 *    is needed, already decided, or the request is too long for a Slack message to show in full:
 *    `E_CHANNEL_CANNOT_SHOW`), gets an ephemeral message and nothing is decided. The
 *    message is updated in place by the notification router once the decision is stored.
 */
export function createSlackRoutes(deps: SlackRoutesDeps): Hono<AppEnv> {
  const now = deps.now ?? Date.now;
  const background = deps.background ?? ((task: Promise<void>) => void task);
  const app = new Hono<AppEnv>();

  // Counted as it streams, so a chunked body without Content-Length is refused at 64 KiB too.
  app.post('/slack/actions', limitBody(maxBodyBytes, 'Slack interaction bodies'), async (c) => {
    const rawBody = await c.req.text();
    const verified = verifySlackSignature({
      signingSecret: deps.signingSecret,
      timestamp: c.req.header('x-slack-request-timestamp'),
      signature: c.req.header('x-slack-signature'),
      rawBody,
      now: now(),
    });
    if (!verified.ok) throw new LoopgateError(verified.code, verified.message);
    const parsed = parseInteractionPayload(rawBody);
    if (!parsed.ok) throw new LoopgateError(parsed.code, parsed.message);
    const interaction = parsed.value;
    const log = c.get('log');
    if (!(await deps.store.recordSlackPayload(interaction.payloadId, now()))) {
      log.info({ payload_id: interaction.payloadId }, 'slack payload replayed; ignored');
      return c.body(null, 200);
    }
    if (interaction.action === 'approve' || interaction.action === 'reject') {
      background(
        handleDecision(deps, interaction).catch((err: unknown) => {
          log.warn({ err, pause_id: interaction.pauseId }, 'slack action not handled');
        }),
      );
    }
    return c.body(null, 200);
  });

  return app;
}

async function handleDecision(deps: SlackRoutesDeps, interaction: SlackInteraction): Promise<void> {
  const pauseId = interaction.pauseId!;
  const operator = await deps.store.findOperatorByContact('slack', interaction.userId);
  if (!operator) {
    const refusal = new LoopgateError(
      'E_SLACK_USER_NOT_LINKED',
      `Nothing was decided: your Slack user (${interaction.userId}) is not linked to a loopgate operator. ` +
        `An admin can link it with \`loopgate operators link-slack NAME ${interaction.userId}\`.`,
    );
    // A click by someone who may not decide is worth a trace in the audit log.
    await deps.store.appendAudit(
      {
        type: 'slack.refused',
        requestId: pauseId,
        actor: `slack:${interaction.userId}`,
        data: { code: refusal.code, action: interaction.action },
      },
      (deps.now ?? Date.now)(),
    );
    await tellUser(deps, interaction, refusal.message);
    return;
  }
  if (interaction.action === 'approve') {
    // The message could not show all of it (and so carried no Approve button): a crafted click
    // must not approve what the human did not see.
    const record = await deps.service.getApproval(pauseId).catch(() => null);
    const view = record ? deps.service.view(record) : null;
    const gap = view ? describeSlackDisplayGap(view) : null;
    if (view && gap !== null) {
      const refusal = new LoopgateError(
        'E_CHANNEL_CANNOT_SHOW',
        `Nothing was decided: this request is too long to show in full in Slack (${gap}). Review all of it and decide on ${view.approval_url}.`,
      );
      await deps.store.appendAudit(
        {
          type: 'slack.refused',
          requestId: pauseId,
          actor: `operator:${operator.name}`,
          data: { code: refusal.code, action: interaction.action },
        },
        (deps.now ?? Date.now)(),
      );
      await tellUser(deps, interaction, refusal.message);
      return;
    }
  }
  try {
    await deps.service.decide(pauseId, {
      decision: interaction.action === 'approve' ? 'approved' : 'rejected',
      responder: operator.name,
      operatorId: operator.id,
      channel: 'slack',
    });
  } catch (err) {
    if (!isLoopgateError(err)) throw err;
    const record = await deps.service.getApproval(pauseId).catch(() => null);
    const link = record ? deps.service.view(record).approval_url : null;
    await tellUser(
      deps,
      interaction,
      `Nothing was decided: ${err.message}${link ? ` Open ${link} to decide.` : ''}`,
    );
  }
}

async function tellUser(
  deps: SlackRoutesDeps,
  interaction: SlackInteraction,
  text: string,
): Promise<void> {
  if (!interaction.channelId) return;
  await deps.client.postEphemeral({
    channel: interaction.channelId,
    user: interaction.userId,
    text,
  });
}
