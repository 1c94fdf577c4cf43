import { CompactSign, compactVerify, createLocalJWKSet, errors as joseErrors } from 'jose';
import type { GateSpec } from '../core/approval.js';
import { canonicalizeJson } from '../core/canonicalJson.js';
import type { Validation } from '../core/errors.js';
import type { Jwks, ReceiptSigningKey } from './signingKeys.js';

/** The JWS `typ` of a loopgate receipt. */
export const receiptType = 'loopgate-receipt+jws';

/**
 * The signed decision. Times are ISO 8601 strings. Its JWS payload is exactly the RFC 8785
 * canonical JSON of this object.
 */
export interface ReceiptPayload {
  pause_id: string;
  action_hash: string;
  decision: 'approved' | 'rejected';
  comment: string;
  fields: Record<string, string | number | boolean>;
  responder: string;
  responded_at: string;
  channel: 'web' | 'slack' | 'email';
  nonce: string;
  expires_at: string;
  /** Every operator whose approval counted (quorum requests only). */
  approvers?: string[];
  /**
   * The gate the decision was made under (`{type}`, plus `quorum` for a quorum), so a gateway
   * can tell an approval made with one click from one its policy's TOTP or quorum asked for.
   * Absent only in receipts signed before the gate was signed in; a gateway never accepts those.
   */
  gate?: GateSpec;
  /**
   * Present when the human edited the call before approving: the action hash of the arguments
   * the agent asked for. `action_hash` is then that of the edited arguments, the call forwarded.
   */
  original_action_hash?: string;
}

/**
 * Signs a receipt: compact JWS (RFC 7515 §7.1) with `alg: EdDSA` (RFC 8037 §3.1), `kid` and
 * `typ` in the protected header, over the RFC 8785 canonical payload.
 */
export async function signReceipt(
  payload: ReceiptPayload,
  key: ReceiptSigningKey,
): Promise<string> {
  return signCanonicalJson(payload, key, receiptType);
}

/**
 * Signs any JSON object as loopgate signs receipts: compact JWS, EdDSA, `kid` and `typ` in the
 * protected header, over the RFC 8785 canonical payload.
 */
export async function signCanonicalJson(
  payload: object,
  key: ReceiptSigningKey,
  typ: string,
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(canonicalizeJson(payload)))
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ })
    .sign(key.privateKey);
}

/** Key sets imported once per JWKS object: importing a JWK costs more than verifying with it. */
const keySets = new WeakMap<Jwks, ReturnType<typeof createLocalJWKSet>>();

function keySetOf(jwks: Jwks): ReturnType<typeof createLocalJWKSet> {
  let keySet = keySets.get(jwks);
  if (!keySet) keySets.set(jwks, (keySet = createLocalJWKSet(jwks)));
  return keySet;
}

/** A receipt that verified, with the key that signed it. */
export interface VerifiedReceipt {
  payload: ReceiptPayload;
  kid: string;
}

/**
 * Verifies a compact JWS receipt against a JWKS: the signature (EdDSA only), the `typ`, and
 * that the payload is canonical JSON (so no two byte strings sign the same receipt).
 * Refusals: E_RECEIPT_MALFORMED, E_RECEIPT_KEY_UNKNOWN, E_RECEIPT_SIGNATURE_INVALID.
 */
export async function verifyReceipt(jws: string, jwks: Jwks): Promise<Validation<VerifiedReceipt>> {
  const verified = await verifySignedJson(jws, jwks, receiptType);
  if (!verified.ok) return verified;
  return {
    ok: true,
    value: { payload: verified.value.payload as ReceiptPayload, kid: verified.value.kid },
  };
}

/**
 * Verifies a compact JWS of loopgate's (a receipt or a grant) against a JWKS: the signature
 * (EdDSA only), `typ` equal to `typ`, and a payload that is RFC 8785 canonical JSON.
 * Refusals: E_RECEIPT_MALFORMED, E_RECEIPT_KEY_UNKNOWN, E_RECEIPT_SIGNATURE_INVALID.
 */
export async function verifySignedJson(
  jws: string,
  jwks: Jwks,
  typ: string,
): Promise<Validation<{ payload: unknown; kid: string }>> {
  if (
    typeof jws !== 'string' ||
    !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(jws.trim())
  ) {
    return {
      ok: false,
      code: 'E_RECEIPT_MALFORMED',
      message: 'Expected a compact JWS (three base64url parts separated by dots).',
    };
  }
  try {
    const { payload, protectedHeader } = await compactVerify(jws.trim(), keySetOf(jwks), {
      algorithms: ['EdDSA'],
    });
    if (protectedHeader.typ !== typ) {
      return {
        ok: false,
        code: 'E_RECEIPT_MALFORMED',
        message: `Expected typ "${typ}", got "${String(protectedHeader.typ)}".`,
      };
    }
    const text = new TextDecoder().decode(payload);
    const parsed = JSON.parse(text) as unknown;
    if (canonicalizeJson(parsed) !== text) {
      return {
        ok: false,
        code: 'E_RECEIPT_MALFORMED',
        message: 'The signed payload is not RFC 8785 canonical JSON.',
      };
    }
    return { ok: true, value: { payload: parsed, kid: protectedHeader.kid ?? '' } };
  } catch (err) {
    if (err instanceof joseErrors.JWKSNoMatchingKey) {
      return {
        ok: false,
        code: 'E_RECEIPT_KEY_UNKNOWN',
        message: 'No key in the JWKS matches the receipt’s kid.',
      };
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
      return {
        ok: false,
        code: 'E_RECEIPT_SIGNATURE_INVALID',
        message: 'The Ed25519 signature does not match the receipt’s contents.',
      };
    }
    return {
      ok: false,
      code: 'E_RECEIPT_MALFORMED',
      message: `The receipt could not be read: ${(err as Error).message}`,
    };
  }
}
