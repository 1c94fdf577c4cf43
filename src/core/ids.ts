import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A random identifier: `prefix` + `_` + base64url of `bytes` random bytes (default 16 = 128 bits). */
export function createId(prefix: string, bytes = 16): string {
  return `${prefix}_${randomBytes(bytes).toString('base64url')}`;
}

/** A random secret token (256 bits, base64url) for sign-in links, sessions and keys. */
export function createSecretToken(prefix = ''): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** Lowercase hex SHA-256 of a high-entropy secret; what the store keeps instead of the secret. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
