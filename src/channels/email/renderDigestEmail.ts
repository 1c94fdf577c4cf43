import type { NotificationDigest } from '../notifier.js';
import { escapeHtml } from './escapeHtml.js';
import { assertHttpUrl, type RenderedEmail } from './renderApprovalEmail.js';

/**
 * Renders the one mail that stands in for notifications the rate limiter held back:
 * "3 more requests waiting", with a link to the inbox. It has no confirm link and no "approve
 * all": each request is decided on its own page.
 *
 * @throws LoopgateError `E_EMAIL_LINK_INVALID` when `inboxUrl` is not an absolute http(s) URL.
 */
export function renderDigestEmail(digest: NotificationDigest): RenderedEmail {
  const inbox = assertHttpUrl(digest.inboxUrl);
  const count = digest.pauseIds.length;
  const line = `${count} more request${count === 1 ? '' : 's'} waiting`;
  return {
    subject: `${line} for your decision`,
    text: `${line} for your decision.\n\nOpen the inbox to review them one by one:\n${inbox}\n`,
    html:
      '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>' +
      '<body style="font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:640px;margin:0 auto;padding:16px">' +
      `<p><strong>${escapeHtml(line)}</strong> for your decision.</p>` +
      `<p><a href="${escapeHtml(inbox)}">Open the inbox</a> to review them one by one.</p>` +
      '</body></html>\n',
  };
}
