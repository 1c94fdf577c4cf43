import type { NotifiableApproval } from '../notifiableApproval.js';
import type { NotificationDelivery, NotificationDigest, Notifier } from '../notifier.js';
import { createConfirmToken, hashConfirmToken } from './confirmToken.js';
import { isEmailAddress, type EmailSender } from './createEmailSender.js';
import { LoopgateError } from '../../core/errors.js';
import { renderDigestEmail } from './renderDigestEmail.js';
import { sendApprovalEmail } from './sendApprovalEmail.js';

/** A confirm token to remember: only its hash, never the token. */
export interface ConfirmTokenRecord {
  pauseId: string;
  /** The address the link went to. */
  recipient: string;
  /** {@link hashConfirmToken} of the token (lowercase hex SHA-256). */
  tokenHash: string;
  /** ISO 8601 UTC; the token is void after it (the request's `expires_at`). */
  expiresAt: string;
}

/** Options for {@link EmailNotifier}. */
export interface EmailNotifierOptions {
  sender: EmailSender;
  /** Builds the confirm page URL for a token, e.g. `${publicUrl}/email/confirm?token=${token}`. */
  confirmUrlFor: (token: string) => string;
  /**
   * Persists the token hash before the mail goes out, so the link works the moment it arrives.
   * A token is single-use and valid until `expiresAt`: the confirm page's POST consumes it.
   */
  storeConfirmToken: (record: ConfirmTokenRecord) => void | Promise<void>;
}

/**
 * The email {@link Notifier}: mails a link to the confirm page carrying a fresh single-use token
 * (a reminder mails a new one), and digests. `notifyDecided` sends nothing: a mail cannot be
 * edited, and the confirm page shows the outcome. `NotificationDelivery.ref` is the Message-ID.
 *
 * @throws LoopgateError `E_EMAIL_*` from the sender or renderer.
 */
export class EmailNotifier implements Notifier {
  readonly channel = 'email' as const;
  readonly #sender: EmailSender;
  readonly #confirmUrlFor: (token: string) => string;
  readonly #storeConfirmToken: EmailNotifierOptions['storeConfirmToken'];

  constructor(options: EmailNotifierOptions) {
    this.#sender = options.sender;
    this.#confirmUrlFor = options.confirmUrlFor;
    this.#storeConfirmToken = options.storeConfirmToken;
  }

  async notifyCreated(
    approval: NotifiableApproval,
    recipient: string,
  ): Promise<NotificationDelivery> {
    const { messageId } = await this.#mail(approval, recipient, false);
    return { channel: 'email', recipient, ref: messageId };
  }

  async notifyDecided(): Promise<void> {
    // A sent mail cannot change; its confirm page already shows the outcome.
  }

  async notifyReminder(
    approval: NotifiableApproval,
    delivery: NotificationDelivery,
  ): Promise<void> {
    await this.#mail(approval, delivery.recipient, true);
  }

  async notifyDigest(recipient: string, digest: NotificationDigest): Promise<void> {
    await this.#sender.send({ to: recipient, ...renderDigestEmail(digest) });
  }

  async #mail(
    approval: NotifiableApproval,
    recipient: string,
    reminder: boolean,
  ): Promise<{ messageId: string }> {
    if (!isEmailAddress(recipient)) {
      throw new LoopgateError(
        'E_EMAIL_ADDRESS_INVALID',
        `recipient_email must be one plain address like bob@example.com, got ${JSON.stringify(recipient.slice(0, 120))}.`,
      );
    }
    const token = createConfirmToken();
    const confirmUrl = this.#confirmUrlFor(token);
    await this.#storeConfirmToken({
      pauseId: approval.pause_id,
      recipient,
      tokenHash: hashConfirmToken(token),
      expiresAt: approval.expires_at,
    });
    return sendApprovalEmail(this.#sender, { to: recipient, approval, confirmUrl, reminder });
  }
}
