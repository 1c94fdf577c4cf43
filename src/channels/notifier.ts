import type { NotifiableApproval } from './notifiableApproval.js';

export type { NotifiableApproval } from './notifiableApproval.js';

/** The channels that reach a human or a system outside the web inbox. */
export type NotificationChannel = 'slack' | 'email' | 'webhook';

/**
 * What a notifier hands back after `notifyCreated`; store it with the request and pass it to the
 * later calls, which need it to edit or thread onto the first message.
 *
 * - slack: `ref` is `<channel id>:<message ts>` (chat.update and thread replies need both).
 * - email: `ref` is the Message-ID the SMTP server accepted.
 * - webhook: `ref` is the `webhook-id` of the `request.created` event.
 */
export interface NotificationDelivery {
  channel: NotificationChannel;
  /** As given to `notifyCreated`: `#approvals`/`U…`, an email address, or a webhook endpoint id. */
  recipient: string;
  ref: string;
}

/**
 * A digest that stands in for notifications held back by the per-approver limit (5 a minute,
 * counted in the store): "3 more requests waiting". It only points at the inbox; it never
 * carries a decision button.
 */
export interface NotificationDigest {
  /** The pause_ids held back, oldest first (already-decided ones may be filtered out first). */
  pauseIds: readonly string[];
  /** Absolute URL of the web inbox (`/`). */
  inboxUrl: string;
}

/**
 * One notification channel. Implementations: `SlackNotifier` (slack/), `EmailNotifier` (email/),
 * `WebhookNotifier` (webhooks/). A notifier never decides anything: buttons and links lead to an
 * endpoint that checks the clicker is an operator who may decide, and gates that need a second
 * factor always send the human to the approval page.
 *
 * Every method throws `LoopgateError` (`E_SLACK_*`, `E_EMAIL_*`, `E_WEBHOOK_*`) when delivery
 * fails; callers record the failure and keep the request in the web inbox, which always has it.
 */
export interface Notifier {
  readonly channel: NotificationChannel;
  /** Tells `recipient` a request is waiting. */
  notifyCreated(approval: NotifiableApproval, recipient: string): Promise<NotificationDelivery>;
  /**
   * Tells the same place the request is over: decided (`status: responded`, with who decided),
   * timed out, or cancelled. Slack edits the first message in place; webhooks send
   * `request.decided` or `request.expired`; email sends nothing (the confirm page shows it).
   */
  notifyDecided(approval: NotifiableApproval, delivery: NotificationDelivery): Promise<void>;
  /** Reminds before expiry (Slack: a thread reply; email: a short mail; webhook: nothing). */
  notifyReminder(approval: NotifiableApproval, delivery: NotificationDelivery): Promise<void>;
  /** Sends one digest for notifications the rate limiter held back. */
  notifyDigest(recipient: string, digest: NotificationDigest): Promise<void>;
}
