import { describe, expect, it } from 'vitest';
import { isLoopgateError } from '../core/errors.js';
import { createTotpSecret } from './totpSecret.js';
import {
  createTotpEncryptionKey,
  decryptTotpSecret,
  encryptTotpSecret,
} from './totpSecretEncryption.js';

const key = createTotpEncryptionKey();
const secret = createTotpSecret();

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isLoopgateError(err) ? err.code : `not a LoopgateError: ${String(err)}`;
  }
  return undefined;
}

/** Flips one bit of one byte of part `index` (1 = IV, 2 = ciphertext, 3 = tag). */
function tamper(encrypted: string, index: number): string {
  const parts = encrypted.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('encryptTotpSecret / decryptTotpSecret', () => {
  it('round-trips, in a versioned form that does not contain the secret', () => {
    const encrypted = encryptTotpSecret(secret, key, 'op_1');
    expect(encrypted).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(encrypted).not.toContain(secret);
    expect(decryptTotpSecret(encrypted, key, 'op_1')).toBe(secret);
  });

  it('uses a fresh IV each time', () => {
    expect(encryptTotpSecret(secret, key)).not.toBe(encryptTotpSecret(secret, key));
  });

  it('refuses the wrong key', () => {
    const encrypted = encryptTotpSecret(secret, key);
    expect(codeOf(() => decryptTotpSecret(encrypted, createTotpEncryptionKey()))).toBe(
      'E_TOTP_SECRET_UNREADABLE',
    );
  });

  it('refuses a changed IV, ciphertext or tag', () => {
    const encrypted = encryptTotpSecret(secret, key);
    for (const index of [1, 2, 3]) {
      expect(codeOf(() => decryptTotpSecret(tamper(encrypted, index), key))).toBe(
        'E_TOTP_SECRET_UNREADABLE',
      );
    }
  });

  it("refuses another operator's row (context binding)", () => {
    const encrypted = encryptTotpSecret(secret, key, 'op_1');
    expect(codeOf(() => decryptTotpSecret(encrypted, key, 'op_2'))).toBe(
      'E_TOTP_SECRET_UNREADABLE',
    );
  });

  it('refuses an unknown version and strings that are not in the format', () => {
    const encrypted = encryptTotpSecret(secret, key);
    for (const bad of [
      encrypted.replace(/^v1/, 'v2'),
      'plain',
      '',
      'v1.a.b',
      `${encrypted}.x`,
      'v1.AAAA.AAAA.AAAA',
    ]) {
      expect(
        codeOf(() => decryptTotpSecret(bad, key)),
        bad,
      ).toBe('E_TOTP_SECRET_UNREADABLE');
    }
  });

  it('refuses a key that is not 32 bytes, both ways', () => {
    const short = new Uint8Array(16);
    expect(codeOf(() => encryptTotpSecret(secret, short))).toBe('E_TOTP_KEY_INVALID');
    expect(codeOf(() => decryptTotpSecret(encryptTotpSecret(secret, key), short))).toBe(
      'E_TOTP_KEY_INVALID',
    );
  });
});
