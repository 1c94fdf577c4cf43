import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createConfirmToken, hashConfirmToken, parseConfirmToken } from './confirmToken.js';

describe('confirm tokens', () => {
  it('are 256-bit base64url strings that never repeat', () => {
    const tokens = new Set(Array.from({ length: 2000 }, () => createConfirmToken()));
    expect(tokens.size).toBe(2000);
    for (const token of [...tokens].slice(0, 50)) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    }
  });

  it('are stored as their SHA-256, which does not reveal the token', () => {
    const token = createConfirmToken();
    const hash = hashConfirmToken(token);
    expect(hash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(hash).not.toContain(token);
    expect(hashConfirmToken(createConfirmToken())).not.toBe(hash);
  });

  it('accepts only the token shape, refusing anything else with one code', () => {
    const token = createConfirmToken();
    expect(parseConfirmToken(token)).toEqual({ ok: true, value: token });
    for (const bad of [
      undefined,
      null,
      42,
      '',
      token.slice(1),
      token + 'A',
      token.slice(0, 42) + '=',
      token.slice(0, 42) + '/',
      `${token}\n`,
    ]) {
      expect(parseConfirmToken(bad)).toMatchObject({
        ok: false,
        code: 'E_EMAIL_CONFIRM_TOKEN_INVALID',
      });
    }
  });
});
