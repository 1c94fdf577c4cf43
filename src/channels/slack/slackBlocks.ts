/**
 * The Block Kit subset loopgate posts (https://api.slack.com/reference/block-kit/blocks), and the
 * escaping every piece of untrusted text goes through.
 */

/** A Block Kit text object. `verbatim: true` stops Slack from turning text into links/mentions. */
export type SlackText =
  | { type: 'plain_text'; text: string; emoji?: boolean }
  | { type: 'mrkdwn'; text: string; verbatim?: boolean };

/** A Block Kit button element. */
export interface SlackButton {
  type: 'button';
  text: { type: 'plain_text'; text: string; emoji?: boolean };
  action_id: string;
  value?: string;
  url?: string;
  style?: 'primary' | 'danger';
}

/** The blocks loopgate uses. */
export type SlackBlock =
  | { type: 'header'; text: { type: 'plain_text'; text: string; emoji?: boolean } }
  | { type: 'section'; block_id?: string; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] }
  | { type: 'actions'; block_id: string; elements: SlackButton[] }
  | { type: 'divider' };

/** A message body for chat.postMessage / chat.update: `text` is the notification fallback. */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** `action_id` of the Approve button. */
export const SLACK_ACTION_APPROVE = 'loopgate_approve';
/** `action_id` of the Reject button. */
export const SLACK_ACTION_REJECT = 'loopgate_reject';
/** `action_id` of the link button that opens the approval page (gates that need a step-up). */
export const SLACK_ACTION_OPEN_PAGE = 'loopgate_open_page';
/** `action_id` of the link button in a digest that opens the inbox. */
export const SLACK_ACTION_OPEN_INBOX = 'loopgate_open_inbox';
/** `block_id` of the actions block on an approval message. */
export const SLACK_DECISION_BLOCK_ID = 'loopgate_decision';

/**
 * Escapes text for a `mrkdwn` object: Slack's three control characters `&`, `<`, `>` become
 * entities, so `<!channel>`, `<@U…>` or `<https://x|label>` written by an agent stay literal
 * (https://api.slack.com/reference/surfaces/formatting#escaping).
 */
export function escapeSlackMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A `mrkdwn` text object for untrusted text: escaped, `verbatim` (no auto-linking). */
export function mrkdwn(text: string): SlackText {
  return { type: 'mrkdwn', text, verbatim: true };
}

/** A `plain_text` object; Slack renders it as is, without mentions or links. */
export function plainText(text: string): { type: 'plain_text'; text: string; emoji: boolean } {
  return { type: 'plain_text', text, emoji: false };
}

/** Formats an ISO time as `2026-11-21 10:00 UTC`; returns the input when it is not a date. */
export function formatUtc(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}
