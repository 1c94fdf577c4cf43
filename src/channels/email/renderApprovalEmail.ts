import { LoopgateError } from '../../core/errors.js';
import { revealDetailValue, revealText, type RevealedPart } from '../../core/revealText.js';
import {
  formatDetailValue,
  labelOfField,
  revealAgentText,
  truncateText,
  type NotifiableApproval,
} from '../notifiableApproval.js';
import { escapeHtml } from './escapeHtml.js';

/** A rendered mail: both parts say the same thing. */
export interface RenderedEmail {
  /** One line, no control characters, at most 150 characters. */
  subject: string;
  text: string;
  html: string;
}

/** Options for {@link renderApprovalEmail}. */
export interface RenderApprovalEmailOptions {
  /** A reminder for a request already mailed: the subject starts with "Reminder:". */
  reminder?: boolean;
}

/** Most details a mail shows. */
const DETAILS_MAX = 50;
/** Longest revealed detail value (characters) a mail shows. */
const VALUE_MAX = 2000;
/** Longest revealed description (characters) a mail shows. */
const DESCRIPTION_MAX = 2000;
/** Most revealed agent text (description, keys, values; characters) one mail carries. */
const AGENT_TEXT_MAX = 20_000;

/**
 * Why an email cannot show this request in full (at most 50 details, 2,000 characters per
 * revealed value or description, 20,000 characters of agent text in all), or null when it can.
 * Such a mail carries no confirm link, only the approval page (sign-in needed), and the confirm
 * endpoint refuses to approve it (`E_CHANNEL_CANNOT_SHOW`): the human would approve what they
 * did not see.
 */
export function describeEmailDisplayGap(approval: NotifiableApproval): string | null {
  const description = revealAgentText(approval.action_description);
  if (description.length > DESCRIPTION_MAX) {
    return `its description is ${description.length} characters; an email shows at most ${DESCRIPTION_MAX}`;
  }
  const entries = Object.entries(approval.action_details);
  if (entries.length > DETAILS_MAX)
    return `it has ${entries.length} details; an email shows at most ${DETAILS_MAX}`;
  let total = description.length;
  for (const [key, value] of entries) {
    const shown = formatDetailValue(value);
    if (shown.length > VALUE_MAX) {
      return `the detail "${truncateText(revealAgentText(key), 40)}" is ${shown.length} characters; an email shows at most ${VALUE_MAX}`;
    }
    total += revealAgentText(key).length + shown.length;
  }
  if (total > AGENT_TEXT_MAX)
    return `it is ${total} characters long; an email shows at most ${AGENT_TEXT_MAX}`;
  return null;
}

/** Revealed parts as HTML for a `white-space:pre-wrap` cell: markers highlighted. */
function partsToHtml(parts: readonly RevealedPart[]): string {
  return parts
    .map((part) => {
      if (part.kind === 'text') return escapeHtml(part.text);
      if (part.kind === 'indent') return ' '.repeat(part.width);
      if (part.kind === 'break') return '<br>';
      return `<span style="background:#fff3cd;color:#664d03;font-family:monospace;font-weight:700">${escapeHtml(part.text)}</span>`;
    })
    .join('');
}

/**
 * Renders the approval mail: subject, plain text and HTML with the action, its details (a table),
 * the requested fields, the expiry, and the link to the confirm page. Opening the link decides
 * nothing; the page asks for **Approve** or **Reject** (and for a step-up when the gate needs
 * one), and the mail says so.
 *
 * Every piece of agent text is revealed first (core/revealText: hidden characters, tabs, line
 * breaks and long runs of spaces become markers), HTML-escaped in the HTML part and stripped of
 * control characters in the subject (no header injection; nodemailer encodes non-ASCII per
 * RFC 2047). A request the mail cannot show in full ({@link describeEmailDisplayGap}) gets the
 * approval page's link instead of `confirmUrl`, and the mail says why.
 *
 * @param confirmUrl absolute http(s) URL of the confirm page carrying the single-use token.
 * @throws LoopgateError `E_EMAIL_LINK_INVALID` when `confirmUrl` is not an absolute http(s) URL.
 */
export function renderApprovalEmail(
  approval: NotifiableApproval,
  confirmUrl: string,
  options: RenderApprovalEmailOptions = {},
): RenderedEmail {
  const gap = describeEmailDisplayGap(approval);
  // A mail that cannot show everything never carries the confirm link (it approves without a
  // sign-in): it sends the human to the approval page, which shows all of it.
  const link = assertHttpUrl(gap === null ? confirmUrl : approval.approval_url);
  const description = revealAgentText(approval.action_description);
  const subject = toSubject(
    `${options.reminder === true ? 'Reminder: approval' : 'Approval'} needed: ${description}`,
  );
  const expires = formatExpiry(approval.expires_at);
  const entries = Object.entries(approval.action_details).slice(0, DETAILS_MAX);
  const hidden = Object.keys(approval.action_details).length - entries.length;
  const why =
    gap === null
      ? null
      : `This request is too long to show in full in an email (${gap}), so this mail cannot approve it: sign in and review all of it on the approval page.`;
  const fields = approval.fields.map(
    (f) => labelOfField(f) + (f.required === true ? ' (required)' : ''),
  );

  const textLines = [
    options.reminder === true
      ? 'Reminder: an agent is still waiting for your decision.'
      : 'An agent asks for your approval.',
    '',
    `Action: ${oneLine(truncateText(description, DESCRIPTION_MAX))}`,
    ...(entries.length > 0 ? ['', 'Details:'] : []),
    ...entries.map(
      ([k, v]) =>
        `  ${oneLine(revealAgentText(k))}: ${truncateText(formatDetailValue(v), VALUE_MAX)
          .split('\n')
          .join('\n      ')}`,
    ),
    ...(hidden > 0 ? [`  (${hidden} more on the approval page)`] : []),
    ...(why !== null ? ['', why] : []),
    ...(fields.length > 0 ? ['', `Fields requested: ${fields.map(oneLine).join(', ')}`] : []),
    '',
    `Expires: ${expires}`,
    '',
    why === null ? 'Review and decide:' : 'Open the approval page:',
    link,
    '',
    ...(why === null
      ? [
          'Opening the link decides nothing: the page shows the request and asks you to Approve or',
          'Reject. The link works once and only until the request expires. If you did not expect this,',
          'ignore this mail.',
        ]
      : ['If you did not expect this, ignore this mail.']),
    '',
  ];

  const rows = entries
    .map(
      ([k, v]) =>
        `<tr><th align="left" valign="top" style="padding:4px 12px 4px 0;font-weight:600">${partsToHtml(revealText(k))}</th>` +
        `<td style="padding:4px 0;white-space:pre-wrap;word-break:break-word">${gap === null ? partsToHtml(revealDetailValue(v)) : escapeHtml(truncateText(formatDetailValue(v), VALUE_MAX))}</td></tr>`,
    )
    .join('\n');
  const html = [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
    `<title>${escapeHtml(subject)}</title></head>`,
    '<body style="font-family:system-ui,-apple-system,Segoe UI,sans-serif;color:#111;max-width:640px;margin:0 auto;padding:16px">',
    `<p>${options.reminder === true ? 'Reminder: an agent is still waiting for your decision.' : 'An agent asks for your approval.'}</p>`,
    `<h1 style="font-size:20px;margin:12px 0">${gap === null ? partsToHtml(revealText(approval.action_description)) : escapeHtml(truncateText(description, DESCRIPTION_MAX))}</h1>`,
    entries.length > 0
      ? `<table role="presentation" style="border-collapse:collapse;margin:8px 0">\n${rows}\n</table>`
      : '',
    hidden > 0 ? `<p>${hidden} more details on the approval page.</p>` : '',
    why !== null ? `<p><strong>${escapeHtml(why)}</strong></p>` : '',
    fields.length > 0 ? `<p>Fields requested: ${escapeHtml(fields.join(', '))}</p>` : '',
    `<p>Expires: ${escapeHtml(expires)}</p>`,
    `<p><a href="${escapeHtml(link)}" style="display:inline-block;padding:10px 16px;background:#1f6feb;color:#fff;text-decoration:none;border-radius:6px">${why === null ? 'Review and decide' : 'Open the approval page'}</a></p>`,
    why === null
      ? `<p style="font-size:13px;color:#555">Opening the link decides nothing: the page shows the request and asks you to Approve or Reject. ` +
        'The link works once and only until the request expires. If you did not expect this, ignore this mail.</p>'
      : '<p style="font-size:13px;color:#555">If you did not expect this, ignore this mail.</p>',
    `<p style="font-size:12px;color:#777;word-break:break-all">${escapeHtml(link)}</p>`,
    '</body></html>',
    '',
  ]
    .filter((line) => line !== '')
    .join('\n');

  return { subject, text: textLines.join('\n'), html };
}

/** Returns the URL's normalised form when it is absolute http(s) without credentials. */
export function assertHttpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (err) {
    throw new LoopgateError(
      'E_EMAIL_LINK_INVALID',
      `Expected an absolute URL, got ${JSON.stringify(value.slice(0, 200))}.`,
      {
        cause: err,
      },
    );
  }
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.username !== '' ||
    url.password !== ''
  ) {
    throw new LoopgateError(
      'E_EMAIL_LINK_INVALID',
      `Expected an http(s) URL without credentials, got one with scheme ${url.protocol}.`,
    );
  }
  return url.href;
}

/** Subject line: control characters (CR/LF included) become spaces; at most 150 characters. */
function toSubject(text: string): string {
  return truncateText(oneLine(text), 150);
}

/** Collapses control characters and line breaks to single spaces. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
}

function formatExpiry(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}
