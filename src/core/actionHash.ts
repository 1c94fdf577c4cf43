import { createHash } from 'node:crypto';
import { canonicalizeJson } from './canonicalJson.js';

/**
 * The action hash a decision is bound to: lowercase hex SHA-256 (FIPS 180-4) of the RFC 8785
 * canonical JSON of `action`. For gated tool calls `action` is `{tool, arguments}`; for
 * free-form approval requests it is `{action_description, action_details}`.
 *
 * @returns 64 hex characters.
 * @throws TypeError when `action` is not representable as JSON.
 */
export function computeActionHash(action: unknown): string {
  return createHash('sha256').update(canonicalizeJson(action), 'utf8').digest('hex');
}
