import { createHash, randomBytes } from 'node:crypto';
import type { Validation } from '../../core/errors.js';

/** Random bytes in a confirm token: 256 bits, twice the 128 the issue asks as a floor. */
export const CONFIRM_TOKEN_BYTES = 32;

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Creates the single-use token carried by an email's confirm link: 32 random bytes from the
 * CSPRNG, base64url without padding (RFC 4648 §5), 43 characters. Store only
 * {@link hashConfirmToken}'s output, with the request's expiry; the token itself lives only in
 * the mail.
 */
export function createConfirmToken(): string {
  return randomBytes(CONFIRM_TOKEN_BYTES).toString('base64url');
}

/**
 * The value to store and look a token up by: lowercase hex SHA-256 of the token's ASCII text.
 * A plain hash suffices because the token has 256 bits of entropy (no guessing to slow down),
 * and a database leak then yields no usable link.
 */
export function hashConfirmToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Checks that an untrusted value (query or form field) has the shape of a confirm token before
 * it is hashed and looked up. Refusals of unknown, used or expired tokens should use the same
 * code, `E_EMAIL_CONFIRM_TOKEN_INVALID`, so the answer reveals nothing about which it was.
 */
export function parseConfirmToken(value: unknown): Validation<string> {
  if (typeof value !== 'string' || !TOKEN_PATTERN.test(value)) {
    return {
      ok: false,
      code: 'E_EMAIL_CONFIRM_TOKEN_INVALID',
      message: 'The confirm token must be 43 base64url characters, as in the emailed link.',
    };
  }
  return { ok: true, value };
}
