import createDebug from 'debug';
import nodemailer from 'nodemailer';
import { LoopgateError } from '../../core/errors.js';

const debug = createDebug('loopgate:channels');

/** Options for {@link createEmailSender}. */
export interface EmailSenderOptions {
  /**
   * `LOOPGATE_SMTP_URL`: `smtp://user:pass@host:587` (STARTTLS when offered; required when the
   * URL has credentials and the host is not loopback) or `smtps://…:465` (TLS from the start).
   * User and password are percent-decoded. Never logged.
   */
  smtpUrl: string;
  /** `LOOPGATE_EMAIL_FROM`: `approvals@example.com` or `Loopgate <approvals@example.com>`. */
  from: string;
  /** Connection, greeting and socket timeout in milliseconds. Default 15 000. */
  timeoutMs?: number;
}

/** One outgoing mail. */
export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Sends mail over SMTP; one instance per server, closed at shutdown. */
export interface EmailSender {
  /**
   * Hands the mail to the SMTP server.
   * @returns the Message-ID the mail was sent with.
   * @throws LoopgateError `E_EMAIL_ADDRESS_INVALID` for a bad recipient, `E_EMAIL_SEND_FAILED`
   *   when the server cannot be reached or refuses the mail.
   */
  send(mail: OutgoingEmail): Promise<{ messageId: string }>;
  /** Closes pooled connections. */
  close(): void;
}

// One plain addr-spec, no display name, no comments, no routing: enough for a recipient typed
// into request_approval, and nothing a header could be smuggled through.
const ADDRESS =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** True when `value` is one plain email address (`local@domain.tld`, ASCII, at most 254 chars). */
export function isEmailAddress(value: string): boolean {
  return value.length <= 254 && ADDRESS.test(value);
}

/**
 * Parses `LOOPGATE_EMAIL_FROM`: `addr` or `Name <addr>`.
 * @throws LoopgateError `E_EMAIL_ADDRESS_INVALID`.
 */
export function parseFromAddress(from: string): { name: string; address: string } {
  const trimmed = from.trim();
  const named = /^([^<>"\r\n]*)<([^<>\s]+)>$/.exec(trimmed);
  const name = named ? named[1]!.trim() : '';
  const address = named ? named[2]! : trimmed;
  if (!isEmailAddress(address)) {
    throw new LoopgateError(
      'E_EMAIL_ADDRESS_INVALID',
      `LOOPGATE_EMAIL_FROM must be "addr@example.com" or "Name <addr@example.com>", got ${JSON.stringify(trimmed.slice(0, 120))}.`,
    );
  }
  return { name, address };
}

interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  requireTLS: boolean;
  auth?: { user: string; pass: string };
}

/**
 * Parses `LOOPGATE_SMTP_URL`.
 * @throws LoopgateError `E_EMAIL_SMTP_URL_INVALID` (the message never contains the password).
 */
export function parseSmtpUrl(smtpUrl: string): SmtpSettings {
  let url: URL;
  try {
    url = new URL(smtpUrl);
  } catch (err) {
    throw new LoopgateError(
      'E_EMAIL_SMTP_URL_INVALID',
      'LOOPGATE_SMTP_URL is not a URL; expected smtp://user:pass@host:587 or smtps://user:pass@host:465.',
      { cause: err },
    );
  }
  if ((url.protocol !== 'smtp:' && url.protocol !== 'smtps:') || url.hostname === '') {
    throw new LoopgateError(
      'E_EMAIL_SMTP_URL_INVALID',
      `LOOPGATE_SMTP_URL must be smtp:// or smtps:// with a host, got scheme ${url.protocol}.`,
    );
  }
  const secure = url.protocol === 'smtps:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? (secure ? 465 : 587) : Number(url.port);
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  const loopback = host === 'localhost' || host === '::1' || /^127\./.test(host);
  const settings: SmtpSettings = {
    host,
    port,
    secure,
    // Credentials never cross a network in clear: without TLS from the start, demand STARTTLS
    // unless the relay is on this machine.
    requireTLS: !secure && user !== '' && !loopback,
  };
  if (user !== '') settings.auth = { user, pass };
  return settings;
}

/**
 * Creates the SMTP sender (nodemailer, pooled). Mails carry `Auto-Submitted: auto-generated`
 * (RFC 3834 §5) so auto-responders stay quiet.
 *
 * @throws LoopgateError `E_EMAIL_SMTP_URL_INVALID`, `E_EMAIL_ADDRESS_INVALID` (from).
 */
export function createEmailSender(options: EmailSenderOptions): EmailSender {
  const smtp = parseSmtpUrl(options.smtpUrl);
  const from = parseFromAddress(options.from);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 2,
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: smtp.requireTLS,
    ...(smtp.auth ? { auth: smtp.auth } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    logger: false,
  });
  const where = `${smtp.host}:${smtp.port}`;

  return {
    async send(mail) {
      if (!isEmailAddress(mail.to)) {
        throw new LoopgateError(
          'E_EMAIL_ADDRESS_INVALID',
          `The recipient must be one plain address like bob@example.com, got ${JSON.stringify(mail.to.slice(0, 120))}.`,
        );
      }
      try {
        const info = (await transport.sendMail({
          from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' },
        })) as { messageId?: string };
        debug('email handed to %s, message id %s', where, info.messageId);
        return { messageId: info.messageId ?? '' };
      } catch (err) {
        const e = err as { code?: string; responseCode?: number; message?: string };
        debug('email to %s failed: %s %s', where, e.code, e.responseCode);
        throw new LoopgateError(
          'E_EMAIL_SEND_FAILED',
          `SMTP server ${where} did not accept the mail (${e.code ?? 'error'}` +
            `${e.responseCode ? ` ${e.responseCode}` : ''}): ${stripSecrets(e.message ?? String(err), smtp.auth?.pass)}`,
          { cause: err },
        );
      }
    },
    close() {
      transport.close();
    },
  };
}

function stripSecrets(message: string, pass: string | undefined): string {
  return pass && pass.length >= 4 ? message.split(pass).join('***') : message;
}
