import type { Context } from 'hono';
import { z } from 'zod';
import { describeZodIssues } from '../core/approvalInput.js';
import { LoopgateError } from '../core/errors.js';
import type { FactorProof } from '../service/factorChange.js';

/**
 * The current-factor fields a factor-change request may carry (docs/api.md "Changing a
 * factor"): `current_totp_code` (6 digits from the current authenticator app) or
 * `current_webauthn` (an AuthenticationResponseJSON for `POST /v1/webauthn/proof/options`).
 */
export const factorProofFields = {
  current_totp_code: z.string().max(20).optional(),
  /** AuthenticationResponseJSON; checked by the WebAuthn service. */
  current_webauthn: z.unknown().optional(),
};

const factorProofSchema = z.object(factorProofFields).strict();

/** Maps the body fields to a {@link FactorProof}. */
export function toFactorProof(body: {
  current_totp_code?: string | undefined;
  current_webauthn?: unknown;
}): FactorProof {
  return {
    ...(body.current_totp_code !== undefined ? { totpCode: body.current_totp_code } : {}),
    ...(body.current_webauthn !== undefined ? { webauthn: body.current_webauthn } : {}),
  };
}

/**
 * Reads a body that holds only the current-factor fields; an empty body is no proof.
 * @throws LoopgateError E_HTTP_BODY_INVALID
 */
export async function readFactorProof(c: Context): Promise<FactorProof> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (cause) {
    throw new LoopgateError(
      'E_HTTP_BODY_INVALID',
      'The body must be JSON: {"current_totp_code": "123456"} or {"current_webauthn": {…}}.',
      { cause },
    );
  }
  const parsed = factorProofSchema.safeParse(body);
  if (!parsed.success)
    throw new LoopgateError('E_HTTP_BODY_INVALID', describeZodIssues(parsed.error));
  return toFactorProof(parsed.data);
}
