import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The response object as LoopPause signs it: every field but `signature`. `pause_id` and
 * `action_hash` are inside it so the HMAC binds the response to one request and one action.
 */
export interface UnsignedResponse {
  pause_id: string;
  action_hash: string;
  decision: string;
  comment: string;
  fields: Record<string, unknown>;
  responder: string;
  responded_at: string;
  channel: string;
  nonce: string;
}

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort())
      out[key] = sortKeysDeep((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/**
 * `sha256=<hex>`: HMAC-SHA256 (RFC 2104, FIPS 180-4) keyed with the UTF-8 signing secret over
 * `JSON.stringify` of the response with `signature` removed and object keys sorted (at every
 * depth). This is the LoopPause recipe, so their verifiers accept loopgate responses unchanged.
 */
export function computeResponseSignature(
  response: UnsignedResponse | Record<string, unknown>,
  secret: string,
): string {
  const rest: Record<string, unknown> = { ...response };
  delete rest['signature'];
  const text = JSON.stringify(sortKeysDeep(rest));
  return `sha256=${createHmac('sha256', secret).update(text, 'utf8').digest('hex')}`;
}

/** Constant-time check of a `sha256=<hex>` response signature. */
export function verifyResponseSignature(
  response: Record<string, unknown>,
  secret: string,
): boolean {
  const given = response['signature'];
  if (typeof given !== 'string') return false;
  const expected = Buffer.from(computeResponseSignature(response, secret), 'utf8');
  const actual = Buffer.from(given, 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
