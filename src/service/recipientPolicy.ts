import type { ApprovalInput } from '../core/approvalInput.js';
import { LoopgateError } from '../core/errors.js';
import type { Store } from '../store/store.js';

/** Who an agent may have notified: `recipient_email` and `recipient_slack` of request_approval. */
export interface RecipientPolicy {
  /**
   * Refuses a recipient that is neither a linked operator nor allowed by an admin.
   * @throws LoopgateError E_APPROVAL_RECIPIENT_NOT_ALLOWED
   */
  assertAllowed(input: Pick<ApprovalInput, 'recipient_email' | 'recipient_slack'>): Promise<void>;
}

/** What an admin allowed besides linked operators (`allowedEmailRecipients`, `allowedSlackRecipients`). */
export interface RecipientAllowList {
  /** Addresses (`ops@example.com`) and whole domains (`@example.com`, exact domain only). */
  email: readonly string[];
  /** Slack channel ids (`C…`, `G…`), `#channel` names and user ids (`U…`, `W…`). */
  slack: readonly string[];
}

const emailEntry = /^[^\s@,]*@[a-z0-9.-]+\.[a-z]{2,}$/i;
const slackEntry = /^(#[a-z0-9._-]{1,80}|[UCGW][A-Z0-9]{2,20})$/;

/**
 * The recipient policy of a server: an agent writes every word of the mail or Slack message
 * sent from the organisation's sender, so it may only address the people who decide (operators
 * linked with `loopgate operators link-email` / `link-slack`) or what an admin allowed in the
 * configuration. Checked when a request is made, before anything is stored or sent.
 *
 * @throws LoopgateError E_CONFIG_INVALID for an allow-list entry that is not an address,
 *   `@domain`, Slack id or `#channel`
 */
export function createRecipientPolicy(store: Store, allowed: RecipientAllowList): RecipientPolicy {
  const addresses = new Set<string>();
  const domains = new Set<string>();
  for (const entry of allowed.email) {
    if (!emailEntry.test(entry)) {
      throw new LoopgateError(
        'E_CONFIG_INVALID',
        `LOOPGATE_ALLOWED_EMAIL_RECIPIENTS: "${entry}" is neither an address like ops@example.com nor a domain like @example.com.`,
      );
    }
    const lower = entry.toLowerCase();
    if (lower.startsWith('@')) domains.add(lower.slice(1));
    else addresses.add(lower);
  }
  for (const entry of allowed.slack) {
    if (!slackEntry.test(entry)) {
      throw new LoopgateError(
        'E_CONFIG_INVALID',
        `LOOPGATE_ALLOWED_SLACK_RECIPIENTS: "${entry}" is neither a Slack id like C012ABC nor a #channel name.`,
      );
    }
  }
  const slack = new Set(allowed.slack);

  return {
    async assertAllowed(input) {
      const email = input.recipient_email;
      if (email !== undefined) {
        const lower = email.toLowerCase();
        const domain = lower.slice(lower.lastIndexOf('@') + 1);
        const ok =
          addresses.has(lower) ||
          domains.has(domain) ||
          (await store.findOperatorByContact('email', lower)) !== null;
        if (!ok) {
          throw new LoopgateError(
            'E_APPROVAL_RECIPIENT_NOT_ALLOWED',
            `recipient_email "${email.slice(0, 200)}" is not a linked operator or an address an admin allowed; nothing was created or sent. ` +
              'Leave recipient_email out (the request is in the web inbox), use a linked operator’s address, ' +
              'or ask an admin to run `loopgate operators link-email NAME ADDRESS` or to add it to --allowed-email-recipients.',
          );
        }
      }
      const channel = input.recipient_slack;
      if (channel !== undefined) {
        const ok =
          slack.has(channel) || (await store.findOperatorByContact('slack', channel)) !== null;
        if (!ok) {
          throw new LoopgateError(
            'E_APPROVAL_RECIPIENT_NOT_ALLOWED',
            `recipient_slack "${channel}" is not a linked operator or a channel an admin allowed; nothing was created or sent. ` +
              'Leave recipient_slack out (the request is in the web inbox), use a linked operator’s Slack user id, ' +
              'or ask an admin to run `loopgate operators link-slack NAME U…` or to add it to --allowed-slack-recipients.',
          );
        }
      }
    },
  };
}
