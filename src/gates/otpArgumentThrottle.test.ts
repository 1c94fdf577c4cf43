import { describe, expect, it } from 'vitest';
import {
  claimOtpArgumentAttempt,
  clearOtpArgumentThrottle,
  type OtpArgumentThrottleState,
} from './otpArgumentThrottle.js';

const t0 = Date.UTC(2026, 10, 20, 12, 0, 0);

describe('claimOtpArgumentAttempt', () => {
  it('checks 10 codes in a row, then makes the caller wait 1, 2, 4 … minutes, at most a day', () => {
    let state: OtpArgumentThrottleState = clearOtpArgumentThrottle();
    for (let i = 1; i <= 9; i++) {
      const claim = claimOtpArgumentAttempt(state, t0);
      expect(claim).toMatchObject({ ok: true, failuresLeft: 9 - i, state: { blockedUntil: null } });
      state = claim.state;
    }
    const tenth = claimOtpArgumentAttempt(state, t0);
    expect(tenth).toMatchObject({
      ok: true,
      state: { consecutiveFailures: 10, blockedUntil: t0 + 60_000 },
    });
    expect(claimOtpArgumentAttempt(tenth.state, t0 + 59_999)).toEqual({
      ok: false,
      state: tenth.state,
      blockedUntil: t0 + 60_000,
    });
    const eleventh = claimOtpArgumentAttempt(tenth.state, t0 + 60_000);
    expect(eleventh.state.blockedUntil).toBe(t0 + 60_000 + 120_000);
    const late = claimOtpArgumentAttempt({ consecutiveFailures: 60, blockedUntil: null }, t0);
    expect(late.state.blockedUntil).toBe(t0 + 86_400_000);
  });
});
