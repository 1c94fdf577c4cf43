import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLoopgateError } from '../../core/errors.js';
import { sampleApproval } from '../testing/sampleApproval.js';
import { startSmtpCatcher, type SmtpCatcher } from '../testing/smtpCatcher.js';
import { hashConfirmToken } from './confirmToken.js';
import { createEmailSender, parseSmtpUrl, type EmailSender } from './createEmailSender.js';
import { EmailNotifier, type ConfirmTokenRecord } from './emailNotifier.js';
import { renderApprovalEmail } from './renderApprovalEmail.js';
import { sendApprovalEmail } from './sendApprovalEmail.js';

const password = 's3cret-p@ss/word';
let smtp: SmtpCatcher;
let sender: EmailSender;
let stored: ConfirmTokenRecord[];

function smtpUrl(pass = password): string {
  return `smtp://loopgate:${encodeURIComponent(pass)}@127.0.0.1:${smtp.port}`;
}

function makeNotifier(): EmailNotifier {
  return new EmailNotifier({
    sender,
    confirmUrlFor: (token) => `http://127.0.0.1:7878/email/confirm?token=${token}`,
    storeConfirmToken: (record) => void stored.push(record),
  });
}

beforeEach(async () => {
  smtp = await startSmtpCatcher('loopgate', password);
  sender = createEmailSender({ smtpUrl: smtpUrl(), from: 'Loopgate <approvals@example.com>' });
  stored = [];
});
afterEach(async () => {
  sender.close();
  await smtp.close();
});

describe('EmailNotifier against a real SMTP server', () => {
  it('delivers the approval mail with subject, recipient and a single-use confirm link whose hash is stored', async () => {
    const delivery = await makeNotifier().notifyCreated(sampleApproval(), 'bob@example.com');
    const mail = await smtp.nextMail();

    expect(mail.user).toBe('loopgate');
    expect(mail.mailFrom).toBe('approvals@example.com');
    expect(mail.rcptTo).toEqual(['bob@example.com']);
    expect(mail.subject).toBe('Approval needed: Send $420 to ACME Corp');
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(delivery).toEqual({
      channel: 'email',
      recipient: 'bob@example.com',
      ref: mail.headers.get('message-id'),
    });

    const link = /http:\/\/127\.0\.0\.1:7878\/email\/confirm\?token=([A-Za-z0-9_-]{43})/.exec(
      mail.text,
    );
    expect(link).not.toBeNull();
    const token = link![1]!;
    expect(mail.html).toContain(`href="http://127.0.0.1:7878/email/confirm?token=${token}"`);
    expect(mail.text).toContain('Action: Send $420 to ACME Corp');
    expect(mail.text).toContain('amount: 420');
    expect(mail.html).toMatch(/<th[^>]*>to<\/th><td[^>]*>ACME Corp<\/td>/);
    expect(mail.text).toContain('Opening the link decides nothing');

    expect(stored).toEqual([
      {
        pauseId: 'pa_7Hq2xKc9',
        recipient: 'bob@example.com',
        tokenHash: hashConfirmToken(token),
        expiresAt: '2026-11-21T10:00:00.000Z',
      },
    ]);
    expect(mail.raw).not.toContain(hashConfirmToken(token));
  });

  it('escapes hostile action text in the HTML and keeps it out of the headers', async () => {
    const hostile = '<script>alert(1)</script><a href="https://evil.example">click</a> & \'x\'';
    await makeNotifier().notifyCreated(
      sampleApproval({
        action_description: `${hostile}\r\nBcc: victim@example.net`,
        action_details: { '<img src=x onerror=alert(2)>': '"><svg onload=alert(3)>' },
        fields: [{ name: 'ref', label: '<b>Ref</b>', required: true }],
      }),
      'bob@example.com',
    );
    const mail = await smtp.nextMail();

    expect(mail.rcptTo).toEqual(['bob@example.com']);
    expect(mail.headers.has('bcc')).toBe(false);
    expect(mail.raw.slice(0, mail.raw.indexOf('\r\n\r\n'))).not.toMatch(/^Bcc:/im);
    // The line break is shown as markers (it could push text out of view), never sent as one.
    expect(mail.subject).toBe(
      `Approval needed: ${hostile}⟨U+000D CARRIAGE RETURN⟩⟨newline⟩ Bcc: victim@example.net`,
    );

    expect(mail.html).not.toContain('<script');
    expect(mail.html).not.toContain('<img');
    expect(mail.html).not.toContain('<svg');
    expect(mail.html).not.toContain('href="https://evil.example"');
    expect(mail.html).not.toContain('<b>Ref</b>');
    expect(mail.html).toContain(
      '&lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=&quot;https://evil.example&quot;&gt;click&lt;/a&gt; &amp; &#39;x&#39;',
    );
    expect(mail.html).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(mail.html).toContain('&quot;&gt;&lt;svg onload=alert(3)&gt;');
    expect(mail.html).toContain('Fields requested: &lt;b&gt;Ref&lt;/b&gt; (required)');
    // The only link in the HTML is the confirm page.
    expect(
      [...mail.html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!.replace(/token=.*/, 'token=')),
    ).toEqual(['http://127.0.0.1:7878/email/confirm?token=']);
  });

  it('sends reminders with a fresh token and digests without any decision link', async () => {
    const notifier = makeNotifier();
    const delivery = await notifier.notifyCreated(sampleApproval(), 'bob@example.com');
    await notifier.notifyReminder(sampleApproval(), delivery);
    await notifier.notifyDigest('bob@example.com', {
      pauseIds: ['pa_1', 'pa_2', 'pa_3'],
      inboxUrl: 'http://127.0.0.1:7878/',
    });
    await notifier.notifyDecided();
    const [first, reminder, digest] = [
      await smtp.nextMail(),
      await smtp.nextMail(),
      await smtp.nextMail(),
    ];
    expect(first.subject).toBe('Approval needed: Send $420 to ACME Corp');
    expect(reminder.subject).toBe('Reminder: approval needed: Send $420 to ACME Corp');
    expect(stored).toHaveLength(2);
    expect(stored[1]!.tokenHash).not.toBe(stored[0]!.tokenHash);
    expect(reminder.text).toContain('token=');
    expect(digest.subject).toBe('3 more requests waiting for your decision');
    expect(digest.text).toContain('http://127.0.0.1:7878/');
    expect(digest.text).not.toContain('token=');
    expect(digest.text.toLowerCase()).not.toContain('approve');
    expect(smtp.mails).toHaveLength(3);
  });

  it('refuses a recipient that is not one plain address, storing and sending nothing', async () => {
    for (const bad of [
      'bob',
      'bob@example.com, eve@example.com',
      'Bob <bob@example.com>',
      'bob@example.com\r\nBcc: eve@example.com',
    ]) {
      await expect(makeNotifier().notifyCreated(sampleApproval(), bad)).rejects.toMatchObject({
        code: 'E_EMAIL_ADDRESS_INVALID',
      });
    }
    await expect(
      sender.send({ to: 'not-an-address', subject: 's', text: 't', html: 'h' }),
    ).rejects.toMatchObject({
      code: 'E_EMAIL_ADDRESS_INVALID',
    });
    expect(stored).toEqual([]);
    expect(smtp.mails).toEqual([]);
  });

  it('reports E_EMAIL_SEND_FAILED when the server refuses the mail', async () => {
    smtp.refuseWith = { code: 552, message: 'Mailbox full' };
    const err: unknown = await sendApprovalEmail(sender, {
      to: 'bob@example.com',
      approval: sampleApproval(),
      confirmUrl: 'http://127.0.0.1:7878/email/confirm?token=x',
    }).catch((e: unknown) => e);
    expect(isLoopgateError(err, 'E_EMAIL_SEND_FAILED')).toBe(true);
    expect((err as Error).message).toContain('552');
  });

  it('reports E_EMAIL_SEND_FAILED on wrong credentials without revealing the password', async () => {
    const wrong = createEmailSender({
      smtpUrl: smtpUrl('wrong-password-123'),
      from: 'approvals@example.com',
    });
    try {
      const err: unknown = await wrong
        .send({ to: 'bob@example.com', subject: 's', text: 't', html: '<p>h</p>' })
        .catch((e: unknown) => e);
      expect(isLoopgateError(err, 'E_EMAIL_SEND_FAILED')).toBe(true);
      expect((err as Error).message).not.toContain('wrong-password-123');
      expect((err as Error).message).toContain(`127.0.0.1:${smtp.port}`);
    } finally {
      wrong.close();
    }
    expect(smtp.mails).toEqual([]);
  });

  it('reports E_EMAIL_SEND_FAILED when nothing listens', async () => {
    const port = smtp.port;
    await smtp.close();
    const dead = createEmailSender({
      smtpUrl: `smtp://127.0.0.1:${port}`,
      from: 'approvals@example.com',
      timeoutMs: 2000,
    });
    try {
      await expect(
        dead.send({ to: 'bob@example.com', subject: 's', text: 't', html: 'h' }),
      ).rejects.toMatchObject({
        code: 'E_EMAIL_SEND_FAILED',
      });
    } finally {
      dead.close();
    }
    smtp = await startSmtpCatcher('loopgate', password);
  });
});

describe('email configuration and links', () => {
  it('refuses SMTP URLs that are not smtp:// or smtps:// with a host, never echoing the password', () => {
    for (const url of [
      'http://user:hunter22@mail.example.com',
      'not a url hunter22',
      'smtp://',
      'mailto:bob@example.com',
    ]) {
      let caught: unknown;
      try {
        createEmailSender({ smtpUrl: url, from: 'approvals@example.com' });
      } catch (err) {
        caught = err;
      }
      expect(isLoopgateError(caught, 'E_EMAIL_SMTP_URL_INVALID')).toBe(true);
      expect((caught as Error).message).not.toContain('hunter22');
    }
  });

  it('requires STARTTLS before sending credentials to another machine, and defaults the port', () => {
    expect(parseSmtpUrl('smtp://u:p%40ss@mail.example.com')).toEqual({
      host: 'mail.example.com',
      port: 587,
      secure: false,
      requireTLS: true,
      auth: { user: 'u', pass: 'p@ss' },
    });
    expect(parseSmtpUrl('smtps://u:p@mail.example.com')).toMatchObject({
      port: 465,
      secure: true,
      requireTLS: false,
    });
    expect(parseSmtpUrl('smtp://u:p@127.0.0.1:2525')).toMatchObject({
      port: 2525,
      requireTLS: false,
    });
    expect(parseSmtpUrl('smtp://relay.internal:25')).toMatchObject({ requireTLS: false });
    expect(parseSmtpUrl('smtp://relay.internal:25')).not.toHaveProperty('auth');
  });

  it('refuses a bad From address', () => {
    for (const from of ['', 'Loopgate', 'Loopgate <x>', 'a@b.c\r\nBcc: e@x.y']) {
      expect(() => createEmailSender({ smtpUrl: 'smtp://127.0.0.1:25', from })).toThrow(
        expect.objectContaining({ code: 'E_EMAIL_ADDRESS_INVALID' }),
      );
    }
  });

  it('refuses a confirm link that is not an absolute http(s) URL', () => {
    for (const url of [
      'javascript:alert(1)',
      '/email/confirm?token=x',
      'https://user:pw@example.com/x',
      'data:text/html,hi',
    ]) {
      expect(() => renderApprovalEmail(sampleApproval(), url)).toThrow(
        expect.objectContaining({ code: 'E_EMAIL_LINK_INVALID' }),
      );
    }
  });
});
