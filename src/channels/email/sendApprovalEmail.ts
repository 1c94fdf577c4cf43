import type { NotifiableApproval } from '../notifiableApproval.js';
import type { EmailSender } from './createEmailSender.js';
import { renderApprovalEmail } from './renderApprovalEmail.js';

/** Input of {@link sendApprovalEmail}. */
export interface SendApprovalEmailInput {
  /** One plain address (`recipient_email`). */
  to: string;
  approval: NotifiableApproval;
  /** Absolute URL of the confirm page with the single-use token (see `createConfirmToken`). */
  confirmUrl: string;
  /** Send as a reminder ("Reminder: approval needed: …"). */
  reminder?: boolean;
}

/**
 * Renders ({@link renderApprovalEmail}) and sends the approval mail.
 * @returns the Message-ID.
 * @throws LoopgateError `E_EMAIL_LINK_INVALID`, `E_EMAIL_ADDRESS_INVALID`, `E_EMAIL_SEND_FAILED`.
 */
export async function sendApprovalEmail(
  sender: EmailSender,
  input: SendApprovalEmailInput,
): Promise<{ messageId: string }> {
  const rendered = renderApprovalEmail(input.approval, input.confirmUrl, {
    reminder: input.reminder === true,
  });
  return sender.send({ to: input.to, ...rendered });
}
