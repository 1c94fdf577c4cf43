import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { LoopgateError } from '../core/errors.js';

const version = 'v1';
const keyBytes = 32;
// NIST SP 800-38D §8.2: a 96-bit IV; random IVs are safe for far more than 2^32 secrets per key.
const ivBytes = 12;
const tagBytes = 16;

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.byteLength !== keyBytes) {
    const got = key instanceof Uint8Array ? `${key.byteLength} bytes` : typeof key;
    throw new LoopgateError(
      'E_TOTP_KEY_INVALID',
      `The TOTP encryption key must be 32 bytes (got ${got}).`,
    );
  }
}

// The additional authenticated data binds a ciphertext to its format version and, when given,
// to the row it belongs to, so one operator's encrypted secret cannot be pasted into another's.
function additionalData(context: string): Buffer {
  return Buffer.from(`loopgate totp secret ${version}\0${context}`, 'utf8');
}

/** Creates a random 32-byte key for {@link encryptTotpSecret}; keep it in the data dir, mode 0600. */
export function createTotpEncryptionKey(): Uint8Array {
  return new Uint8Array(randomBytes(keyBytes));
}

/**
 * Encrypts a TOTP secret for storage with AES-256-GCM (NIST SP 800-38D), a fresh random
 * 96-bit IV each time and a 128-bit tag.
 *
 * @param secret the base32 secret from `createTotpSecret`.
 * @param key 32 bytes (see {@link createTotpEncryptionKey}).
 * @param context optional binding, e.g. the operator id; the same value must be given to
 *   {@link decryptTotpSecret}.
 * @returns `v1.<iv>.<ciphertext>.<tag>`, each part base64url without padding.
 * @throws LoopgateError `E_TOTP_KEY_INVALID` when the key is not 32 bytes.
 */
export function encryptTotpSecret(secret: string, key: Uint8Array, context = ''): string {
  checkKey(key);
  const iv = randomBytes(ivBytes);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: tagBytes });
  cipher.setAAD(additionalData(context));
  const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [version, iv, ciphertext, tag]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

/**
 * Decrypts what {@link encryptTotpSecret} produced.
 *
 * @param encrypted `v1.<iv>.<ciphertext>.<tag>`.
 * @param key the same 32-byte key.
 * @param context the same binding given at encryption, default empty.
 * @returns the base32 secret.
 * @throws LoopgateError `E_TOTP_KEY_INVALID` when the key is not 32 bytes;
 *   `E_TOTP_SECRET_UNREADABLE` when the string is not in this format, names another version,
 *   or fails authentication (wrong key, wrong context, or any byte changed).
 */
export function decryptTotpSecret(encrypted: string, key: Uint8Array, context = ''): string {
  checkKey(key);
  const parts = typeof encrypted === 'string' ? encrypted.split('.') : [];
  const [ver, ivText, ciphertextText, tagText] = parts;
  if (parts.length !== 4 || ver !== version || !ivText || !ciphertextText || !tagText) {
    const got = parts.length === 4 ? `version "${ver}"` : `${parts.length} dot-separated parts`;
    throw new LoopgateError(
      'E_TOTP_SECRET_UNREADABLE',
      `A stored TOTP secret is not in the v1.<iv>.<ciphertext>.<tag> form (got ${got}).`,
    );
  }
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (iv.byteLength !== ivBytes || tag.byteLength !== tagBytes) {
    throw new LoopgateError(
      'E_TOTP_SECRET_UNREADABLE',
      `A stored TOTP secret has a ${iv.byteLength}-byte IV and a ${tag.byteLength}-byte tag; expected 12 and 16.`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: tagBytes });
    decipher.setAAD(additionalData(context));
    decipher.setAuthTag(tag);
    return Buffer.concat([
      decipher.update(Buffer.from(ciphertextText, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  } catch (cause) {
    throw new LoopgateError(
      'E_TOTP_SECRET_UNREADABLE',
      'A stored TOTP secret failed authentication: the key in the data dir is not the one it was encrypted with, or the stored value was changed. Re-enrol the operator.',
      { cause },
    );
  }
}
