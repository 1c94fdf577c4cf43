import type { ErrorCode } from '../core/errorCodes.js';
import {
  verifyTotpCode,
  type TotpFailureReason,
  type TotpOptions,
  type TotpVerification,
} from './totpCode.js';

/**
 * Per-operator TOTP state, one store row per operator. Updated only through
 * {@link applyTotpAttempt}, inside the transaction that reads it, so that parallel
 * submissions of one code accept exactly one.
 */
export type TotpThrottleState = {
  /** Refused codes since the last accepted one, across all requests and sessions. */
  consecutiveFailures: number;
  /**
   * Refused codes towards voiding the request at hand. Counted per operator, not per request,
   * so moving to another request does not reset it; reset by an accepted code or a void.
   */
  failuresOnRequest: number;
  /** When the TOTP was locked, in ms since the epoch, or null. Only an admin's unlock clears it. */
  lockedAt: number | null;
  /** RFC 6238 time step of the last accepted code, or null before the first. */
  lastUsedStep: number | null;
};

/**
 * What the attempt means for the request at hand:
 * - `accepted`: the code counts; the decision may proceed.
 * - `refused`: this code does not count; the human may try again.
 * - `request_voided`: the 5th refused code; void (reject) the request at hand.
 * - `locked`: the operator's TOTP is locked (now, or already was); void the request at hand
 *   and accept no code from this operator until an admin calls {@link unlockTotp}.
 */
export type TotpAttemptOutcome = 'accepted' | 'refused' | 'request_voided' | 'locked';

/** The result of {@link applyTotpAttempt}: the state to write back and what to do. */
export type TotpAttempt = {
  state: TotpThrottleState;
  outcome: TotpAttemptOutcome;
  /** Why the code was refused (for the audit log), or null when accepted or not checked. */
  reason: TotpFailureReason | null;
  /** The accepted code's time step, or null. */
  timeStep: number | null;
};

/** The thresholds of issue 3: 5 refused codes void the request, 10 in a row lock the TOTP. */
export const totpThrottleLimits = { voidRequestAfter: 5, lockAfter: 10 } as const;

/** The state of an operator who has just enrolled. */
export function createTotpThrottleState(): TotpThrottleState {
  return { consecutiveFailures: 0, failuresOnRequest: 0, lockedAt: null, lastUsedStep: null };
}

/**
 * Applies one verification result to the operator's state. Pure; the caller writes the
 * returned state back in the same transaction it read `state` in.
 *
 * - A locked TOTP refuses everything with `locked` and leaves the state as it is.
 * - An accepted code resets both counters and becomes the last used step. A result whose
 *   step is not newer than `state.lastUsedStep` (verified against a stale row by a parallel
 *   submission) counts as `replayed`.
 * - `wrong` and `replayed` codes count as failures; `malformed` input (not 6 digits) is
 *   refused but not counted, as it tests nothing about the secret.
 * - The 10th consecutive failure locks (`locked`); otherwise the 5th failure on the request
 *   at hand voids it (`request_voided`) and starts the count again.
 *
 * @param now when the attempt happened (ms since the epoch or a Date), for `lockedAt`.
 */
export function applyTotpAttempt(
  state: TotpThrottleState,
  result: TotpVerification,
  now: number | Date = Date.now(),
): TotpAttempt {
  if (state.lockedAt !== null) return { state, outcome: 'locked', reason: null, timeStep: null };

  let reason: TotpFailureReason;
  if (result.ok) {
    if (state.lastUsedStep === null || result.timeStep > state.lastUsedStep) {
      return {
        state: {
          consecutiveFailures: 0,
          failuresOnRequest: 0,
          lockedAt: null,
          lastUsedStep: result.timeStep,
        },
        outcome: 'accepted',
        reason: null,
        timeStep: result.timeStep,
      };
    }
    reason = 'replayed';
  } else {
    reason = result.reason;
  }
  if (reason === 'malformed') return { state, outcome: 'refused', reason, timeStep: null };

  const consecutiveFailures = state.consecutiveFailures + 1;
  const failuresOnRequest = state.failuresOnRequest + 1;
  if (consecutiveFailures >= totpThrottleLimits.lockAfter) {
    const lockedAt = typeof now === 'number' ? now : now.getTime();
    return {
      state: { ...state, consecutiveFailures, failuresOnRequest: 0, lockedAt },
      outcome: 'locked',
      reason,
      timeStep: null,
    };
  }
  if (failuresOnRequest >= totpThrottleLimits.voidRequestAfter) {
    return {
      state: { ...state, consecutiveFailures, failuresOnRequest: 0 },
      outcome: 'request_voided',
      reason,
      timeStep: null,
    };
  }
  return {
    state: { ...state, consecutiveFailures, failuresOnRequest },
    outcome: 'refused',
    reason,
    timeStep: null,
  };
}

/**
 * Verifies a code against the operator's state and applies the throttle in one step:
 * {@link verifyTotpCode} with `state.lastUsedStep`, then {@link applyTotpAttempt}. A locked
 * TOTP is refused without looking at the code.
 *
 * @throws TypeError when `secret` is not base32.
 */
export function attemptTotpCode(
  input: {
    secret: string;
    code: string;
    state: TotpThrottleState;
    now?: number | Date;
  } & TotpOptions,
): TotpAttempt {
  const now = input.now ?? Date.now();
  if (input.state.lockedAt !== null)
    return applyTotpAttempt(input.state, { ok: false, reason: 'wrong' }, now);
  const { state, ...verifyInput } = input;
  const result = verifyTotpCode({ ...verifyInput, now, lastUsedStep: state.lastUsedStep });
  return applyTotpAttempt(state, result, now);
}

/**
 * An admin's unlock: clears the lock and both failure counters; keeps the last used step so
 * codes used before the lock stay used.
 */
export function unlockTotp(state: TotpThrottleState): TotpThrottleState {
  return { ...state, consecutiveFailures: 0, failuresOnRequest: 0, lockedAt: null };
}

/**
 * The error code and a message saying what to do next, for an attempt that was not
 * accepted; null for an accepted one. Throw it as `new LoopgateError(code, message)` or show
 * it on the approval page next to the **Authenticator code** field.
 */
export function describeTotpRefusal(
  attempt: TotpAttempt,
): { code: ErrorCode; message: string } | null {
  const { outcome, reason, state } = attempt;
  if (outcome === 'accepted') return null;
  if (outcome === 'locked') {
    return {
      code: 'E_TOTP_LOCKED',
      message: `This operator's authenticator is locked after ${totpThrottleLimits.lockAfter} wrong codes in a row; the request at hand is void. An admin must unlock it before any code is accepted.`,
    };
  }
  const untilLock = totpThrottleLimits.lockAfter - state.consecutiveFailures;
  if (outcome === 'request_voided') {
    return {
      code: 'E_TOTP_REQUEST_VOIDED',
      message: `${totpThrottleLimits.voidRequestAfter} wrong authenticator codes: this request is void and the agent must ask again. ${untilLock} more wrong codes in a row lock the authenticator.`,
    };
  }
  const triesLeft = totpThrottleLimits.voidRequestAfter - state.failuresOnRequest;
  if (reason === 'malformed') {
    return {
      code: 'E_TOTP_CODE_MALFORMED',
      message:
        'The authenticator code must be the 6 digits your authenticator app shows for loopgate.',
    };
  }
  if (reason === 'replayed') {
    return {
      code: 'E_TOTP_REPLAYED',
      message: `That authenticator code was used already; each code works once. Wait for the next code (at most 30 s) and type it. ${triesLeft} tries left on this request.`,
    };
  }
  return {
    code: 'E_TOTP_CODE_INVALID',
    message: `That authenticator code is wrong. Type the code the app shows now and check the phone's clock is set automatically. ${triesLeft} tries left on this request.`,
  };
}
