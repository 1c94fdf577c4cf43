import { revealAgentText, truncateText, type NotifiableApproval } from '../notifiableApproval.js';
import { buildDetailSections } from './buildApprovalMessage.js';
import {
  escapeSlackMrkdwn,
  formatUtc,
  mrkdwn,
  plainText,
  type SlackBlock,
  type SlackMessage,
} from './slackBlocks.js';

/** Options for {@link buildDecidedMessage}. */
export interface DecidedMessageOptions {
  /** Slack user id (`U…`/`W…`) of the person who decided, to mention them; optional. */
  decidedBySlackUserId?: string;
}

const SLACK_USER_ID = /^[UW][A-Z0-9]{2,}$/;

/**
 * Builds the message that replaces the approval message (chat.update) once the request is over:
 * the action, the outcome (**Approved** / **Rejected** by whom, where and when, with the comment;
 * or timed out / cancelled, nothing decided), the details, and no buttons, so nothing is left to
 * click.
 *
 * @returns `{text, blocks}` for chat.update.
 */
export function buildDecidedMessage(
  approval: NotifiableApproval,
  options: DecidedMessageOptions = {},
): SlackMessage {
  const outcome = describeOutcome(approval, options);
  const blocks: SlackBlock[] = [
    {
      type: 'header',
      text: plainText(truncateText(revealAgentText(approval.action_description), 150)),
    },
    { type: 'section', text: mrkdwn(outcome.mrkdwn) },
  ];
  const comment = approval.response?.comment;
  if (approval.status === 'responded' && comment) {
    blocks.push({
      type: 'context',
      elements: [
        mrkdwn(`Comment: ${escapeSlackMrkdwn(truncateText(revealAgentText(comment), 2000))}`),
      ],
    });
  }
  blocks.push(...buildDetailSections(approval.action_details));
  return {
    text: `${outcome.plain}: ${escapeSlackMrkdwn(truncateText(revealAgentText(approval.action_description), 300))}`,
    blocks,
  };
}

function describeOutcome(
  approval: NotifiableApproval,
  options: DecidedMessageOptions,
): { mrkdwn: string; plain: string } {
  const response = approval.response;
  if (approval.status === 'responded' && response) {
    const approved = response.decision === 'approved';
    const who =
      options.decidedBySlackUserId !== undefined && SLACK_USER_ID.test(options.decidedBySlackUserId)
        ? `<@${options.decidedBySlackUserId}> (${escapeSlackMrkdwn(response.responder)})`
        : escapeSlackMrkdwn(response.responder);
    const label = approved ? 'Approved' : 'Rejected';
    return {
      mrkdwn:
        `${approved ? ':white_check_mark:' : ':x:'} *${label}* by ${who}` +
        ` via ${response.channel} at ${escapeSlackMrkdwn(formatUtc(response.responded_at))}`,
      plain: label,
    };
  }
  if (approval.status === 'timed_out') {
    return { mrkdwn: ':hourglass: *Timed out*: nothing was decided.', plain: 'Timed out' };
  }
  if (approval.status === 'expired') {
    return {
      mrkdwn: ':no_entry_sign: *Cancelled or expired*: nothing was decided.',
      plain: 'Expired',
    };
  }
  return { mrkdwn: '*Still waiting* for a decision.', plain: 'Waiting' };
}
