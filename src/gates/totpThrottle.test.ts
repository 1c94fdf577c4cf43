import { describe, expect, it } from 'vitest';
import { computeTotpTimeStep, generateTotpCode, verifyTotpCode } from './totpCode.js';
import {
  applyTotpAttempt,
  attemptTotpCode,
  createTotpThrottleState,
  describeTotpRefusal,
  unlockTotp,
  type TotpAttempt,
  type TotpThrottleState,
} from './totpThrottle.js';

const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const now = Date.UTC(2026, 10, 20, 10, 0, 15);
const step = computeTotpTimeStep(now);
const validCodes = new Set([-1, 0, 1].map((o) => generateTotpCode({ secret, timeStep: step + o })));
const validCode = generateTotpCode({ secret, now });

/** Distinct 6-digit guesses none of which is valid at `now`. */
function wrongGuesses(count: number): string[] {
  const guesses: string[] = [];
  for (let i = 0; guesses.length < count; i++) {
    const guess = String(i).padStart(6, '0');
    if (!validCodes.has(guess)) guesses.push(guess);
  }
  return guesses;
}

function attemptAll(
  codes: string[],
  start: TotpThrottleState = createTotpThrottleState(),
): TotpAttempt[] {
  let state = start;
  return codes.map((code) => {
    const attempt = attemptTotpCode({ secret, code, now, state });
    state = attempt.state;
    return attempt;
  });
}

describe('applyTotpAttempt', () => {
  it('accepts a valid code, records its time step and resets the counters', () => {
    const [a, b, c] = attemptAll([...wrongGuesses(2), validCode]);
    expect(a!.outcome).toBe('refused');
    expect(b!.state.consecutiveFailures).toBe(2);
    expect(c).toEqual({
      state: { consecutiveFailures: 0, failuresOnRequest: 0, lockedAt: null, lastUsedStep: step },
      outcome: 'accepted',
      reason: null,
      timeStep: step,
    });
  });

  it('voids the request at hand on the 5th failure and starts its count again', () => {
    const attempts = attemptAll(wrongGuesses(6));
    expect(attempts.map((a) => a.outcome)).toEqual([
      'refused',
      'refused',
      'refused',
      'refused',
      'request_voided',
      'refused',
    ]);
    expect(attempts[4]!.state).toMatchObject({
      consecutiveFailures: 5,
      failuresOnRequest: 0,
      lockedAt: null,
    });
    expect(attempts[5]!.state).toMatchObject({ consecutiveFailures: 6, failuresOnRequest: 1 });
  });

  it('locks on the 10th consecutive failure and then refuses even the right code', () => {
    const attempts = attemptAll([...wrongGuesses(10), validCode]);
    expect(attempts.map((a) => a.outcome)).toEqual([
      ...Array<string>(4).fill('refused'),
      'request_voided',
      ...Array<string>(4).fill('refused'),
      'locked',
      'locked',
    ]);
    const locked = attempts[9]!.state;
    expect(locked.lockedAt).toBe(now);
    expect(attempts[10]!.state).toEqual(locked);
    expect(attempts[10]!.timeStep).toBeNull();
  });

  it('does not lock when a good code comes between failures (the count is consecutive)', () => {
    const later = generateTotpCode({ secret, timeStep: step + 1 });
    const attempts = attemptAll([
      ...wrongGuesses(4),
      validCode,
      ...wrongGuesses(9).slice(4),
      later,
    ]);
    expect(attempts.map((a) => a.outcome)).not.toContain('locked');
    expect(attempts.at(-1)!.outcome).toBe('accepted');
  });

  it('refuses a malformed code without counting it', () => {
    const [attempt] = attemptAll(['12ab56']);
    expect(attempt).toMatchObject({
      outcome: 'refused',
      reason: 'malformed',
      state: createTotpThrottleState(),
    });
  });

  it('counts a replayed code as a failure', () => {
    const [, replay] = attemptAll([validCode, validCode]);
    expect(replay).toMatchObject({ outcome: 'refused', reason: 'replayed' });
    expect(replay!.state).toMatchObject({ consecutiveFailures: 1, lastUsedStep: step });
  });

  it('refuses a result verified against a stale row (time step not newer) as replayed', () => {
    const state = { ...createTotpThrottleState(), lastUsedStep: step };
    const attempt = applyTotpAttempt(state, { ok: true, timeStep: step }, now);
    expect(attempt).toMatchObject({ outcome: 'refused', reason: 'replayed' });
  });

  it('accepts exactly one of 100 parallel submissions of one code', () => {
    // Each submission verifies against the row as it read it; the store serialises the writes.
    const initial = createTotpThrottleState();
    const results = Array.from({ length: 100 }, () =>
      verifyTotpCode({ secret, code: validCode, now, lastUsedStep: initial.lastUsedStep }),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    let state = initial;
    let accepted = 0;
    for (const result of results) {
      const attempt = applyTotpAttempt(state, result, now);
      if (attempt.outcome === 'accepted') accepted++;
      state = attempt.state;
    }
    expect(accepted).toBe(1);
  });

  it('gives 0 of 10,000 guesses, the right code among them, and locks at the 10th', () => {
    const guesses = wrongGuesses(10_000);
    guesses[500] = validCode;
    const attempts = attemptAll(guesses);
    expect(attempts.filter((a) => a.outcome === 'accepted')).toHaveLength(0);
    expect(attempts.findIndex((a) => a.outcome === 'locked')).toBe(9);
    expect(attempts[500]!.outcome).toBe('locked');
    expect(attempts.at(-1)!.state.lockedAt).not.toBeNull();
  });
});

describe('unlockTotp', () => {
  it('lets the operator in again after an admin unlocks, and keeps used codes used', () => {
    const used = attemptAll([validCode]);
    const lockedState = attemptAll(wrongGuesses(10), used[0]!.state).at(-1)!.state;
    expect(lockedState.lockedAt).not.toBeNull();
    const unlocked = unlockTotp(lockedState);
    expect(unlocked).toEqual({
      consecutiveFailures: 0,
      failuresOnRequest: 0,
      lockedAt: null,
      lastUsedStep: step,
    });
    expect(attemptTotpCode({ secret, code: validCode, now, state: unlocked }).outcome).toBe(
      'refused',
    );
    const next = generateTotpCode({ secret, timeStep: step + 1 });
    expect(attemptTotpCode({ secret, code: next, now, state: unlocked }).outcome).toBe('accepted');
  });
});

describe('describeTotpRefusal', () => {
  it('maps each refusal to its error code with what to do next', () => {
    const [wrong] = attemptAll(wrongGuesses(1));
    expect(describeTotpRefusal(wrong!)).toMatchObject({
      code: 'E_TOTP_CODE_INVALID',
      message: expect.stringContaining('4 tries left'),
    });
    const [malformed] = attemptAll(['12']);
    expect(describeTotpRefusal(malformed!)?.code).toBe('E_TOTP_CODE_MALFORMED');
    const [, replayed] = attemptAll([validCode, validCode]);
    expect(describeTotpRefusal(replayed!)?.code).toBe('E_TOTP_REPLAYED');
    const voided = attemptAll(wrongGuesses(5))[4]!;
    expect(describeTotpRefusal(voided)).toMatchObject({
      code: 'E_TOTP_REQUEST_VOIDED',
      message: expect.stringContaining('5 more wrong codes'),
    });
    const locked = attemptAll(wrongGuesses(10))[9]!;
    expect(describeTotpRefusal(locked)).toMatchObject({
      code: 'E_TOTP_LOCKED',
      message: expect.stringContaining('admin'),
    });
    const [accepted] = attemptAll([validCode]);
    expect(describeTotpRefusal(accepted!)).toBeNull();
  });
});
