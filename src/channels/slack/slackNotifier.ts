import { LoopgateError } from '../../core/errors.js';
import type { NotifiableApproval } from '../notifiableApproval.js';
import type { NotificationDelivery, NotificationDigest, Notifier } from '../notifier.js';
import { buildApprovalMessage } from './buildApprovalMessage.js';
import { buildDecidedMessage } from './buildDecidedMessage.js';
import { buildDigestMessage } from './buildDigestMessage.js';
import { buildReminderMessage } from './buildReminderMessage.js';
import type { SlackClient, SlackMessageRef } from './slackClient.js';

/** Options for {@link SlackNotifier}. */
export interface SlackNotifierOptions {
  client: SlackClient;
  /**
   * True when the request's gate needs a second factor (`totp`, `webauthn`, `quorum`): the
   * message then links to the approval page instead of carrying Approve / Reject buttons.
   */
  gateNeedsPage: (approval: NotifiableApproval) => boolean;
  /** Slack user id linked to an operator name, to mention who decided; optional. */
  slackUserIdOf?: (responder: string) => string | undefined | Promise<string | undefined>;
  /** Clock in ms since the epoch, for reminder texts. Default `Date.now`. */
  now?: () => number;
}

/** `#channel-name`, a channel id (`C…`, `G…`, `D…`) or a user id (`U…`, `W…`). */
const SLACK_RECIPIENT = /^(#[a-z0-9][a-z0-9_.-]{0,79}|[CDGUW][A-Z0-9]{2,40})$/;

/** True when `value` is something chat.postMessage accepts as `channel` from loopgate. */
export function isSlackRecipient(value: string): boolean {
  return SLACK_RECIPIENT.test(value);
}

/**
 * The Slack {@link Notifier}: posts the approval message (chat.postMessage), replaces it with
 * the outcome once the request is over (chat.update), reminds in its thread, and posts digests.
 * `NotificationDelivery.ref` is `<channel id>:<ts>` of the first message.
 *
 * @throws LoopgateError from {@link SlackClient} (`E_SLACK_*`), and `E_APPROVAL_INPUT_INVALID`
 *   when the recipient is not a channel or user id.
 */
export class SlackNotifier implements Notifier {
  readonly channel = 'slack' as const;
  readonly #client: SlackClient;
  readonly #gateNeedsPage: (approval: NotifiableApproval) => boolean;
  readonly #slackUserIdOf: SlackNotifierOptions['slackUserIdOf'];
  readonly #now: () => number;

  constructor(options: SlackNotifierOptions) {
    this.#client = options.client;
    this.#gateNeedsPage = options.gateNeedsPage;
    this.#slackUserIdOf = options.slackUserIdOf;
    this.#now = options.now ?? Date.now;
  }

  async notifyCreated(
    approval: NotifiableApproval,
    recipient: string,
  ): Promise<NotificationDelivery> {
    assertRecipient(recipient);
    const message = buildApprovalMessage(approval, {
      gateNeedsPage: this.#gateNeedsPage(approval),
    });
    const ref = await this.#client.postMessage({ channel: recipient, ...message });
    return { channel: 'slack', recipient, ref: `${ref.channel}:${ref.ts}` };
  }

  async notifyDecided(approval: NotifiableApproval, delivery: NotificationDelivery): Promise<void> {
    const ref = parseSlackRef(delivery);
    const responder = approval.response?.responder;
    const decidedBySlackUserId =
      responder !== undefined && this.#slackUserIdOf !== undefined
        ? await this.#slackUserIdOf(responder)
        : undefined;
    const message = buildDecidedMessage(
      approval,
      decidedBySlackUserId === undefined ? {} : { decidedBySlackUserId },
    );
    await this.#client.update({ channel: ref.channel, ts: ref.ts, ...message });
  }

  async notifyReminder(
    approval: NotifiableApproval,
    delivery: NotificationDelivery,
  ): Promise<void> {
    const ref = parseSlackRef(delivery);
    const message = buildReminderMessage(approval, this.#now());
    await this.#client.postThreadReply({ channel: ref.channel, threadTs: ref.ts, ...message });
  }

  async notifyDigest(recipient: string, digest: NotificationDigest): Promise<void> {
    assertRecipient(recipient);
    await this.#client.postMessage({ channel: recipient, ...buildDigestMessage(digest) });
  }
}

function assertRecipient(recipient: string): void {
  if (!isSlackRecipient(recipient)) {
    throw new LoopgateError(
      'E_APPROVAL_INPUT_INVALID',
      `recipient_slack must be #channel-name, a channel id (C…) or a user id (U…); got ` +
        `${JSON.stringify(recipient.slice(0, 80))}.`,
    );
  }
}

/** Splits a Slack delivery's `ref` (`<channel id>:<ts>`). */
export function parseSlackRef(delivery: NotificationDelivery): SlackMessageRef {
  const at = delivery.ref.indexOf(':');
  if (delivery.channel !== 'slack' || at <= 0 || at === delivery.ref.length - 1) {
    throw new LoopgateError(
      'E_SLACK_API_ERROR',
      `Expected a Slack delivery ref "<channel>:<ts>", got ${JSON.stringify(delivery.ref)}.`,
    );
  }
  return { channel: delivery.ref.slice(0, at), ts: delivery.ref.slice(at + 1) };
}
