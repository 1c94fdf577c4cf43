import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  createWebhookMessageId,
  createWebhookSecret,
  parseWebhookSecret,
  signWebhook,
} from './signWebhook.js';

const body = JSON.stringify({
  type: 'request.created',
  timestamp: '2026-11-20T10:00:00.000Z',
  data: { pause_id: 'pa_1' },
});

describe('signWebhook', () => {
  it('produces headers the standardwebhooks library verifies', () => {
    const secret = createWebhookSecret();
    const msgId = createWebhookMessageId();
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = signWebhook({ secret, msgId, timestamp, body });
    expect(headers['webhook-id']).toBe(msgId);
    expect(headers['webhook-timestamp']).toBe(String(timestamp));
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(headers['webhook-signature']).toBe(
      new Webhook(secret).sign(msgId, new Date(timestamp * 1000), body),
    );
  });

  it('gives signatures the receiver refuses when body, id or secret differ', () => {
    const secret = createWebhookSecret();
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = signWebhook({ secret, msgId: 'msg_abc', timestamp, body });
    expect(() => new Webhook(secret).verify(body.replace('pa_1', 'pa_2'), { ...headers })).toThrow(
      /No matching signature/,
    );
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'msg_abd' })).toThrow(
      /No matching signature/,
    );
    expect(() => new Webhook(createWebhookSecret()).verify(body, { ...headers })).toThrow(
      /No matching signature/,
    );
  });

  it('creates 32-byte secrets and dot-free message ids that never repeat', () => {
    const secrets = new Set(Array.from({ length: 200 }, createWebhookSecret));
    expect(secrets.size).toBe(200);
    for (const s of [...secrets].slice(0, 10)) {
      const parsed = parseWebhookSecret(s);
      expect(parsed.ok && parsed.value.length).toBe(32);
    }
    const ids = new Set(Array.from({ length: 200 }, createWebhookMessageId));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(/^msg_[A-Za-z0-9_-]{22}$/);
  });

  it('refuses malformed secrets with E_WEBHOOK_SECRET_INVALID', () => {
    const short = 'whsec_' + Buffer.alloc(16, 1).toString('base64');
    const long = 'whsec_' + Buffer.alloc(65, 1).toString('base64');
    for (const secret of ['', 'sk_live_abc', 'whsec_', 'whsec_not*base64!', short, long]) {
      expect(parseWebhookSecret(secret)).toMatchObject({
        ok: false,
        code: 'E_WEBHOOK_SECRET_INVALID',
      });
      expect(() => signWebhook({ secret, msgId: 'msg_1', timestamp: 1, body })).toThrow(
        expect.objectContaining({ code: 'E_WEBHOOK_SECRET_INVALID' }),
      );
    }
  });

  it('refuses a message id with a dot or a fractional timestamp', () => {
    const secret = createWebhookSecret();
    expect(() => signWebhook({ secret, msgId: 'msg.1', timestamp: 1, body })).toThrow(RangeError);
    expect(() => signWebhook({ secret, msgId: 'msg_1', timestamp: 1.5, body })).toThrow(RangeError);
  });
});
