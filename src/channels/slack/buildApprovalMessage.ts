import {
  formatDetailValue,
  labelOfField,
  truncateText,
  type NotifiableApproval,
} from '../notifiableApproval.js';
import {
  SLACK_ACTION_APPROVE,
  SLACK_ACTION_OPEN_PAGE,
  SLACK_ACTION_REJECT,
  SLACK_DECISION_BLOCK_ID,
  escapeSlackMrkdwn,
  formatUtc,
  mrkdwn,
  plainText,
  type SlackBlock,
  type SlackMessage,
  type SlackText,
} from './slackBlocks.js';

/** Options for {@link buildApprovalMessage}. */
export interface ApprovalMessageOptions {
  /**
   * True when the request's gate needs more than a click (`totp`, `webauthn`, `quorum`): the
   * message then carries one link button to the approval page instead of Approve / Reject.
   */
  gateNeedsPage: boolean;
}

// Block Kit limits (https://api.slack.com/reference/block-kit/blocks): header text 150 chars,
// section field 2000, section text 3000, 10 fields per section, 50 blocks per message.
const HEADER_MAX = 150;
const FIELD_MAX = 2000;
const FIELDS_PER_SECTION = 10;
const DETAIL_SECTIONS_MAX = 4;

/**
 * Builds the Block Kit message that asks for a decision: the action (header), expiry, its
 * details (section fields), the requested fields, and then either **Approve** / **Reject**
 * buttons (`action_id` `loopgate_approve` / `loopgate_reject`, `value` = pause_id) or, when
 * `gateNeedsPage` is set or a field is required (Slack buttons cannot collect field values), a
 * single **Open approval page** link button (`loopgate_open_page`, `url` = approval_url).
 *
 * All agent-supplied text is escaped (`&`, `<`, `>`) and sent `verbatim`, so it cannot mention
 * `@channel`, a user, or disguise a link. A button click decides nothing by itself: the
 * interactivity endpoint verifies Slack's signature and that the clicker is an operator.
 *
 * @returns `{text, blocks}` for chat.postMessage (`text` is the notification fallback).
 */
export function buildApprovalMessage(
  approval: NotifiableApproval,
  options: ApprovalMessageOptions,
): SlackMessage {
  const description = approval.action_description;
  const blocks: SlackBlock[] = [
    { type: 'header', text: plainText(truncateText(description, HEADER_MAX)) },
    {
      type: 'section',
      text: mrkdwn(
        `*Approval requested* · expires ${escapeSlackMrkdwn(formatUtc(approval.expires_at))}` +
          (Array.from(description).length > HEADER_MAX
            ? `\n${escapeSlackMrkdwn(truncateText(description, 2900))}`
            : ''),
      ),
    },
  ];

  blocks.push(...buildDetailSections(approval.action_details));

  const requiredFields = approval.fields.filter((f) => f.required === true);
  if (approval.fields.length > 0) {
    const list = approval.fields
      .map((f) => escapeSlackMrkdwn(labelOfField(f)) + (f.required === true ? ' (required)' : ''))
      .join(', ');
    blocks.push({
      type: 'context',
      elements: [mrkdwn(truncateText(`Fields requested: ${list}`, FIELD_MAX))],
    });
  }

  const needsPage = options.gateNeedsPage || requiredFields.length > 0;
  if (needsPage) {
    const why = options.gateNeedsPage
      ? 'This request needs a second factor (TOTP, passkey or quorum): decide on the approval page.'
      : 'This request asks for fields: fill them in on the approval page.';
    blocks.push({ type: 'context', elements: [mrkdwn(why)] });
    blocks.push({
      type: 'actions',
      block_id: SLACK_DECISION_BLOCK_ID,
      elements: [
        {
          type: 'button',
          text: plainText('Open approval page'),
          action_id: SLACK_ACTION_OPEN_PAGE,
          value: approval.pause_id,
          url: approval.approval_url,
          style: 'primary',
        },
      ],
    });
  } else {
    blocks.push({
      type: 'actions',
      block_id: SLACK_DECISION_BLOCK_ID,
      elements: [
        {
          type: 'button',
          text: plainText('Approve'),
          action_id: SLACK_ACTION_APPROVE,
          value: approval.pause_id,
          style: 'primary',
        },
        {
          type: 'button',
          text: plainText('Reject'),
          action_id: SLACK_ACTION_REJECT,
          value: approval.pause_id,
          style: 'danger',
        },
      ],
    });
  }

  return {
    text: `Approval requested: ${escapeSlackMrkdwn(truncateText(description, 300))}`,
    blocks,
  };
}

/** Details as section fields, `*key*` over the value, at most 40 shown. */
export function buildDetailSections(details: Readonly<Record<string, unknown>>): SlackBlock[] {
  const entries = Object.entries(details);
  const shown = entries.slice(0, FIELDS_PER_SECTION * DETAIL_SECTIONS_MAX);
  const blocks: SlackBlock[] = [];
  for (let i = 0; i < shown.length; i += FIELDS_PER_SECTION) {
    const fields: SlackText[] = shown
      .slice(i, i + FIELDS_PER_SECTION)
      .map(([key, value]) =>
        mrkdwn(
          truncateText(
            `*${escapeSlackMrkdwn(key)}*\n${escapeSlackMrkdwn(formatDetailValue(value))}`,
            FIELD_MAX,
          ),
        ),
      );
    blocks.push({ type: 'section', fields });
  }
  if (entries.length > shown.length) {
    blocks.push({
      type: 'context',
      elements: [mrkdwn(`${entries.length - shown.length} more details on the approval page.`)],
    });
  }
  return blocks;
}
