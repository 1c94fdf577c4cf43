import type { GateSpec } from '../core/approval.js';
import type { ArgumentConstraints, GrantRecord } from '../core/grant.js';
import type { Validation } from '../core/errors.js';
import { signCanonicalJson, verifySignedJson } from './receipt.js';
import type { Jwks, ReceiptSigningKey } from './signingKeys.js';

/** The JWS `typ` of a signed standing grant. */
export const grantType = 'loopgate-grant+jws';

/**
 * The signed grant: what a human allowed beyond one call. Times are ISO 8601. `constraints`
 * holds the argument constraints of a `tool` grant, `action_hash` the one call of an `exact`
 * grant, `session_id` the proxy connection of a `session` grant; `max_uses` null means no
 * bound but `not_after`. Its JWS payload is the RFC 8785 canonical JSON of this object.
 */
export interface GrantPayload {
  grant_id: string;
  pause_id: string;
  agent: string;
  tool: string;
  reach: GrantRecord['reach'];
  constraints: ArgumentConstraints | null;
  action_hash: string | null;
  session_id: string | null;
  gate: GateSpec;
  granted_by: string;
  granted_at: string;
  not_after: string;
  max_uses: number | null;
}

/** The payload of a grant record (everything but its use count and revocation). */
export function buildGrantPayload(grant: Omit<GrantRecord, 'receipt'>): GrantPayload {
  return {
    grant_id: grant.id,
    pause_id: grant.pauseId,
    agent: grant.agentId,
    tool: grant.tool,
    reach: grant.reach,
    constraints: grant.constraints,
    action_hash: grant.actionHash,
    session_id: grant.sessionId,
    gate: grant.gate,
    granted_by: grant.grantedBy,
    granted_at: new Date(grant.createdAt).toISOString(),
    not_after: new Date(grant.notAfter).toISOString(),
    max_uses: grant.maxUses,
  };
}

/** Signs a grant with the receipt key: compact JWS, EdDSA, `typ` {@link grantType}. */
export function signGrant(payload: GrantPayload, key: ReceiptSigningKey): Promise<string> {
  return signCanonicalJson(payload, key, grantType);
}

/**
 * Verifies a signed grant against a JWKS (signature, `typ`, canonical payload). Whether it is
 * still live (revoked, uses left) only the server knows; `not_after` is in the payload.
 * Refusals: those of `verifySignedJson`.
 */
export async function verifyGrant(
  jws: string,
  jwks: Jwks,
): Promise<Validation<{ payload: GrantPayload; kid: string }>> {
  const verified = await verifySignedJson(jws, jwks, grantType);
  if (!verified.ok) return verified;
  const payload = verified.value.payload as Partial<GrantPayload> | null;
  if (!payload || typeof payload.grant_id !== 'string' || typeof payload.not_after !== 'string') {
    return {
      ok: false,
      code: 'E_RECEIPT_MALFORMED',
      message: 'The grant payload has no grant_id.',
    };
  }
  return { ok: true, value: { payload: payload as GrantPayload, kid: verified.value.kid } };
}

/** Whether a compact JWS says it is a grant (its protected header's `typ`), without verifying. */
export function isGrantJws(jws: string): boolean {
  try {
    const header = JSON.parse(
      Buffer.from(jws.trim().split('.')[0] ?? '', 'base64url').toString('utf8'),
    ) as {
      typ?: unknown;
    };
    return header.typ === grantType;
  } catch {
    return false;
  }
}
