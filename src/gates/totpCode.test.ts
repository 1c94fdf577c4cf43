import { Secret } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { computeTotpTimeStep, generateTotpCode, verifyTotpCode } from './totpCode.js';
import type { TotpAlgorithm } from './totpSecret.js';

// RFC 6238 Appendix B: the seeds are the ASCII digits repeated to the hash's length.
const seeds: Record<TotpAlgorithm, string> = {
  SHA1: Secret.fromLatin1('12345678901234567890').base32,
  SHA256: Secret.fromLatin1('12345678901234567890123456789012').base32,
  SHA512: Secret.fromLatin1('1234567890123456789012345678901234567890123456789012345678901234')
    .base32,
};

// RFC 6238 Appendix B, the table of test values: time (s), then the 8-digit TOTP per algorithm.
const vectors: [number, Record<TotpAlgorithm, string>][] = [
  [59, { SHA1: '94287082', SHA256: '46119246', SHA512: '90693936' }],
  [1111111109, { SHA1: '07081804', SHA256: '68084774', SHA512: '25091201' }],
  [1111111111, { SHA1: '14050471', SHA256: '67062674', SHA512: '99943326' }],
  [1234567890, { SHA1: '89005924', SHA256: '91819424', SHA512: '93441116' }],
  [2000000000, { SHA1: '69279037', SHA256: '90698825', SHA512: '38618901' }],
  [20000000000, { SHA1: '65353130', SHA256: '77737706', SHA512: '47863826' }],
];

const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const now = Date.UTC(2026, 10, 20, 10, 0, 15); // 15 s into a time step

describe('RFC 6238 Appendix B test vectors', () => {
  for (const [seconds, codes] of vectors) {
    for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
      it(`${algorithm} at T=${seconds}s gives ${codes[algorithm]} and verifies`, () => {
        const input = { secret: seeds[algorithm], now: seconds * 1000, algorithm, digits: 8 };
        expect(generateTotpCode(input)).toBe(codes[algorithm]);
        expect(verifyTotpCode({ ...input, code: codes[algorithm], lastUsedStep: null })).toEqual({
          ok: true,
          timeStep: Math.floor(seconds / 30),
        });
      });
    }
  }
});

describe('verifyTotpCode window', () => {
  it('accepts codes from −1, 0 and +1 time steps and refuses −5…−2 and +2…+5', () => {
    const current = computeTotpTimeStep(now);
    const accepted: number[] = [];
    for (let offset = -5; offset <= 5; offset++) {
      const code = generateTotpCode({ secret, timeStep: current + offset });
      const result = verifyTotpCode({ secret, code, now, lastUsedStep: null });
      if (result.ok) {
        accepted.push(offset);
        expect(result.timeStep).toBe(current + offset);
      } else {
        expect(result.reason).toBe('wrong');
      }
    }
    expect(accepted).toEqual([-1, 0, 1]);
  });

  it('uses 30-second steps: the code of 10:00:00 still works at 10:00:59 but not at 10:01:30', () => {
    const at = Date.UTC(2026, 10, 20, 10, 0, 0);
    const code = generateTotpCode({ secret, now: at });
    expect(verifyTotpCode({ secret, code, now: at + 59_000, lastUsedStep: null }).ok).toBe(true);
    expect(verifyTotpCode({ secret, code, now: at + 90_000, lastUsedStep: null })).toEqual({
      ok: false,
      reason: 'wrong',
    });
  });
});

describe('verifyTotpCode replay', () => {
  it('refuses the same code a second time', () => {
    const code = generateTotpCode({ secret, now });
    const first = verifyTotpCode({ secret, code, now, lastUsedStep: null });
    expect(first.ok).toBe(true);
    const lastUsedStep = first.ok ? first.timeStep : null;
    expect(verifyTotpCode({ secret, code, now: now + 5_000, lastUsedStep })).toEqual({
      ok: false,
      reason: 'replayed',
    });
  });

  it('refuses code(T−1) after code(T) was used, and accepts code(T+1) after it', () => {
    const current = computeTotpTimeStep(now);
    const used = verifyTotpCode({
      secret,
      code: generateTotpCode({ secret, timeStep: current }),
      now,
      lastUsedStep: null,
    });
    expect(used).toEqual({ ok: true, timeStep: current });
    const older = generateTotpCode({ secret, timeStep: current - 1 });
    expect(verifyTotpCode({ secret, code: older, now, lastUsedStep: current })).toEqual({
      ok: false,
      reason: 'replayed',
    });
    const newer = generateTotpCode({ secret, timeStep: current + 1 });
    expect(verifyTotpCode({ secret, code: newer, now, lastUsedStep: current })).toEqual({
      ok: true,
      timeStep: current + 1,
    });
  });

  it('keeps refusing after the last used step went through storage (a restart)', () => {
    const code = generateTotpCode({ secret, now });
    const first = verifyTotpCode({ secret, code, now, lastUsedStep: null });
    const row = JSON.parse(JSON.stringify({ lastUsedStep: first.ok ? first.timeStep : null })) as {
      lastUsedStep: number | null;
    };
    expect(verifyTotpCode({ secret, code, now, lastUsedStep: row.lastUsedStep })).toEqual({
      ok: false,
      reason: 'replayed',
    });
  });
});

describe('verifyTotpCode input', () => {
  it('ignores the space authenticator apps show in the middle', () => {
    const code = generateTotpCode({ secret, now });
    expect(
      verifyTotpCode({
        secret,
        code: ` ${code.slice(0, 3)} ${code.slice(3)} `,
        now,
        lastUsedStep: null,
      }).ok,
    ).toBe(true);
  });

  for (const code of ['', '12345', '1234567', '12a456', '１２３４５６', '-12345', '12345\u0000']) {
    it(`refuses ${JSON.stringify(code)} as malformed`, () => {
      expect(verifyTotpCode({ secret, code, now, lastUsedStep: null })).toEqual({
        ok: false,
        reason: 'malformed',
      });
    });
  }

  it('refuses a non-string code as malformed (an untyped HTTP body)', () => {
    const code = 123456 as unknown as string;
    expect(verifyTotpCode({ secret, code, now, lastUsedStep: null })).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('refuses a well-formed wrong code as wrong', () => {
    const valid = new Set(
      [-1, 0, 1].map((o) => generateTotpCode({ secret, timeStep: computeTotpTimeStep(now) + o })),
    );
    const wrong = ['000000', '111111', '222222'].find((c) => !valid.has(c))!;
    expect(verifyTotpCode({ secret, code: wrong, now, lastUsedStep: null })).toEqual({
      ok: false,
      reason: 'wrong',
    });
  });

  it('throws on a secret that is not base32 (a corrupt row, not a user error)', () => {
    expect(() =>
      verifyTotpCode({ secret: 'not base32!', code: '123456', now, lastUsedStep: null }),
    ).toThrow();
  });
});
