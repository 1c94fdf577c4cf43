import { revealAgentText, truncateText, type NotifiableApproval } from '../notifiableApproval.js';
import { escapeSlackMrkdwn, formatUtc, mrkdwn, type SlackMessage } from './slackBlocks.js';

/**
 * Builds the reminder posted as a thread reply under the approval message (chat.postMessage with
 * `thread_ts`): still waiting, how long until it expires. It has no buttons; the buttons stay on
 * the parent message.
 *
 * @param now milliseconds since the epoch, for the "expires in N minutes" text.
 */
export function buildReminderMessage(approval: NotifiableApproval, now: number): SlackMessage {
  const expiresMs = Date.parse(approval.expires_at);
  const minutes = Number.isNaN(expiresMs)
    ? null
    : Math.max(0, Math.ceil((expiresMs - now) / 60_000));
  const when =
    minutes === null
      ? `at ${escapeSlackMrkdwn(approval.expires_at)}`
      : `in ${minutes} minute${minutes === 1 ? '' : 's'} (${escapeSlackMrkdwn(formatUtc(approval.expires_at))})`;
  const text = `:bell: Reminder: still waiting for a decision; this request expires ${when}.`;
  return {
    text: `Reminder: ${escapeSlackMrkdwn(truncateText(revealAgentText(approval.action_description), 300))}`,
    blocks: [{ type: 'section', text: mrkdwn(text) }],
  };
}
