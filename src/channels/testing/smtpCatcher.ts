import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** A mail the SMTP server accepted. */
export interface CaughtMail {
  mailFrom: string;
  rcptTo: string[];
  /** Login the client authenticated with, if any. */
  user: string | null;
  raw: string;
  headers: Map<string, string>;
  subject: string;
  text: string;
  html: string;
}

/** A real SMTP server (the `smtp-server` package) on 127.0.0.1, port 0. */
export interface SmtpCatcher {
  port: number;
  mails: CaughtMail[];
  /** Resolves with the next mail (or the ones already caught, in order). */
  nextMail(): Promise<CaughtMail>;
  /** When set, DATA is refused with this SMTP code and text. */
  refuseWith: { code: number; message: string } | null;
  close(): Promise<void>;
}

/**
 * Starts an SMTP server that requires `user`/`pass` (AUTH PLAIN/LOGIN, allowed without TLS on
 * loopback) and parses each accepted mail's MIME parts.
 */
export async function startSmtpCatcher(user: string, pass: string): Promise<SmtpCatcher> {
  const waiters: ((mail: CaughtMail) => void)[] = [];
  let read = 0;
  const catcher: SmtpCatcher = {
    port: 0,
    mails: [],
    refuseWith: null,
    nextMail() {
      const index = read++;
      const ready = catcher.mails[index];
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve) => waiters.push(resolve));
    },
    close: async () => undefined,
  };
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === pass) callback(null, { user: auth.username });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (catcher.refuseWith) {
          const err = Object.assign(new Error(catcher.refuseWith.message), {
            responseCode: catcher.refuseWith.code,
          });
          callback(err);
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const mail: CaughtMail = {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : null,
          raw,
          ...parseMime(raw),
        };
        catcher.mails.push(mail);
        const waiter = waiters.shift();
        if (waiter) waiter(mail);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  catcher.port = (server.server.address() as AddressInfo).port;
  catcher.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return catcher;
}

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.replace(/\r\n[ \t]+/g, ' ').split(/\r\n/)) {
    const at = line.indexOf(':');
    if (at > 0) headers.set(line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim());
  }
  return headers;
}

function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(
      /=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g,
      (_m, _charset: string, enc: string, data: string) =>
        enc.toUpperCase() === 'B'
          ? Buffer.from(data, 'base64').toString('utf8')
          : Buffer.from(
              data
                .replace(/_/g, ' ')
                .replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) =>
                  String.fromCharCode(parseInt(h, 16)),
                ),
              'latin1',
            ).toString('utf8'),
    );
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch ((encoding ?? '7bit').toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable':
      return Buffer.from(
        body
          .replace(/=\r\n/g, '')
          .replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
        'latin1',
      ).toString('utf8');
    default:
      return body;
  }
}

function parseMime(raw: string): {
  headers: Map<string, string>;
  subject: string;
  text: string;
  html: string;
} {
  const split = raw.indexOf('\r\n\r\n');
  const headers = parseHeaders(raw.slice(0, split));
  const body = raw.slice(split + 4);
  const result = {
    headers,
    subject: decodeWords(headers.get('subject') ?? ''),
    text: '',
    html: '',
  };
  const type = headers.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/.exec(type)?.[1];
  const parts = boundary
    ? body
        .split(`--${boundary}`)
        .slice(1, -1)
        .map((p) => p.replace(/^\r\n/, ''))
    : [raw.slice(0, split) + '\r\n\r\n' + body];
  for (const part of parts) {
    const at = part.indexOf('\r\n\r\n');
    const h = parseHeaders(part.slice(0, at));
    const content = decodeBody(
      part.slice(at + 4).replace(/\r\n$/, ''),
      h.get('content-transfer-encoding'),
    );
    const ct = h.get('content-type') ?? '';
    if (ct.startsWith('text/plain')) result.text = content.replace(/\r\n/g, '\n');
    if (ct.startsWith('text/html')) result.html = content.replace(/\r\n/g, '\n');
  }
  return result;
}
