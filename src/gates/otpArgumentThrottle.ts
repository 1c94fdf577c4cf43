/**
 * The throttle on `otp` tool arguments (the mcp-hitl pattern), kept per caller — a gateway key,
 * or the in-process gateway's agent — and never on the operator whose authenticator the code
 * is checked against: a caller that sends wrong codes slows itself down, never locks the human
 * out of their own step-up or voids their pending request.
 *
 * Every attempt is counted as a failure *before* the code is checked (and the count cleared
 * when it is accepted), so parallel attempts cannot slip past the limit.
 */

/** A caller's state: refused codes in a row, and until when (ms) no code is checked. */
export type OtpArgumentThrottleState = {
  consecutiveFailures: number;
  blockedUntil: number | null;
};

/**
 * From the 10th refused code in a row the caller waits 1 minute before the next check, then
 * twice as long after each further refusal, up to a day: at most a handful of guesses a day
 * against the 3 codes (RFC 6238 ±1 step) of a million that would pass.
 */
export const otpArgumentThrottleLimits = {
  freeFailures: 9,
  firstBlockMs: 60_000,
  maxBlockMs: 86_400_000,
} as const;

/** The outcome of {@link claimOtpArgumentAttempt}. */
export type OtpArgumentClaim =
  | { ok: true; state: OtpArgumentThrottleState; failuresLeft: number }
  | { ok: false; state: OtpArgumentThrottleState; blockedUntil: number };

/**
 * Claims one attempt at `now` (ms): refused while the caller is blocked (the state unchanged);
 * else counted as a failure up front, with the block that follows it should the code be
 * wrong. `failuresLeft` is how many more refused codes are free of any wait.
 */
export function claimOtpArgumentAttempt(
  state: OtpArgumentThrottleState,
  now: number,
): OtpArgumentClaim {
  if (state.blockedUntil !== null && state.blockedUntil > now) {
    return { ok: false, state, blockedUntil: state.blockedUntil };
  }
  const failures = state.consecutiveFailures + 1;
  const over = failures - otpArgumentThrottleLimits.freeFailures;
  const blockMs =
    over <= 0
      ? 0
      : Math.min(
          otpArgumentThrottleLimits.maxBlockMs,
          otpArgumentThrottleLimits.firstBlockMs * 2 ** Math.min(over - 1, 30),
        );
  return {
    ok: true,
    state: { consecutiveFailures: failures, blockedUntil: blockMs > 0 ? now + blockMs : null },
    failuresLeft: Math.max(0, otpArgumentThrottleLimits.freeFailures - failures),
  };
}

/** The state after an accepted code: nothing counted, nothing blocked. */
export function clearOtpArgumentThrottle(): OtpArgumentThrottleState {
  return { consecutiveFailures: 0, blockedUntil: null };
}
