import { Secret, TOTP, URI } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { generateTotpCode, verifyTotpCode } from './totpCode.js';
import { buildTotpUri, createTotpSecret } from './totpSecret.js';

describe('createTotpSecret', () => {
  it('makes 160-bit secrets in unpadded base32, never the same twice', () => {
    const secrets = Array.from({ length: 200 }, () => createTotpSecret());
    for (const s of secrets) {
      expect(s).toMatch(/^[A-Z2-7]{32}$/);
      expect(new Uint8Array(Secret.fromBase32(s).buffer).byteLength * 8).toBeGreaterThanOrEqual(
        160,
      );
    }
    expect(new Set(secrets).size).toBe(secrets.length);
  });
});

describe('buildTotpUri', () => {
  it('gives an otpauth URI with the issuer, account, SHA-1, 6 digits and 30 s', () => {
    const secret = createTotpSecret();
    const uri = buildTotpUri({ secret, account: 'alice', issuer: 'loopgate' });
    expect(uri.startsWith('otpauth://totp/loopgate:alice?')).toBe(true);
    const params = new URL(uri).searchParams;
    expect(params.get('secret')).toBe(secret);
    expect(params.get('issuer')).toBe('loopgate');
    expect(params.get('algorithm')).toBe('SHA1');
    expect(params.get('digits')).toBe('6');
    expect(params.get('period')).toBe('30');
  });

  it('defaults the issuer to loopgate and escapes odd account names', () => {
    const uri = buildTotpUri({ secret: createTotpSecret(), account: 'finance lead/ops' });
    const parsed = URI.parse(uri);
    expect(parsed.issuer).toBe('loopgate');
    expect(parsed.label).toBe('finance lead/ops');
  });

  it('enrols an app whose codes verifyTotpCode accepts', () => {
    const secret = createTotpSecret();
    const app = URI.parse(buildTotpUri({ secret, account: 'alice' }));
    expect(app).toBeInstanceOf(TOTP);
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    const shown = (app as TOTP).generate({ timestamp: now });
    expect(shown).toBe(generateTotpCode({ secret, now }));
    expect(verifyTotpCode({ secret, code: shown, now, lastUsedStep: null }).ok).toBe(true);
  });

  it('refuses a secret that is not base32', () => {
    expect(() => buildTotpUri({ secret: 'nope!', account: 'alice' })).toThrow();
  });
});
