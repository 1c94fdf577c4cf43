import {
  formatDetailValue,
  labelOfField,
  revealAgentText,
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
const DESCRIPTION_MAX = 2900;

/** The mrkdwn text of one detail: `*key*` over the value, both revealed and escaped. */
function detailFieldText(key: string, value: unknown): string {
  return `*${escapeSlackMrkdwn(revealAgentText(key))}*\n${escapeSlackMrkdwn(formatDetailValue(value))}`;
}

/**
 * Why a Slack message cannot show this request in full (Block Kit limits: a section text of
 * 3,000 characters, a section field of 2,000, {@link FIELDS_PER_SECTION} × {@link
 * DETAIL_SECTIONS_MAX} detail fields), or null when it can. Lengths are of the revealed,
 * escaped text that would be sent. Such a request gets no Approve button, and an Approve click
 * for it is refused (`E_CHANNEL_CANNOT_SHOW`), because the human would approve what they did not
 * see.
 */
export function describeSlackDisplayGap(approval: NotifiableApproval): string | null {
  const description = escapeSlackMrkdwn(revealAgentText(approval.action_description));
  if (description.length > DESCRIPTION_MAX) {
    return `its description is ${description.length} characters; a Slack message shows at most ${DESCRIPTION_MAX}`;
  }
  const entries = Object.entries(approval.action_details);
  const maxDetails = FIELDS_PER_SECTION * DETAIL_SECTIONS_MAX;
  if (entries.length > maxDetails) {
    return `it has ${entries.length} details; a Slack message shows at most ${maxDetails}`;
  }
  for (const [key, value] of entries) {
    const length = detailFieldText(key, value).length;
    if (length > FIELD_MAX) {
      return `the detail "${truncateText(revealAgentText(key), 40)}" is ${length} characters; a Slack field shows at most ${FIELD_MAX}`;
    }
  }
  const fieldList = approval.fields.map((f) => escapeSlackMrkdwn(labelOfField(f))).join(', ');
  if (fieldList.length > FIELD_MAX - 100)
    return 'its field labels are longer than a Slack message shows';
  return null;
}

/**
 * Builds the Block Kit message that asks for a decision: the action (header), expiry, its
 * details (section fields), the requested fields, and then either **Approve** / **Reject**
 * buttons (`action_id` `loopgate_approve` / `loopgate_reject`, `value` = pause_id) or, when
 * `gateNeedsPage` is set or a field is required (Slack buttons cannot collect field values), a
 * single **Open approval page** link button (`loopgate_open_page`, `url` = approval_url). A
 * request Slack cannot show in full ({@link describeSlackDisplayGap}) also gets only the link,
 * with the reason.
 *
 * Agent text is revealed first (core/revealText): bidi controls, zero-width and control
 * characters, tabs, line breaks and long runs of spaces show as markers such as
 * `⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩` or `⟨5000 spaces⟩`.
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
  const description = revealAgentText(approval.action_description);
  const gap = describeSlackDisplayGap(approval);
  const blocks: SlackBlock[] = [
    { type: 'header', text: plainText(truncateText(description, HEADER_MAX)) },
    {
      type: 'section',
      text: mrkdwn(
        `*Approval requested* · expires ${escapeSlackMrkdwn(formatUtc(approval.expires_at))}` +
          (Array.from(description).length > HEADER_MAX
            ? `\n${escapeSlackMrkdwn(truncateText(description, DESCRIPTION_MAX))}`
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

  const needsPage = gap !== null || options.gateNeedsPage || requiredFields.length > 0;
  if (needsPage) {
    const why =
      gap !== null
        ? `This request is too long to show in full in Slack (${escapeSlackMrkdwn(gap)}), so it cannot be approved here: review all of it and decide on the approval page.`
        : options.gateNeedsPage
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

/**
 * Details as section fields, `*key*` over the value (hidden characters revealed), at most 40
 * shown; cut ones end in `…` (such a message carries no Approve button, see
 * {@link describeSlackDisplayGap}).
 */
export function buildDetailSections(details: Readonly<Record<string, unknown>>): SlackBlock[] {
  const entries = Object.entries(details);
  const shown = entries.slice(0, FIELDS_PER_SECTION * DETAIL_SECTIONS_MAX);
  const blocks: SlackBlock[] = [];
  for (let i = 0; i < shown.length; i += FIELDS_PER_SECTION) {
    const fields: SlackText[] = shown
      .slice(i, i + FIELDS_PER_SECTION)
      .map(([key, value]) => mrkdwn(truncateText(detailFieldText(key, value), FIELD_MAX)));
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
