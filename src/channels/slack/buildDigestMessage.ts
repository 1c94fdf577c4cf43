import type { NotificationDigest } from '../notifier.js';
import { SLACK_ACTION_OPEN_INBOX, mrkdwn, plainText, type SlackMessage } from './slackBlocks.js';

/**
 * Builds the one message that stands in for notifications the rate limiter held back:
 * "3 more requests waiting", with a single link button to the inbox (`loopgate_open_inbox`).
 * It deliberately has no Approve button and no "approve all": each request is decided on its own.
 */
export function buildDigestMessage(digest: NotificationDigest): SlackMessage {
  const count = digest.pauseIds.length;
  const line = `${count} more request${count === 1 ? '' : 's'} waiting`;
  return {
    text: line,
    blocks: [
      { type: 'section', text: mrkdwn(`:inbox_tray: *${line}* for a decision in the inbox.`) },
      {
        type: 'actions',
        block_id: 'loopgate_digest',
        elements: [
          {
            type: 'button',
            text: plainText('Open inbox'),
            action_id: SLACK_ACTION_OPEN_INBOX,
            url: digest.inboxUrl,
          },
        ],
      },
    ],
  };
}
