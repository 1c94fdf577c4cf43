import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Validation } from '../../core/errors.js';

/** Input of {@link verifySlackSignature}. */
export interface SlackSignatureInput {
  /** The app's signing secret (`LOOPGATE_SLACK_SIGNING_SECRET`). Never logged. */
  signingSecret: string;
  /** The `X-Slack-Request-Timestamp` header: Unix time in seconds, as sent. */
  timestamp: string | null | undefined;
  /** The request body exactly as received, before any parsing. */
  rawBody: string | Uint8Array;
  /** The `X-Slack-Signature` header: `v0=` and 64 hex digits. */
  signature: string | null | undefined;
  /** The current time in milliseconds since the epoch. Default `Date.now()`. */
  now?: number;
}

/** Largest allowed distance between the request timestamp and now, either way, in seconds. */
export const SLACK_TIMESTAMP_TOLERANCE_SECONDS = 300;

/**
 * Verifies a request from Slack with its v0 signing scheme
 * (https://api.slack.com/authentication/verifying-requests-from-slack): the base string
 * `v0:{timestamp}:{raw body}` is HMAC-SHA256'd with the signing secret and compared, in constant
 * time, with the hex digest after `v0=` in `X-Slack-Signature`. The timestamp must be within
 * ±300 s of `now` in both directions ("more than five minutes from local time" is refused), so a
 * captured request cannot be replayed later; replays inside the window are stopped by processing
 * each payload once (see `parseInteractionPayload`'s `payloadId`).
 *
 * @returns `{ok: true, value: {timestamp}}` (seconds), or `{ok: false}` with
 *   `E_SLACK_TIMESTAMP_INVALID` (missing, not a number, or skewed) or `E_SLACK_SIGNATURE_INVALID`
 *   (missing, malformed, or not matching). The timestamp is checked first.
 */
export function verifySlackSignature(
  input: SlackSignatureInput,
): Validation<{ timestamp: number }> {
  const now = input.now ?? Date.now();
  const rawTimestamp = input.timestamp?.trim() ?? '';
  if (!/^\d{1,12}$/.test(rawTimestamp)) {
    return {
      ok: false,
      code: 'E_SLACK_TIMESTAMP_INVALID',
      message: `X-Slack-Request-Timestamp must be Unix seconds, got ${JSON.stringify(rawTimestamp.slice(0, 32))}.`,
    };
  }
  const timestamp = Number(rawTimestamp);
  const skewSeconds = Math.floor(now / 1000) - timestamp;
  if (Math.abs(skewSeconds) > SLACK_TIMESTAMP_TOLERANCE_SECONDS) {
    return {
      ok: false,
      code: 'E_SLACK_TIMESTAMP_INVALID',
      message:
        `X-Slack-Request-Timestamp ${timestamp} is ${Math.abs(skewSeconds)} s in the ` +
        `${skewSeconds > 0 ? 'past' : 'future'}; at most ${SLACK_TIMESTAMP_TOLERANCE_SECONDS} s ` +
        'either way is accepted (check the server clock).',
    };
  }

  const signature = input.signature?.trim() ?? '';
  const match = /^v0=([0-9a-fA-F]{64})$/.exec(signature);
  if (!match) {
    return {
      ok: false,
      code: 'E_SLACK_SIGNATURE_INVALID',
      message: 'X-Slack-Signature must be "v0=" followed by 64 hex digits.',
    };
  }
  if (input.signingSecret === '') {
    return {
      ok: false,
      code: 'E_SLACK_SIGNATURE_INVALID',
      message: 'No Slack signing secret is configured (LOOPGATE_SLACK_SIGNING_SECRET).',
    };
  }
  const expected = computeSlackSignatureDigest(input.signingSecret, rawTimestamp, input.rawBody);
  const given = Buffer.from(match[1]!, 'hex');
  if (!timingSafeEqual(expected, given)) {
    return {
      ok: false,
      code: 'E_SLACK_SIGNATURE_INVALID',
      message: 'X-Slack-Signature does not match the v0 HMAC-SHA256 of this body and timestamp.',
    };
  }
  return { ok: true, value: { timestamp } };
}

/**
 * The raw 32-byte HMAC-SHA256 of `v0:{timestamp}:{body}` under `signingSecret`. Exported for
 * tests and tools that sign requests the way Slack does (`'v0=' + digest.toString('hex')`).
 */
export function computeSlackSignatureDigest(
  signingSecret: string,
  timestamp: string,
  rawBody: string | Uint8Array,
): Buffer {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`v0:${timestamp}:`, 'utf8');
  hmac.update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody);
  return hmac.digest();
}
