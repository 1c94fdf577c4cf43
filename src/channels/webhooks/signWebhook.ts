import { createHmac, randomBytes } from 'node:crypto';
import type { Validation } from '../../core/errors.js';
import { LoopgateError } from '../../core/errors.js';

/** The three Standard Webhooks headers (spec §"Webhook headers"). */
export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** Input of {@link signWebhook}. */
export interface SignWebhookInput {
  /** The endpoint's secret: `whsec_` + base64 of 24–64 random bytes. Never logged. */
  secret: string;
  /** The message id (`msg_…`): the same for every retry of one event; no `.` allowed. */
  msgId: string;
  /** Unix time of this attempt in whole seconds. */
  timestamp: number;
  /** The exact body that will be sent. */
  body: string;
}

const SECRET_PREFIX = 'whsec_';

/**
 * Decodes a `whsec_…` secret into its key bytes.
 * @returns the key, or `E_WEBHOOK_SECRET_INVALID` when the prefix, base64 or length (24–64
 *   bytes; spec §"Signature scheme": "at least 24 bytes … 512 bits maximum") is wrong.
 */
export function parseWebhookSecret(secret: string): Validation<Buffer> {
  if (!secret.startsWith(SECRET_PREFIX)) {
    return {
      ok: false,
      code: 'E_WEBHOOK_SECRET_INVALID',
      message: 'A webhook secret starts with "whsec_".',
    };
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    return {
      ok: false,
      code: 'E_WEBHOOK_SECRET_INVALID',
      message: 'After "whsec_" a webhook secret is standard base64.',
    };
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < 24 || key.length > 64) {
    return {
      ok: false,
      code: 'E_WEBHOOK_SECRET_INVALID',
      message: `A webhook secret holds 24 to 64 bytes, this one ${key.length}.`,
    };
  }
  return { ok: true, value: key };
}

/**
 * Creates a per-endpoint secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks'
 * serialisation, which its libraries accept as is).
 */
export function createWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** Creates a message id, `msg_` + 22 base64url characters (128 random bits; never contains `.`). */
export function createWebhookMessageId(): string {
  return 'msg_' + randomBytes(16).toString('base64url');
}

/**
 * Signs a webhook with the Standard Webhooks symmetric scheme (spec §"Signature scheme"):
 * HMAC-SHA256 over `{msg_id}.{timestamp}.{body}` with the decoded secret, sent as
 * `webhook-signature: v1,<base64>`.
 *
 * @throws LoopgateError `E_WEBHOOK_SECRET_INVALID` for a malformed secret; a `msgId` with a `.`
 *   or a non-integer timestamp is a programming error (`RangeError`).
 */
export function signWebhook(input: SignWebhookInput): WebhookHeaders {
  const key = parseWebhookSecret(input.secret);
  if (!key.ok) throw new LoopgateError(key.code, key.message);
  // The spec: ids and timestamps must not contain "." or the signed content becomes ambiguous.
  if (input.msgId === '' || input.msgId.includes('.')) {
    throw new RangeError('msgId must be non-empty and must not contain "."');
  }
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0) {
    throw new RangeError('timestamp must be whole Unix seconds');
  }
  const signature = createHmac('sha256', key.value)
    .update(`${input.msgId}.${input.timestamp}.${input.body}`, 'utf8')
    .digest('base64');
  return {
    'webhook-id': input.msgId,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': `v1,${signature}`,
  };
}
