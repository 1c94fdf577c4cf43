import type { Validation } from '../core/errors.js';
import { isDeepStrictEqual } from 'node:util';
import { verifyReceipt, type VerifiedReceipt } from './receipt.js';
import { verifyResponseSignature } from './responseHmac.js';
import type { Jwks } from './signingKeys.js';

/** What `verifyApprovalResult` found valid. `hmacChecked` says whether the HMAC was checked too. */
export interface VerifiedApprovalResult extends VerifiedReceipt {
  hmacChecked: boolean;
}

const responseKeys = [
  'pause_id',
  'action_hash',
  'decision',
  'comment',
  'fields',
  'responder',
  'responded_at',
  'channel',
  'nonce',
] as const;

/**
 * Checks what an agent holds: either a bare receipt (compact JWS) or a whole `check_approval`
 * result (`{pause_id, action_hash, expires_at, response, receipt, …}`). The receipt must verify
 * against `jwks`; every field the result repeats must equal the signed one (so an edited
 * `decision` next to an untouched receipt is caught), and `response.pause_id` and
 * `response.action_hash` must be the result's and the receipt's (so one request's response and
 * HMAC cannot be pasted into another's result); with `secret`, `response.signature` must be the
 * HMAC of the response. Refusals: the codes of `verifyReceipt`, E_RECEIPT_MISMATCH,
 * E_RECEIPT_HMAC_INVALID, E_RECEIPT_MALFORMED (no receipt in the input).
 */
export async function verifyApprovalResult(
  input: unknown,
  options: { jwks: Jwks; secret?: string },
): Promise<Validation<VerifiedApprovalResult>> {
  const result =
    typeof input === 'string' ? { receipt: input } : (input as Record<string, unknown> | null);
  const receipt = result && typeof result === 'object' ? result['receipt'] : undefined;
  if (typeof receipt !== 'string') {
    return {
      ok: false,
      code: 'E_RECEIPT_MALFORMED',
      message:
        'Expected a receipt (compact JWS) or a check_approval result with a "receipt" field.',
    };
  }
  const verified = await verifyReceipt(receipt, options.jwks);
  if (!verified.ok) return verified;
  const { payload } = verified.value;
  const claims = payload as unknown as Record<string, unknown>;
  for (const key of ['pause_id', 'action_hash', 'expires_at'] as const) {
    if (key in result! && result![key] !== claims[key]) {
      return mismatch(key, result![key], claims[key]);
    }
  }
  const response = result!['response'];
  if (response !== undefined) {
    if (response === null || typeof response !== 'object') {
      return { ok: false, code: 'E_RECEIPT_MISMATCH', message: 'response must be an object.' };
    }
    const r = response as Record<string, unknown>;
    for (const key of [...responseKeys, 'approvers'] as const) {
      if (!isDeepStrictEqual(r[key], claims[key]))
        return mismatch(`response.${key}`, r[key], claims[key]);
    }
  }
  let hmacChecked = false;
  if (options.secret !== undefined && response !== undefined) {
    if (!verifyResponseSignature(response as Record<string, unknown>, options.secret)) {
      return {
        ok: false,
        code: 'E_RECEIPT_HMAC_INVALID',
        message:
          'response.signature is not the HMAC-SHA256 of the response under this signing secret.',
      };
    }
    hmacChecked = true;
  }
  return { ok: true, value: { ...verified.value, hmacChecked } };
}

function mismatch(field: string, given: unknown, signed: unknown): Validation<never> {
  return {
    ok: false,
    code: 'E_RECEIPT_MISMATCH',
    message: `${field} is ${JSON.stringify(given)} but the signed receipt says ${JSON.stringify(signed)}.`,
  };
}
